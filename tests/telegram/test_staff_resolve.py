"""Admins resolve parked records in the chat (/resolve, the card's button) and set daily limits."""

from __future__ import annotations

import json

import pytest

from bot.services.staff import ADMINS_ONLY
from bot.services.staff import REFUSAL
from bot.telegram import staff_texts
from bot.telegram import texts
from models import CallbackKind
from models import DarajaQuery
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import Staff
from mpesa.errors import OutcomeUnknown
from tests.helpers.b2c import status_result
from tests.helpers.stk import stk_callback_body
from tests.helpers.stk import stk_query_answer
from tests.helpers.telegram import ADMIN_ID
from tests.helpers.telegram import CASHIER_ID
from tests.helpers.telegram import STRANGER_ID
from tests.helpers.telegram import World

PHONE = "0708374149"


def buttons(call) -> list[tuple[str, str]]:
    markup = call.params.get("reply_markup") or {}
    return [
        (b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row
    ]


async def reviewed(world: World) -> Payment:
    """A KES 150 order paid with KES 1 (callback), shown on the cashier's card."""
    order = await Order.create(code="HP22222222", amount=150, description="Sufuria")
    payment = await world.services.payments.request_payment(
        PHONE, None, initiator=None, actor="tg:2002", order=order, chat_id=CASHIER_ID
    )
    body = json.dumps(stk_callback_body(payment.checkout_request_id, amount=1)).encode()
    await world.services.callbacks.ingest(CallbackKind.STK, body, "1.2.3.4")
    return await Payment.get(id=payment.id)


async def test_the_review_card_offers_resolve_and_only_an_admin_can_use_it(world: World) -> None:
    payment = await reviewed(world)
    shown = await world.h.send(CASHIER_ID, f"/status #{payment.id}")
    assert "✅ Paid" not in world.h.texts(shown)[0]
    assert buttons(shown[-1]) == [("🔎 Resolve (admins)", f"res:look:#{payment.id}")]

    refused = await world.h.press(CASHIER_ID, f"res:look:#{payment.id}", message_id=1)

    assert refused[0].params["text"] == ADMINS_ONLY
    assert refused[0].params["show_alert"] is True
    assert world.daraja.called("stk_query") == []


async def test_an_admin_presses_resolve_then_paid(world: World) -> None:
    payment = await reviewed(world)
    world.daraja.queue("stk_query", stk_query_answer(payment.checkout_request_id, "0"))

    looked = await world.h.press(ADMIN_ID, f"res:look:#{payment.id}", message_id=1)
    [look] = [c for c in looked if c.method == "sendMessage"]
    assert "M-Pesa&#x27;s STK query says: The customer paid." in look.params["text"]
    assert buttons(look) == [
        ("✅ Paid", f"res:paid:#{payment.id}"),
        ("✖️ Not paid", f"res:failed:#{payment.id}"),
        ("Cancel", f"res:cancel:#{payment.id}"),
    ]
    message_id = world.h.last_message(ADMIN_ID)["message_id"]

    decided = await world.h.press(ADMIN_ID, f"res:paid:#{payment.id}", message_id=message_id)

    assert decided[-1].method == "editMessageText"
    assert f"#{payment.id} recorded as paid by" in decided[-1].params["text"]
    stored = await Payment.get(id=payment.id)
    assert (stored.status, stored.resolved_by) == (PaymentStatus.PAID, f"tg:{ADMIN_ID}")
    assert (await Order.get(id=stored.order_id)).status is OrderStatus.PAID


async def test_resolve_with_a_verdict_asks_to_confirm_just_that(world: World) -> None:
    payment = await reviewed(world)
    world.daraja.queue("stk_query", stk_query_answer(payment.checkout_request_id, "0"))

    calls = await world.h.send(ADMIN_ID, f"/resolve #{payment.id} failed")

    assert "Record it as ✖️ Not paid? Press to confirm." in world.h.texts(calls)[0]
    assert buttons(calls[-1]) == [
        ("✖️ Not paid", f"res:failed:#{payment.id}"),
        ("Cancel", f"res:cancel:#{payment.id}"),
    ]
    cancelled = await world.h.press(
        ADMIN_ID, f"res:cancel:#{payment.id}", message_id=calls[-1].result["message_id"]
    )
    assert cancelled[-1].params["text"] == staff_texts.RESOLVE_CANCELLED
    assert (await Payment.get(id=payment.id)).status is PaymentStatus.REVIEW


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/resolve", staff_texts.MISSING_RESOLVE),
        ("/resolve #1 paid now", staff_texts.TOO_MANY_WORDS),
        ("/resolve UKK4Q7M2XB", "UKK4Q7M2XB is not a reference to resolve"),
        ("/resolve P9", "There is no payout P9."),
    ],
)
async def test_resolve_wrong_words(world: World, text: str, reason: str) -> None:
    calls = await world.h.send(ADMIN_ID, text)

    assert reason in world.h.texts(calls)[0]


