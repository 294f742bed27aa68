"""Staff payments in the chat: /request, /status and the [Check with M-Pesa] / [Retry] buttons."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from bot.services.staff import REFUSAL
from bot.telegram import keyboards
from bot.telegram import staff_texts
from bot.telegram import texts
from models import AuditEvent
from models import Notification
from models import Order
from models import Payment
from models import PaymentStatus
from models import Staff
from models import StaffRole
from mpesa.errors import InvalidRequest
from mpesa.faults import error_for
from mpesa.faults import read_fault
from tests.helpers.stk import stk_callback
from tests.helpers.stk import stk_query_answer
from tests.helpers.telegram import ADMIN_ID
from tests.helpers.telegram import CASHIER_ID
from tests.helpers.telegram import STRANGER_ID
from tests.helpers.telegram import World
from tests.helpers.telegram import staff_world


@pytest.fixture
async def world(db, settings) -> AsyncIterator[World]:
    """The real Application with every handler, over a fresh database."""
    cashier = (CASHIER_ID, StaffRole.CASHIER, "Mary <Till 1>")
    async with staff_world(settings, cashier) as world:
        yield world


def markup(calls, index: int = -1) -> dict | None:
    """The reply_markup of one recorded call, as sent."""
    return calls[index].params.get("reply_markup")


def as_sent(buttons) -> dict | None:
    """An InlineKeyboardMarkup as it appears in the recorded Bot API parameters."""
    return buttons.to_dict() if buttons is not None else None


# -- /request ------------------------------------------------------------------------------------


async def test_request_sends_stk_and_one_status_message(world: World) -> None:
    calls = await world.h.send(CASHIER_ID, "/request 0708374149 1,500 Blender <2L>")

    payment = await Payment.get()
    assert [c.method for c in calls] == ["sendMessage"]
    assert calls[0].params["chat_id"] == CASHIER_ID
    assert calls[0].params["text"] == texts.payment_card(payment)
    assert "For: Blender &lt;2L&gt;" in calls[0].params["text"]
    assert markup(calls) == as_sent(keyboards.payment_buttons(payment))
    assert world.daraja.called("stk_push") == [
        {
            "msisdn": "254708374149",
            "amount": 1500,
            "reference": "HPlanet",
            "description": "Payment",
        }
    ]
    assert (payment.status, payment.amount, payment.chat_id) == (
        PaymentStatus.PENDING,
        1500,
        CASHIER_ID,
    )
    assert payment.message_id == calls[0].result["message_id"]
    assert payment.initiated_by_id == (await Staff.get(telegram_id=CASHIER_ID)).id


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("/request", "Give the phone number and the amount."),
        ("/request 0708374149", "Give the amount too."),
        ("/request 0733123456 1500", "0733123456 is an Airtel number; M-Pesa needs Safaricom"),
        ("/request 0712 1500", "0712 is too short for a Kenyan mobile number"),
        (
            "/request 0708374149 1.5",
            "1.5 is not a whole number of shillings; M-Pesa moves whole shillings only",
        ),
        ("/request 0708374149 abc", "abc is not an amount; enter whole shillings, e.g. 1500"),
    ],
)
async def test_request_wrong_input_gets_reason_and_usage(
    world: World, command: str, reason: str
) -> None:
    calls = await world.h.send(CASHIER_ID, command)

    assert world.h.texts(calls) == [texts.refusal(reason, staff_texts.USAGE_REQUEST)]
    assert world.daraja.called("stk_push") == []
    assert await Payment.all().count() == 0


async def test_request_usage_text_is_exact(world: World) -> None:
    calls = await world.h.send(ADMIN_ID, "/request")

    assert world.h.texts(calls) == [
        "⚠️ Give the phone number and the amount.\n\n"
        "Usage: /request &lt;phone&gt; &lt;amount&gt; [description]\n"
        "Example: /request 0708374149 1500 Blender"
    ]


async def test_second_request_to_a_phone_in_flight_is_refused(world: World) -> None:
    await world.h.send(CASHIER_ID, "/request 0708374149 1500")
    first = await Payment.get()

    calls = await world.h.send(ADMIN_ID, "/request 254708374149 200")

    assert world.h.texts(calls) == [
        texts.refusal(
            f"A payment to 0708 374 149 is already waiting for the customer's PIN (#{first.id})."
        )
    ]
    assert len(world.daraja.called("stk_push")) == 1


async def test_stranger_gets_the_neutral_refusal_and_is_audited(world: World) -> None:
    calls = await world.h.send(STRANGER_ID, "/request 0708374149 1500")

    assert world.h.texts(calls) == [texts.refusal(REFUSAL)]
    assert world.daraja.called("stk_push") == []
    refused = await AuditEvent.filter(action="access.refused").values_list(
        "actor", "subject", "outcome"
    )
    assert refused == [(f"tg:{STRANGER_ID}", "request", "refused")]


@pytest.mark.parametrize(
    "command",
    [
        "/request",
        "/status #1",
        "/send 0708374149 100",
        "/balance",
        "/history",
        "/staff",
        "/order 1 x",
    ],
)
async def test_stranger_learns_nothing_from_any_staff_command(world: World, command: str) -> None:
    calls = await world.h.send(STRANGER_ID, command)

    assert world.h.texts(calls) == [texts.refusal(REFUSAL)]


async def test_refused_by_daraja_shows_the_failed_card_with_retry(world: World) -> None:
    world.daraja.queue("stk_push", InvalidRequest("Invalid PhoneNumber", code="400.002.02"))

    calls = await world.h.send(CASHIER_ID, "/request 0708374149 1500")

    payment = await Payment.get()
    assert payment.status == PaymentStatus.FAILED
    assert world.h.texts(calls) == [texts.payment_card(payment)]
    assert markup(calls) == {
        "inline_keyboard": [[{"text": "🔁 Retry", "callback_data": f"pay:retry:{payment.id}"}]]
    }


def throttled(http_status: int, code: str, retry_after: str | None) -> Exception:
    """The error the Daraja client raises for a throttled money POST (spike arrest, 429)."""
    body = json.dumps(
        {"requestId": "1-2-3", "errorCode": code, "errorMessage": "Spike Arrest Violation"}
    )
    fault = read_fault(http_status, body.encode(), retry_after=retry_after)
    return error_for("stk push", fault, money=True)


BUSY_CASES = [
    pytest.param(500, "500.003.02", None, "Try again in a minute.", id="spike-arrest"),
    pytest.param(500, "500.003.02", "30", "Try again in 30 seconds.", id="spike-arrest-wait"),
    pytest.param(429, "429.001.01", "120", "Try again in 2 minutes.", id="429-wait"),
    pytest.param(429, "429.001.01", None, "Try again in a minute.", id="429"),
]


@pytest.mark.parametrize(("http_status", "code", "retry_after", "wait"), BUSY_CASES)
async def test_a_throttled_request_says_m_pesa_is_busy_and_nothing_was_sent(
    world: World, http_status: int, code: str, retry_after: str | None, wait: str
) -> None:
    world.daraja.queue("stk_push", throttled(http_status, code, retry_after))

    calls = await world.h.send(CASHIER_ID, "/request 0708374149 1500")

    payment = await Payment.get()
    assert (payment.status, payment.result_code) == (PaymentStatus.FAILED, code)
    reason = f"M-Pesa is busy right now; nothing was sent. {wait}"
    assert payment.result_desc == reason
    card = world.h.texts(calls)[0]
    assert card.endswith(f"<b>✖️ Failed</b>\n{reason}")
    assert "unrecognised" not in card
    assert markup(calls) == {
        "inline_keyboard": [[{"text": "🔁 Retry", "callback_data": f"pay:retry:{payment.id}"}]]
    }


# -- an amount typed with a space ----------------------------------------------------------------


async def test_an_amount_typed_with_a_space_is_asked_about_not_guessed(world: World) -> None:
    calls = await world.h.send(CASHIER_ID, "/request 0708374149 1 500")

    assert world.h.texts(calls) == [
        "<b>KES 1,500 or KES 1?</b>\n“1 500” reads both ways: with KES 1, “500” starts the "
        "description."
    ]
    assert markup(calls) == {
        "inline_keyboard": [
            [
                {"text": "KES 1,500", "callback_data": "amt:request:1500"},
                {"text": "KES 1", "callback_data": "amt:request:1"},
            ]
        ]
    }
    # a reply to the command: the buttons read it back
    assert "message_id" in calls[0].params["reply_parameters"]
    assert world.daraja.called("stk_push") == []
    assert await Payment.all().count() == 0


@pytest.mark.parametrize(
    ("button", "amount", "description"),
    [("1500", 1500, "Blender"), ("1", 1, "500 Blender")],
)
async def test_each_amount_button_continues_the_request(
    world: World, button: str, amount: int, description: str
) -> None:
    asked = await world.h.send(CASHIER_ID, "/request 0708374149 1 500 Blender")
    question = asked[0].result["message_id"]

    calls = await world.h.press(CASHIER_ID, f"amt:request:{button}", message_id=question)

    payment = await Payment.get()
    assert (payment.amount, payment.description) == (amount, description)
    assert [c["amount"] for c in world.daraja.called("stk_push")] == [amount]
    assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageText", "sendMessage"]
    # the question is answered (its buttons gone); the live card is a message of its own
    assert world.h.api.message(CASHIER_ID, question) == {
        **world.h.api.message(CASHIER_ID, question),
        "text": f"✔️ KES {amount:,}",
    }
    assert "reply_markup" not in world.h.api.message(CASHIER_ID, question)
    assert calls[2].params["text"] == texts.payment_card(payment)
    assert payment.message_id == calls[2].result["message_id"]


@pytest.mark.parametrize(
    ("command", "amount", "description"),
    [
        ("/request 0708374149 1500 500", 1500, "500"),
        ("/request 0708374149 1 50 chairs", 1, "50 chairs"),
        ("/request 0708374149 1 5000", 1, "5000"),
        ("/request 0708374149 1,500 200", 1500, "200"),
        ("/request 0708374149 0 500", None, None),
    ],
)
async def test_no_question_when_the_words_read_one_way(
    world: World, command: str, amount: int | None, description: str | None
) -> None:
    calls = await world.h.send(CASHIER_ID, command)

    assert "or KES" not in world.h.texts(calls)[0]
    payment = await Payment.get_or_none()
    if amount is None:
        assert payment is None  # refused as a bad amount, as ever
    else:
        assert (payment.amount, payment.description) == (amount, description)


async def test_an_amount_button_for_a_stranger_sends_nothing(world: World) -> None:
    asked = await world.h.send(CASHIER_ID, "/request 0708374149 1 500")

    calls = await world.h.press(
        STRANGER_ID,
        "amt:request:1500",
        message_id=asked[0].result["message_id"],
        chat_id=CASHIER_ID,
    )

    assert [(c.method, c.params.get("text")) for c in calls] == [("answerCallbackQuery", REFUSAL)]
    assert world.daraja.called("stk_push") == []


@pytest.mark.parametrize(
    "data", ["amt:request:1500", "amt:request:15", "amt:request:x", "amt:request:1" + "0" * 12]
)
async def test_an_amount_button_whose_command_is_gone_or_changed_sends_nothing(
    world: World, data: str
) -> None:
    # a question the bot asked without the command it answers (deleted, or too old to show)
    card = await world.h.app.bot.send_message(CASHIER_ID, "KES 1,500 or KES 1?", reply_markup=None)
    orphan = await world.h.press(CASHIER_ID, data, message_id=card.message_id)
    asked = await world.h.send(CASHIER_ID, "/request 0708374149 1 500")
    wrong = await world.h.press(
        CASHIER_ID, "amt:request:999", message_id=asked[0].result["message_id"]
    )

    for calls in (orphan, wrong):
        assert [(c.method, c.params.get("text")) for c in calls] == [
            ("answerCallbackQuery", staff_texts.AMOUNT_QUESTION_GONE)
        ]
    assert world.daraja.called("stk_push") == []


async def test_callback_queues_the_status_edit(world: World) -> None:
    await world.h.send(CASHIER_ID, "/request 0708374149 1500")
    payment = await Payment.get()

    await world.services.payments.apply_stk_callback(
        stk_callback(payment.checkout_request_id, amount=1500, receipt="UKK4Q7M2XB")
    )

    rows = await Notification.filter(recipient=str(CASHIER_ID)).values_list("payload", flat=True)
    assert {"event": "payment", "payment_id": payment.id} in rows
    assert (await Payment.get()).message_id is not None


# -- buttons -------------------------------------------------------------------------------------


async def test_check_with_mpesa_edits_the_card(world: World) -> None:
    sent = await world.h.send(CASHIER_ID, "/request 0708374149 1500")
    payment = await Payment.get()
    world.daraja.queue("stk_query", stk_query_answer(payment.checkout_request_id, "1032"))

    calls = await world.h.press(
        CASHIER_ID, f"pay:check:{payment.id}", message_id=sent[0].result["message_id"]
    )

    payment = await Payment.get()
    assert payment.status == PaymentStatus.CANCELLED
    assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageText"]
    assert calls[1].params["text"] == texts.payment_card(payment)
    assert calls[1].params["message_id"] == sent[0].result["message_id"]
    assert markup(calls) == as_sent(keyboards.payment_buttons(payment))
    assert world.daraja.called("stk_query") == [
        {"checkout_request_id": payment.checkout_request_id}
    ]


async def test_check_while_still_pending_says_when_it_checked(world: World) -> None:
    sent = await world.h.send(CASHIER_ID, "/request 0708374149 1500")
    payment = await Payment.get()

    calls = await world.h.press(
        ADMIN_ID, f"pay:check:{payment.id}", message_id=sent[0].result["message_id"]
    )

    edited = world.h.texts(calls)[0]
    assert edited.startswith(texts.payment_card(payment) + "\n\n<i>Checked with M-Pesa at ")
    assert edited.endswith(": no final answer yet.</i>")


async def test_retry_sends_a_new_status_message_and_drops_the_old_buttons(world: World) -> None:
    sent = await world.h.send(CASHIER_ID, "/request 0708374149 1500 Kettle")
    old = await Payment.get()
    await world.services.payments.apply_stk_callback(
        stk_callback(old.checkout_request_id, result_code=1032)
    )
    old_message = sent[0].result["message_id"]

    calls = await world.h.press(CASHIER_ID, f"pay:retry:{old.id}", message_id=old_message)

    new = await Payment.filter(id__gt=old.id).get()
    assert [c.method for c in calls] == [
        "answerCallbackQuery",
        "sendMessage",
        "editMessageReplyMarkup",
    ]
    assert (new.attempt, new.amount, new.msisdn, new.description) == (
        2,
        1500,
        "254708374149",
        "Kettle",
    )
    assert calls[1].params["text"] == texts.payment_card(new)
    assert markup(calls, 1) == as_sent(keyboards.payment_buttons(new))
    assert new.message_id == calls[1].result["message_id"]
    assert calls[2].params["message_id"] == old_message
    assert "reply_markup" not in world.h.api.message(CASHIER_ID, old_message)
    assert len(world.daraja.called("stk_push")) == 2


async def test_retry_of_a_pending_payment_is_refused_in_an_alert(world: World) -> None:
    sent = await world.h.send(CASHIER_ID, "/request 0708374149 1500")
    payment = await Payment.get()

    calls = await world.h.press(
        CASHIER_ID, f"pay:retry:{payment.id}", message_id=sent[0].result["message_id"]
    )

    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert calls[0].params["show_alert"] is True
    assert calls[0].params["text"].startswith(f"Payment #{payment.id} is pending;")
    assert len(world.daraja.called("stk_push")) == 1


async def test_customer_cannot_check_someone_elses_payment(world: World) -> None:
    sent = await world.h.send(CASHIER_ID, "/request 0708374149 1500")
    payment = await Payment.get()

    calls = await world.h.press(
        STRANGER_ID, f"pay:check:{payment.id}", message_id=sent[0].result["message_id"]
    )

    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert calls[0].params["show_alert"] is True
    assert world.daraja.called("stk_query") == []


# -- /status -------------------------------------------------------------------------------------


async def test_status_by_number_receipt_and_checkout_id(world: World) -> None:
    await world.h.send(CASHIER_ID, "/request 0708374149 1500")
    payment = await Payment.get()
    await world.services.payments.apply_stk_callback(
        stk_callback(payment.checkout_request_id, amount=1500, receipt="UKK4Q7M2XB")
    )
    payment = await Payment.get()

    for ref in (f"#{payment.id}", str(payment.id), "ukk4q7m2xb", payment.checkout_request_id):
        calls = await world.h.send(CASHIER_ID, f"/status {ref}")
        assert world.h.texts(calls) == [texts.payment_card(payment)], ref
        assert markup(calls) is None  # paid: nothing to check or retry


async def test_status_of_a_paid_order(world: World) -> None:
    order = await world.services.orders.create_order(900, "Iron", created_by=None, actor="test")
    await Order.filter(id=order.id).update(status="paid", paid_receipt="UKK4Q7M2XC")

    calls = await world.h.send(CASHIER_ID, f"/status {order.code.lower()}")

    assert world.h.texts(calls) == [
        f"<b>Order <code>{order.code}</code></b>\nKES 900\nIron\n"
        "✅ Paid (receipt <code>UKK4Q7M2XC</code>)"
    ]


async def test_status_of_a_payout(world: World) -> None:
    payout = await world.services.payouts.send_money(
        "0708374149", 500, initiator_telegram_id=ADMIN_ID, reason="Refund"
    )

    calls = await world.h.send(ADMIN_ID, f"/status P{payout.id}")

    admin = await Staff.get(telegram_id=ADMIN_ID)
    assert world.h.texts(calls) == [texts.payout_card(payout, initiator=admin)]


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("/status", "Give the reference to look up."),
        (
            "/status NOPE<b>",
            "Nothing matches NOPE<b>: give a payment number (#12), an order code, an M-Pesa "
            "receipt or a CheckoutRequestID.",
        ),
        ("/status P999", "No payout matches 999."),
    ],
)
async def test_status_unknown_reference(world: World, command: str, reason: str) -> None:
    calls = await world.h.send(CASHIER_ID, command)

    assert world.h.texts(calls) == [texts.refusal(reason, staff_texts.USAGE_STATUS)]


ODD_INPUTS = [
    "/request <b> </b>",
    "/request 0708374149 99999999999999999999999",
    "/request +254708374149 KES 1,500",
    "/request 0708374149 1500 " + "<i>" * 2000,
    "/status " + "x" * 500,
    "/status #99999999999",
    "/send 0708374149 500 " + "r" * 150,
    "/send 0708374149 -5",
    "/history <script> 0",
    "/history today week 0708374149 0722000111",
    "/stats today week",
    "/export </b>",
    "/order 1500 " + "&" * 600,
    "/order abc def",
    "/reverse " + "A" * 40,
    "/reverse #12",
    "/staff add 999999999999999999999 admin",
    "/staff remove abc",
]


@pytest.mark.parametrize("command", ODD_INPUTS)
async def test_nothing_typed_crashes_a_handler(world: World, command: str) -> None:
    calls = await world.h.send(ADMIN_ID, command)

    # /order answers with a photo (the QR code of the pay link) captioned with the order
    captions = [str(c.params.get("caption", "")) for c in calls if c.method == "sendPhoto"]
    replies = world.h.texts(calls) + captions
    assert len(replies) == 1
    assert replies[0].startswith(("⚠️ ", "<b>")), replies[0]
    assert "Something went wrong" not in replies[0]


@pytest.mark.parametrize(
    "data",
    ["pay:check:x", "pay:zap:1", "pay:check:999999", "payout:confirm:", "payout:x:1", "rev::"],
)
async def test_odd_button_data_is_answered(world: World, data: str) -> None:
    calls = await world.h.press(ADMIN_ID, data, message_id=1)

    assert [c.method for c in calls] == ["answerCallbackQuery"]
