"""TelegramChatChannel: each CHAT event rendered from the database and shown on Telegram."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from telegram import Bot

from bot.notify.channels import PermanentDeliveryError
from bot.services.container import build_services
from bot.telegram import customer_texts
from bot.telegram import keyboards
from bot.telegram import staff_texts
from bot.telegram import texts
from bot.telegram.chat_channel import StatusMessagePending
from bot.telegram.chat_channel import TelegramChatChannel
from bot.telegram.transport import InProcessBotApi
from models import DarajaQuery
from models import Notification
from models import NotificationChannel
from models import NotificationStatus
from models import Order
from models import Payment
from models import Payout
from models import PayoutStatus
from models import QueryKind
from models import QueryStatus
from models import Reversal
from models import ReversalStatus
from models import Staff
from models import StaffRole
from tests.helpers.b2c import balance_result
from tests.helpers.clock import Clock
from tests.helpers.fakes import FakeDaraja
from tests.helpers.stk import stk_callback

ADMIN = 1001
CASHIER = 2002
CUSTOMER = 3003
BLOCKED = 6006


class BlockingBotApi(InProcessBotApi):
    """Answers like Telegram, except that one user has blocked the bot (HTTP 403)."""

    async def do_request(self, url: str, method: str, request_data: Any = None, **kwargs: Any):
        params = request_data.parameters if request_data is not None else {}
        if str(params.get("chat_id")) == str(BLOCKED):
            body = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"}
            return 403, json.dumps(body).encode()
        return await super().do_request(url, method, request_data, **kwargs)


@pytest.fixture
async def env(db, settings) -> AsyncIterator[SimpleNamespace]:
    clock = Clock(datetime.now(UTC))
    channel = TelegramChatChannel(clock=clock)
    services = build_services(
        settings, daraja=FakeDaraja(), channels={NotificationChannel.CHAT: channel}
    )
    api = BlockingBotApi()
    bot = Bot("123:TEST", request=api, get_updates_request=InProcessBotApi())
    channel.bind(bot, services)
    cashier = await Staff.create(telegram_id=CASHIER, name="Wanjiku", role=StaffRole.CASHIER)
    async with bot:
        yield SimpleNamespace(
            channel=channel, services=services, api=api, bot=bot, clock=clock, cashier=cashier
        )


def event(chat_id: int, **payload: Any) -> Notification:
    return Notification(
        event_key=f"test:{payload}",
        channel=NotificationChannel.CHAT,
        recipient=str(chat_id),
        payload=payload,
        next_attempt_at=datetime.now(UTC),
    )


def calls_since(env: SimpleNamespace, before: int) -> list[tuple[str, dict[str, Any]]]:
    return [(c.method, c.params) for c in env.api.calls[before:]]


async def shown_payment(env: SimpleNamespace, chat_id: int, **kwargs: Any) -> Payment:
    """A pending payment whose status card the handler has sent and remembered."""
    payment = await env.services.payments.request_payment(
        "0708374149", 150, initiator=None, actor="test", chat_id=chat_id, **kwargs
    )
    message = await env.bot.send_message(chat_id, texts.payment_card(payment), parse_mode="HTML")
    await env.services.payments.set_status_message(payment.id, chat_id, message.message_id)
    return await Payment.get(id=payment.id)


async def pay(env: SimpleNamespace, payment: Payment, amount: int = 150) -> Payment:
    await env.services.payments.apply_stk_callback(
        stk_callback(payment.checkout_request_id, amount=amount)
    )
    return await Payment.get(id=payment.id)


# -- payments -------------------------------------------------------------------------------------


async def test_payment_event_edits_the_status_message_through_the_outbox(env):
    payment = await shown_payment(env, CASHIER)
    paid = await pay(env, payment)
    before = len(env.api.calls)

    await env.services.outbox.run_once()

    row = await Notification.get(recipient=str(CASHIER))
    assert row.status == NotificationStatus.SENT
    assert calls_since(env, before) == [
        (
            "editMessageText",
            {
                "chat_id": CASHIER,
                "message_id": payment.message_id,
                "text": texts.payment_card(paid),
                "parse_mode": "HTML",
            },
        )
    ]
    assert "✅ Paid" in env.api.message(CASHIER, payment.message_id)["text"]


async def test_failed_payment_card_gets_the_retry_button(env):
    payment = await shown_payment(env, CASHIER)
    await env.services.payments.apply_stk_callback(
        stk_callback(payment.checkout_request_id, result_code=1032)
    )
    cancelled = await Payment.get(id=payment.id)
    before = len(env.api.calls)

    await env.channel.deliver(event(CASHIER, event="payment", payment_id=payment.id))

    ((method, params),) = calls_since(env, before)
    assert (method, params["text"]) == ("editMessageText", texts.payment_card(cancelled))
    assert params["reply_markup"] == keyboards.payment_buttons(cancelled).to_dict()
    assert params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == (
        f"pay:retry:{payment.id}"
    )


async def test_not_modified_is_delivered(env):
    payment = await pay(env, await shown_payment(env, CASHIER))
    notification = event(CASHIER, event="payment", payment_id=payment.id)
    await env.channel.deliver(notification)
    before = len(env.api.calls)

    await env.channel.deliver(notification)  # no exception: the message already shows it

    last = env.api.calls[-1]
    # Telegram refused the edit (HTTP 400 "message is not modified"): no result recorded
    assert (len(env.api.calls) - before, last.method, last.result) == (1, "editMessageText", None)


async def test_missing_message_id_is_retried_then_a_new_message_is_sent(env):
    # the callback beat the handler: no status message id yet
    payment = await env.services.payments.request_payment(
        "0708374149", 150, initiator=None, actor="test", chat_id=CASHIER
    )
    paid = await pay(env, payment)
    notification = event(CASHIER, event="payment", payment_id=payment.id)

    with pytest.raises(StatusMessagePending):
        await env.channel.deliver(notification)
    assert env.api.sent("sendMessage") == []

    env.clock.advance(31)
    await env.channel.deliver(notification)

    (sent,) = env.api.sent("sendMessage")
    assert (sent.params["chat_id"], sent.params["text"]) == (CASHIER, texts.payment_card(paid))
    stored = await Payment.get(id=payment.id)
    assert (stored.chat_id, stored.message_id) == (CASHIER, sent.result["message_id"])


async def test_missing_message_id_waits_through_the_outbox_without_failing(env):
    payment = await env.services.payments.request_payment(
        "0708374149", 150, initiator=None, actor="test", chat_id=CASHIER
    )
    await pay(env, payment)

    assert await env.services.outbox.run_once() == 0

    row = await Notification.get(recipient=str(CASHIER))
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
    assert "has no message yet" in row.last_error


async def test_deleted_status_message_is_replaced(env):
    payment = await shown_payment(env, CASHIER)
    await env.bot.delete_message(CASHIER, payment.message_id)
    before = len(env.api.calls)

    await env.channel.deliver(event(CASHIER, event="payment", payment_id=payment.id))

    assert [m for m, _ in calls_since(env, before)] == ["editMessageText", "sendMessage"]
    assert (await Payment.get(id=payment.id)).message_id == env.api.calls[-1].result["message_id"]


async def test_customer_paying_in_their_own_chat_also_gets_a_receipt_message(env):
    customer = await env.services.customers.get_or_create(CUSTOMER, name="A", chat_id=CUSTOMER)
    order = await Order.create(code="HP7K2Q9XAB", amount=150, description="Sufuria <big>")
    payment = await shown_payment(env, CUSTOMER, customer=customer, order=order)
    paid = await pay(env, payment)
    before = len(env.api.calls)

    await env.services.outbox.run_once()

    calls = calls_since(env, before)
    assert sorted((m, p["chat_id"]) for m, p in calls) == [
        ("editMessageText", CUSTOMER),
        ("sendMessage", CUSTOMER),
    ]
    receipt = customer_texts.receipt(paid, order, "en")
    assert [p["text"] for m, p in calls if m == "sendMessage"] == [receipt]
    assert "Sufuria &lt;big&gt;" in receipt
    assert "UKK4Q7M2XB" in receipt


async def test_payment_receipt_event_sends_the_receipt(env):
    payment = await pay(env, await shown_payment(env, CASHIER))
    before = len(env.api.calls)

    await env.channel.deliver(event(CUSTOMER, event="payment_receipt", payment_id=payment.id))

    assert calls_since(env, before) == [
        (
            "sendMessage",
            {
                "chat_id": CUSTOMER,
                "text": customer_texts.receipt(payment, None, "en"),
                "parse_mode": "HTML",
            },
        )
    ]


async def test_order_paid_tells_the_creator(env):
    order = await Order.create(
        code="HP7K2Q9XAB", amount=150, description="Sufuria", created_by=env.cashier
    )
    customer = await env.services.customers.get_or_create(CUSTOMER, name="A", chat_id=CUSTOMER)
    payment = await pay(env, await shown_payment(env, CUSTOMER, customer=customer, order=order))
    order = await Order.get(id=order.id)
    before = len(env.api.calls)

    await env.channel.deliver(event(CASHIER, event="order_paid", order_id=order.id))

    ((method, params),) = calls_since(env, before)
    assert (method, params["chat_id"]) == ("sendMessage", CASHIER)
    assert params["text"] == (
        "✅ <b>Order <code>HP7K2Q9XAB</code> — Sufuria is paid</b>\n"
        "KES 150 from 0708 374 149\n"
        f"M-Pesa receipt: <code>{payment.receipt}</code>\n"
        f"Paid at: {texts.when(order.paid_at)}"
    )


# -- payouts, queries, reversals, alerts ----------------------------------------------------------


async def payout(env: SimpleNamespace, status: PayoutStatus, **kwargs: Any) -> Payout:
    return await Payout.create(
        originator_conversation_id=f"oc-{status.value}",
        msisdn="254708374149",
        amount=20_000,
        remarks="Refund <order 12>",
        initiated_by=env.cashier,
        status=status,
        **kwargs,
    )


async def test_payout_event_edits_its_card_with_the_people_named(env):
    message = await env.bot.send_message(CASHIER, "Payout…")
    admin = await Staff.create(telegram_id=ADMIN, name="Otieno", role=StaffRole.ADMIN)
    done = await payout(
        env,
        PayoutStatus.COMPLETED,
        chat_id=CASHIER,
        message_id=message.message_id,
        approved_by=admin,
        receipt="UKL1B2C3D4",
    )
    before = len(env.api.calls)

    await env.channel.deliver(event(CASHIER, event="payout", payout_id=done.id))

    ((method, params),) = calls_since(env, before)
    assert (method, params["message_id"]) == ("editMessageText", message.message_id)
    assert params["text"] == texts.payout_card(done, initiator=env.cashier, approver=admin)
    assert "Refund &lt;order 12&gt;" in params["text"]


async def test_payout_approval_goes_with_its_buttons(env):
    waiting = await payout(env, PayoutStatus.AWAITING_APPROVAL)
    before = len(env.api.calls)

    await env.channel.deliver(event(ADMIN, event="payout_approval", payout_id=waiting.id))

    ((method, params),) = calls_since(env, before)
    assert (method, params["chat_id"]) == ("sendMessage", ADMIN)
    assert params["text"].startswith("🔔 <b>Approval needed</b>\n\n<b>Payout #")
    assert params["reply_markup"] == keyboards.approval_buttons(waiting).to_dict()


@pytest.mark.parametrize(
    ("status", "result", "text"),
    [
        (
            QueryStatus.ANSWERED,
            {
                "result_desc": "ok",
                "accounts": [
                    {"name": "Working Account", "available_cents": 2_500_050},
                    {"name": "Utility <Account>", "available_cents": None},
                ],
                "completed_at": "2026-11-20T14:31:07+03:00",
            },
            "💰 <b>M-Pesa balance</b>\nWorking Account: KES 25,000.50\nUtility &lt;Account&gt;: -"
            "\n<i>As of 20 Nov 2026 14:31 (Nairobi time)</i>",
        ),
        (
            QueryStatus.ANSWERED,
            {"result_desc": "ok", "accounts": [], "completed_at": None},
            "💰 <b>M-Pesa balance</b>\nM-Pesa sent no accounts."
            "\n<i>As of 20 Nov 2026 14:35 (Nairobi time, when M-Pesa answered)</i>",
        ),
        (
            QueryStatus.FAILED,
            {"result_desc": "Initiator <bad>"},
            "⚠️ The M-Pesa balance check failed: Initiator &lt;bad&gt;",
        ),
    ],
)
async def test_balance_answer(env, status, result, text):
    query = await DarajaQuery.create(
        kind=QueryKind.BALANCE,
        status=status,
        result=result,
        chat_id=ADMIN,
        answered_at=datetime(2026, 11, 20, 11, 35, tzinfo=UTC),
    )
    before = len(env.api.calls)

    await env.channel.deliver(event(ADMIN, event="query", query_id=query.id))

    assert [(m, p["text"]) for m, p in calls_since(env, before)] == [("sendMessage", text)]


async def test_a_balance_answer_from_m_pesa_says_as_of_when(env):
    await Staff.create(telegram_id=ADMIN, name="Otieno", role=StaffRole.ADMIN)
    query = await env.services.accounts.request_balance(by_telegram_id=ADMIN, chat_id=ADMIN)
    await env.services.accounts.apply_balance_result(
        balance_result(
            originator=query.originator_conversation_id, conversation=query.conversation_id
        )
    )
    row = await Notification.get(event_key__startswith=f"query:{query.id}:")
    before = len(env.api.calls)

    await env.channel.deliver(row)

    ((_, params),) = calls_since(env, before)
    # the fixture's BOCompletedTime is 20261120160512
    assert params["text"].endswith("\n<i>As of 20 Nov 2026 16:05 (Nairobi time)</i>")


async def test_reversal_outcome_is_edited_into_its_confirmation_card(env):
    admin = await Staff.create(telegram_id=ADMIN, name="Otieno", role=StaffRole.ADMIN)
    card = await env.bot.send_message(ADMIN, "Reverse KES 150?")
    reversal = await Reversal.create(
        receipt="UKK4Q7M2XB",
        amount=150,
        remarks="Wrong till",
        requested_by=admin,
        status=ReversalStatus.COMPLETED,
        chat_id=ADMIN,
        message_id=card.message_id,
    )
    before = len(env.api.calls)

    await env.channel.deliver(event(ADMIN, event="reversal", reversal_id=reversal.id))

    assert [(m, p["message_id"], p["text"]) for m, p in calls_since(env, before)] == [
        ("editMessageText", card.message_id, staff_texts.reversal_card(reversal))
    ]


async def test_alert_text_is_escaped(env):
    before = len(env.api.calls)

    await env.channel.deliver(event(ADMIN, event="alert", text="Payment #3 <needs> review"))

    assert [(m, p["text"]) for m, p in calls_since(env, before)] == [
        ("sendMessage", "⚠️ Payment #3 &lt;needs&gt; review")
    ]


# -- giving up ------------------------------------------------------------------------------------


async def test_blocked_user_is_given_up(env):
    with pytest.raises(PermanentDeliveryError):
        await env.channel.deliver(event(BLOCKED, event="alert", text="hi"))


@pytest.mark.parametrize(
    "payload",
    [
        {"event": "telepathy"},
        {"event": "payment", "payment_id": 999},
        {"event": "payout", "payout_id": "1"},
    ],
)
async def test_events_that_can_never_be_shown_are_given_up(env, payload):
    with pytest.raises(PermanentDeliveryError):
        await env.channel.deliver(event(CASHIER, **payload))


async def test_unbound_channel_retries_later(db):
    with pytest.raises(RuntimeError):
        await TelegramChatChannel().deliver(event(CASHIER, event="alert", text="hi"))