async def test_resolve_is_for_admins(world: World) -> None:
    assert world.h.texts(await world.h.send(CASHIER_ID, "/resolve #1")) == [
        texts.refusal(ADMINS_ONLY)
    ]
    assert world.h.texts(await world.h.send(STRANGER_ID, "/resolve #1")) == [texts.refusal(REFUSAL)]


async def test_a_payouts_status_answer_comes_back_with_the_decisions(world: World) -> None:
    from datetime import UTC
    from datetime import datetime

    from bot.telegram.chat_channel import TelegramChatChannel
    from models import Notification

    world.daraja.queue("b2c_payment", OutcomeUnknown("read timed out"))
    draft = await world.services.payouts.send_money(
        PHONE, 500, initiator_telegram_id=ADMIN_ID, reason="Refund", chat_id=ADMIN_ID
    )
    payout = await world.services.payouts.confirm_payout(draft.id, by_telegram_id=ADMIN_ID)
    assert payout.status is PayoutStatus.UNKNOWN

    asked = await world.h.send(ADMIN_ID, f"/resolve P{payout.id}")
    assert "The answer and the buttons to decide will appear here." in world.h.texts(asked)[0]
    query = await DarajaQuery.get(payout_id=payout.id, chat_id=ADMIN_ID)
    await world.services.accounts.apply_status_result(
        status_result(
            originator=query.originator_conversation_id,
            conversation=query.conversation_id,
            queried_originator=payout.originator_conversation_id,
            code=2032,
        )
    )
    row = await Notification.get(event_key__startswith=f"query:{query.id}:")
    channel = TelegramChatChannel(world.h.app.bot, world.services, clock=lambda: datetime.now(UTC))
    before = len(world.h.api.calls)
    await channel.deliver(row)

    [answer] = [c for c in world.h.api.calls[before:] if c.method == "sendMessage"]
    assert "Transaction Status could not tell" in answer.params["text"]
    assert buttons(answer)[:2] == [
        ("✅ Sent", f"res:sent:P{payout.id}"),
        ("✖️ Not sent", f"res:failed:P{payout.id}"),
    ]
    await world.h.press(
        ADMIN_ID, f"res:failed:P{payout.id}", message_id=answer.result["message_id"]
    )
    assert (await Payout.get(id=payout.id)).status is PayoutStatus.FAILED


# -- /staff limit ------------------------------------------------------------------------------


async def test_an_admin_sets_a_persons_daily_limit(world: World) -> None:
    calls = await world.h.send(ADMIN_ID, f"/staff limit {CASHIER_ID} 50,000")

    assert world.h.texts(calls) == [
        f"✅ Mary (<code>{CASHIER_ID}</code>) may now send payouts up to KES 50,000 a Nairobi "
        "day (their own limit). It counts from their next confirmation."
    ]
    assert (await Staff.get(telegram_id=CASHIER_ID)).daily_payout_limit == 50_000
    listed = world.h.texts(await world.h.send(ADMIN_ID, "/staff"))[0]
    assert f"<code>{CASHIER_ID}</code> — cashier — payouts up to KES 50,000 a day" in listed

    back = await world.h.send(ADMIN_ID, f"/staff limit {CASHIER_ID} default")
    assert "KES 100,000 a Nairobi day (the default limit" in world.h.texts(back)[0]
    assert (await Staff.get(telegram_id=CASHIER_ID)).daily_payout_limit is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/staff limit 2002", "Give the user id and the daily payout limit in shillings"),
        ("/staff limit 2002 1.5", "1.5 is not a whole number of shillings"),
        ("/staff limit 9999 5000", "No active staff member has the Telegram id 9999."),
    ],
)
async def test_staff_limit_wrong_words(world: World, text: str, reason: str) -> None:
    assert reason in world.h.texts(await world.h.send(ADMIN_ID, text))[0]


async def test_a_cashier_cannot_set_limits(world: World) -> None:
    calls = await world.h.send(CASHIER_ID, f"/staff limit {CASHIER_ID} 999999")

    assert world.h.texts(calls) == [texts.refusal(ADMINS_ONLY)]
    assert (await Staff.get(telegram_id=CASHIER_ID)).daily_payout_limit is None
