"""Staff payouts in the chat: /send, Confirm exactly once, approval by a second admin, /balance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram import Update

from bot.services.container import build_services
from bot.services.staff import ADMINS_ONLY
from bot.services.staff import REFUSAL
from bot.telegram import keyboards
from bot.telegram import staff_texts
from bot.telegram import texts
from bot.telegram.app import build_application
from models import DarajaQuery
from models import Notification
from models import Payout
from models import PayoutStatus
from models import Staff
from models import StaffRole
from tests.helpers.fakes import FakeDaraja
from tests.helpers.telegram import ADMIN_ID
from tests.helpers.telegram import CASHIER_ID
from tests.helpers.telegram import STRANGER_ID
from tests.helpers.telegram import TelegramHarness
from tests.helpers.telegram import World
from tests.helpers.telegram import staff_world
from tests.helpers.telegram import user
from tests.telegram.test_staff_payments import BUSY_CASES
from tests.telegram.test_staff_payments import as_sent
from tests.telegram.test_staff_payments import markup
from tests.telegram.test_staff_payments import throttled

SECOND_ADMIN_ID = 3003


@pytest.fixture
async def world(db, settings) -> AsyncIterator[World]:
    """The bot with a cashier and a second admin besides the bootstrap admin."""
    cashier = (CASHIER_ID, StaffRole.CASHIER, "Mary")
    second_admin = (SECOND_ADMIN_ID, StaffRole.ADMIN, "Otieno & Sons")
    async with staff_world(settings, cashier, second_admin) as world:
        yield world


async def send_payout(world: World, command: str = "/send 0708374149 500 Refund") -> int:
    """/send as the bootstrap admin; the id of the summary message."""
    calls = await world.h.send(ADMIN_ID, command)
    return calls[-1].result["message_id"]


async def test_send_shows_a_summary_to_confirm(world: World) -> None:
    calls = await world.h.send(ADMIN_ID, "/send 0708374149 1,500 Refund <order 12>")

    payout = await Payout.get()
    admin = await Staff.get(telegram_id=ADMIN_ID)
    assert [c.method for c in calls] == ["sendMessage"]
    assert calls[0].params["text"] == texts.payout_card(payout, initiator=admin)
    assert "Reason: Refund &lt;order 12&gt;" in calls[0].params["text"]
    assert markup(calls) == {
        "inline_keyboard": [
            [
                {"text": "✅ Confirm", "callback_data": f"payout:confirm:{payout.id}"},
                {"text": "✖️ Cancel", "callback_data": f"payout:cancel:{payout.id}"},
            ]
        ]
    }
    assert (payout.status, payout.amount, payout.msisdn) == (
        PayoutStatus.AWAITING_CONFIRMATION,
        1500,
        "254708374149",
    )
    assert (payout.chat_id, payout.message_id) == (ADMIN_ID, calls[0].result["message_id"])
    assert world.daraja.called("b2c_payment") == []


@pytest.mark.parametrize(
    ("button", "outcome"),
    [("1500", (1500, "Refund")), ("1", "KES 1 is below the KES 10 minimum")],
)
async def test_send_with_a_spaced_amount_asks_then_continues(
    world: World, button: str, outcome: tuple[int, str] | str
) -> None:
    asked = await world.h.send(ADMIN_ID, "/send 0708374149 1 500 Refund")
    assert world.h.texts(asked) == [
        "<b>KES 1,500 or KES 1?</b>\n“1 500” reads both ways: with KES 1, “500” starts the reason."
    ]
    assert await Payout.all().count() == 0

    calls = await world.h.press(
        ADMIN_ID, f"amt:send:{button}", message_id=asked[0].result["message_id"]
    )

    payout = await Payout.get_or_none()
    if isinstance(outcome, tuple):
        assert (payout.amount, payout.remarks) == outcome
        assert payout.status == PayoutStatus.AWAITING_CONFIRMATION
        assert markup(calls) == as_sent(keyboards.payout_buttons(payout))
    else:
        assert payout is None
        assert world.h.texts(calls)[-1] == texts.refusal(outcome, staff_texts.USAGE_SEND)
    assert world.daraja.called("b2c_payment") == []


async def test_a_cashier_cannot_answer_the_send_amount_question(world: World) -> None:
    asked = await world.h.send(ADMIN_ID, "/send 0708374149 1 500 Refund")

    calls = await world.h.press(
        CASHIER_ID, "amt:send:1500", message_id=asked[0].result["message_id"], chat_id=ADMIN_ID
    )

    assert [(c.method, c.params.get("text")) for c in calls] == [
        ("answerCallbackQuery", ADMINS_ONLY)
    ]
    assert await Payout.all().count() == 0


async def test_send_above_threshold_says_a_second_admin_must_approve(world: World) -> None:
    calls = await world.h.send(ADMIN_ID, "/send 0708374149 20000 Supplier")

    assert world.h.texts(calls)[0].endswith(
        "\n\nAbove KES 10,000: after you confirm, a second admin must approve before anything "
        "is sent."
    )


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("/send", "Give the phone number and the amount."),
        ("/send 0708374149", "Give the amount too."),
        ("/send 0733123456 500", "0733123456 is an Airtel number; M-Pesa needs Safaricom"),
        (
            "/send 0708374149 1.5",
            "1.5 is not a whole number of shillings; M-Pesa moves whole shillings only",
        ),
        ("/send 0708374149 5 Tip", "KES 5 is below the KES 10 minimum"),
    ],
)
async def test_send_wrong_input(world: World, command: str, reason: str) -> None:
    calls = await world.h.send(ADMIN_ID, command)

    assert world.h.texts(calls) == [texts.refusal(reason, staff_texts.USAGE_SEND)]
    assert await Payout.all().count() == 0


@pytest.mark.parametrize(("user_id", "reason"), [(CASHIER_ID, ADMINS_ONLY), (STRANGER_ID, REFUSAL)])
async def test_send_is_for_admins_only(world: World, user_id: int, reason: str) -> None:
    calls = await world.h.send(user_id, "/send 0708374149 500")

    assert world.h.texts(calls) == [texts.refusal(reason)]
    assert await Payout.all().count() == 0


@pytest.mark.parametrize("verb", ["confirm", "cancel", "approve", "reject"])
@pytest.mark.parametrize(("user_id", "reason"), [(CASHIER_ID, ADMINS_ONLY), (STRANGER_ID, REFUSAL)])
async def test_a_payout_button_says_a_cashier_needs_an_admin_and_tells_a_stranger_nothing(
    world: World, verb: str, user_id: int, reason: str
) -> None:
    message_id = await send_payout(world)
    payout = await Payout.get()

    calls = await world.h.press(user_id, f"payout:{verb}:{payout.id}", message_id=message_id)

    assert [(c.method, c.params["text"], c.params["show_alert"]) for c in calls] == [
        ("answerCallbackQuery", reason, True)
    ]
    assert (await Payout.get()).status == PayoutStatus.AWAITING_CONFIRMATION
    assert world.daraja.called("b2c_payment") == []


async def test_confirm_sends_once_and_edits_the_same_message(world: World) -> None:
    message_id = await send_payout(world)
    payout = await Payout.get()

    calls = await world.h.press(ADMIN_ID, f"payout:confirm:{payout.id}", message_id=message_id)

    payout = await Payout.get()
    admin = await Staff.get(telegram_id=ADMIN_ID)
    assert payout.status == PayoutStatus.SUBMITTED
    assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageText"]
    assert calls[1].params["message_id"] == message_id
    assert calls[1].params["text"] == texts.payout_card(payout, initiator=admin)
    assert markup(calls) is None
    assert [c["originator_conversation_id"] for c in world.daraja.called("b2c_payment")] == [
        payout.originator_conversation_id
    ]


# the payout twin of test_staff_payments.py's throttled request, kept apart on purpose: the
# same BUSY_CASES, but each test reads as its own chat (a /request vs a Confirm press)
@pytest.mark.parametrize(("http_status", "code", "retry_after", "wait"), BUSY_CASES)
async def test_a_throttled_payout_says_m_pesa_is_busy_and_nothing_was_sent(
    world: World, http_status: int, code: str, retry_after: str | None, wait: str
) -> None:
    message_id = await send_payout(world)
    payout = await Payout.get()
    world.daraja.queue("b2c_payment", throttled(http_status, code, retry_after))

    calls = await world.h.press(ADMIN_ID, f"payout:confirm:{payout.id}", message_id=message_id)

    payout = await Payout.get()
    assert (payout.status, payout.result_code) == (PayoutStatus.FAILED, code)
    reason = f"M-Pesa is busy right now; nothing was sent. {wait}"
    assert payout.result_desc == reason
    card = world.h.texts(calls)[0]
    assert card.endswith(f"<b>✖️ Failed</b>\n{reason}")
    assert "unrecognised" not in card
    assert len(world.daraja.called("b2c_payment")) == 1


async def test_second_press_of_confirm_sends_nothing_more(world: World) -> None:
    message_id = await send_payout(world)
    payout = await Payout.get()
    await world.h.press(ADMIN_ID, f"payout:confirm:{payout.id}", message_id=message_id)
    shown = world.h.api.message(ADMIN_ID, message_id)["text"]

    calls = await world.h.press(ADMIN_ID, f"payout:confirm:{payout.id}", message_id=message_id)

    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert calls[0].params == {
        "callback_query_id": calls[0].params["callback_query_id"],
        "text": f"Payout #{payout.id} was already sent to M-Pesa.",
        "show_alert": True,
    }
    assert world.h.api.message(ADMIN_ID, message_id)["text"] == shown
    assert len(world.daraja.called("b2c_payment")) == 1


async def test_replayed_update_makes_one_payout(world: World) -> None:
    message_id = await send_payout(world)
    payout = await Payout.get()
    payload = {
        "update_id": 424242,
        "callback_query": {
            "id": "replayed-query",
            "from": user(ADMIN_ID),
            "chat_instance": str(ADMIN_ID),
            "data": f"payout:confirm:{payout.id}",
            "message": world.h.api.message(ADMIN_ID, message_id),
        },
    }

    for _ in range(2):
        await world.h.app.process_update(Update.de_json(payload, world.h.app.bot))

    assert len(world.daraja.called("b2c_payment")) == 1
    assert (await Payout.get()).status == PayoutStatus.SUBMITTED


async def test_two_instances_racing_make_one_payout(world: World, settings) -> None:
    message_id = await send_payout(world)
    payout = await Payout.get()
    # a second process on the same database and the same Telegram chat
    other = build_application(
        settings,
        build_services(settings, daraja=world.daraja, channels={}),
        request=world.h.api,
        get_updates_request=world.h.api,
        rate_limit=False,
        polling=False,
    )
    await other.initialize()
    second = TelegramHarness(other, world.h.api)
    try:
        await asyncio.gather(
            world.h.press(ADMIN_ID, f"payout:confirm:{payout.id}", message_id=message_id),
            second.press(ADMIN_ID, f"payout:confirm:{payout.id}", message_id=message_id),
        )
    finally:
        await second.stop()

    assert len(world.daraja.called("b2c_payment")) == 1
    alerts = [c for c in world.h.api.sent("answerCallbackQuery") if c.params.get("show_alert")]
    assert len(alerts) == 1


async def test_only_the_initiator_can_confirm(world: World) -> None:
    message_id = await send_payout(world)
    payout = await Payout.get()

    calls = await world.h.press(
        SECOND_ADMIN_ID, f"payout:confirm:{payout.id}", message_id=message_id, chat_id=ADMIN_ID
    )

    assert calls[0].params["text"] == "Only the admin who started this payout can confirm it."
    assert (await Payout.get()).status == PayoutStatus.AWAITING_CONFIRMATION


async def test_cancel_sends_nothing(world: World) -> None:
    message_id = await send_payout(world)
    payout = await Payout.get()

    calls = await world.h.press(ADMIN_ID, f"payout:cancel:{payout.id}", message_id=message_id)

    payout = await Payout.get()
    admin = await Staff.get(telegram_id=ADMIN_ID)
    assert payout.status == PayoutStatus.CANCELLED
    assert calls[1].params["text"] == texts.payout_card(payout, initiator=admin)
    assert world.daraja.called("b2c_payment") == []


async def test_confirm_after_a_restart_still_works(world: World, settings) -> None:
    message_id = await send_payout(world)
    payout = await Payout.get()
    await world.h.stop()
    # a new process: new services and application; Telegram (the chat) keeps its messages
    daraja = FakeDaraja()
    app = build_application(
        settings,
        build_services(settings, daraja=daraja, channels={}),
        request=world.h.api,
        get_updates_request=world.h.api,
        rate_limit=False,
        polling=False,
    )
    await app.initialize()
    world.h = TelegramHarness(app, world.h.api)

    calls = await world.h.press(ADMIN_ID, f"payout:confirm:{payout.id}", message_id=message_id)

    assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageText"]
    assert len(daraja.called("b2c_payment")) == 1
    assert (await Payout.get()).status == PayoutStatus.SUBMITTED


async def test_approval_by_a_second_admin(world: World) -> None:
    message_id = await send_payout(world, "/send 0708374149 20000 Supplier")
    payout = await Payout.get()

    calls = await world.h.press(ADMIN_ID, f"payout:confirm:{payout.id}", message_id=message_id)

    payout = await Payout.get()
    assert payout.status == PayoutStatus.AWAITING_APPROVAL
    assert "⏳ Waiting for a second admin to approve…" in calls[1].params["text"]
    assert world.daraja.called("b2c_payment") == []
    asked = await Notification.filter(recipient=str(SECOND_ADMIN_ID)).values_list(
        "payload", flat=True
    )
    assert asked == [{"event": "payout_approval", "payout_id": payout.id}]
    # the approval card the chat channel delivers to the second admin
    card = await world.h.app.bot.send_message(
        SECOND_ADMIN_ID, "approve?", reply_markup=keyboards.approval_buttons(payout)
    )

    own = await world.h.press(ADMIN_ID, f"payout:approve:{payout.id}", message_id=message_id)
    calls = await world.h.press(
        SECOND_ADMIN_ID, f"payout:approve:{payout.id}", message_id=card.message_id
    )

    assert own[0].params["text"] == "You started this payout; another admin must approve it."
    payout = await Payout.get()
    admin = await Staff.get(telegram_id=ADMIN_ID)
    approver = await Staff.get(telegram_id=SECOND_ADMIN_ID)
    assert payout.status == PayoutStatus.SUBMITTED
    assert calls[1].params["text"] == texts.payout_card(payout, initiator=admin, approver=approver)
    assert "Approved by Otieno &amp; Sons" in calls[1].params["text"]
    assert markup(calls) is None
    assert len(world.daraja.called("b2c_payment")) == 1
    # the initiator's card is edited from the outbox with the approver's name
    assert await Notification.filter(
        recipient=str(ADMIN_ID), event_key__startswith=f"payout:{payout.id}:submitted"
    ).exists()


async def test_a_bootstrap_admin_is_named_by_their_telegram_name_as_it_changes(
    db, settings
) -> None:
    settings = settings.model_copy(update={"admin_telegram_ids": [ADMIN_ID, 1002]})
    async with staff_world(settings) as world:
        message_id = await send_payout(world, "/send 0708374149 20000 Supplier")
        payout = await Payout.get()
        await world.h.press(ADMIN_ID, f"payout:confirm:{payout.id}", message_id=message_id)
        card = await world.h.app.bot.send_message(
            1002, "approve?", reply_markup=keyboards.approval_buttons(payout)
        )

        # their first update ever is the button: no command told us their name before
        calls = await world.h.press(
            1002, f"payout:approve:{payout.id}", message_id=card.message_id, first_name="Achieng"
        )

        assert "Approved by Achieng" in calls[1].params["text"]
        assert "user 1002" not in calls[1].params["text"]
        # they change their Telegram name: the new one is kept
        listed = await world.h.send(1002, "/staff", first_name="Achieng W.")
        assert "• Achieng W. — <code>1002</code> — admin" in world.h.texts(listed)[0]
        payout = await Payout.get()
        people = await world.services.staff.payout_people(payout)
        assert "Approved by Achieng W." in texts.payout_card(payout, approver=people.approver)


async def test_reject_by_a_second_admin(world: World) -> None:
    message_id = await send_payout(world, "/send 0708374149 20000 Supplier")
    payout = await Payout.get()
    await world.h.press(ADMIN_ID, f"payout:confirm:{payout.id}", message_id=message_id)
    card = await world.h.app.bot.send_message(
        SECOND_ADMIN_ID, "approve?", reply_markup=keyboards.approval_buttons(payout)
    )

    calls = await world.h.press(
        SECOND_ADMIN_ID, f"payout:reject:{payout.id}", message_id=card.message_id
    )

    payout = await Payout.get()
    admin = await Staff.get(telegram_id=ADMIN_ID)
    rejecter = await Staff.get(telegram_id=SECOND_ADMIN_ID)
    assert payout.status == PayoutStatus.REJECTED
    assert payout.rejected_by_id == rejecter.id
    card_text = texts.payout_card(payout, initiator=admin, rejecter=rejecter)
    assert calls[1].params["text"] == card_text
    assert "Rejected by Otieno &amp; Sons" in card_text
    assert world.daraja.called("b2c_payment") == []


async def test_over_the_daily_limit_is_refused_on_confirm(world: World) -> None:
    await Staff.filter(telegram_id=SECOND_ADMIN_ID).update(daily_payout_limit=1000)
    calls = await world.h.send(SECOND_ADMIN_ID, "/send 0708374149 1500 Refund")
    payout = await Payout.get()

    calls = await world.h.press(
        SECOND_ADMIN_ID, f"payout:confirm:{payout.id}", message_id=calls[0].result["message_id"]
    )

    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert calls[0].params["text"] == (
        "This payout would bring your payouts today to KES 1,500, over your daily limit of "
        "KES 1,000 (KES 1,000 left today)."
    )
    assert (await Payout.get()).status == PayoutStatus.AWAITING_CONFIRMATION
    assert world.daraja.called("b2c_payment") == []


async def test_balance_asks_mpesa_and_says_where_the_answer_comes(world: World) -> None:
    calls = await world.h.send(ADMIN_ID, "/balance")

    assert world.h.texts(calls) == [staff_texts.BALANCE_ASKED]
    assert len(world.daraja.called("account_balance")) == 1
    query = await DarajaQuery.get()
    assert query.chat_id == ADMIN_ID


async def test_balance_for_a_cashier_is_refused(world: World) -> None:
    calls = await world.h.send(CASHIER_ID, "/balance")

    assert world.h.texts(calls) == [texts.refusal(ADMINS_ONLY)]
    assert world.daraja.called("account_balance") == []


def test_payout_buttons_fit_callback_data() -> None:
    payout = Payout(id=999_999_999, status=PayoutStatus.AWAITING_CONFIRMATION)
    rows = as_sent(keyboards.payout_buttons(payout))["inline_keyboard"]
    assert max(len(b["callback_data"].encode()) for b in rows[0]) <= 64
