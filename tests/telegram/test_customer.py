"""Customer handlers on the real Application: deep links, phone, paying, /orders, /help, text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from bot.notify.channels import RecordingChatChannel
from bot.services.container import build_services
from bot.services.customers import OWN_NUMBER
from bot.telegram import customer_texts
from bot.telegram import staff_texts
from bot.telegram.transport import ApiCall
from models import Customer
from models import NotificationChannel
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from tests.helpers.fakes import FakeDaraja
from tests.helpers.stk import stk_callback
from tests.helpers.telegram import TelegramHarness

ADMIN = 1001
CUSTOMER = 3003
STRANGER = 4004
MSISDN = "254708374149"

CONTACT_KEYBOARD = {
    "keyboard": [[{"text": "📱 Share my phone number", "request_contact": True}]],
    "one_time_keyboard": True,
    "resize_keyboard": True,
    "input_field_placeholder": "or type 07XX XXX XXX",
}
REMOVE_KEYBOARD = {"remove_keyboard": True}


async def start_bot(settings: Any) -> SimpleNamespace:
    """Services on a FakeDaraja and a harness around the real Application."""
    daraja = FakeDaraja()
    services = build_services(
        settings, daraja=daraja, channels={NotificationChannel.CHAT: RecordingChatChannel()}
    )
    harness = await TelegramHarness.start(settings, services)
    return SimpleNamespace(h=harness, services=services, daraja=daraja)


@pytest.fixture
async def bot(db, settings) -> AsyncIterator[SimpleNamespace]:
    started = await start_bot(settings)
    yield started
    await started.h.stop()


@pytest.fixture
async def order(bot) -> Order:
    admin = await bot.services.staff.find(ADMIN)
    return await bot.services.orders.create_order(
        1200, "Blender <2L>", created_by=admin, actor=f"tg:{ADMIN}"
    )


def sent(calls: list[ApiCall]) -> list[tuple[str, Any, str, Any]]:
    """(method, chat_id, text, reply_markup) of the messages among ``calls``."""
    return [
        (c.method, c.params.get("chat_id"), c.params.get("text"), c.params.get("reply_markup"))
        for c in calls
        if c.method in ("sendMessage", "editMessageText")
    ]


def summary(order: Order, remembered: str | None = None) -> str:
    return (
        f"🧾 Order <code>{order.code}</code> — Blender &lt;2L&gt;\n"
        "Amount: <b>KES 1,200</b>\n\n"
        + (
            f"To pay with M-Pesa, tap <b>Pay with {remembered}</b>, "
            "or use another Safaricom number."
            if remembered
            else "To pay with M-Pesa, share your phone number or type another Safaricom number."
        )
    )


async def card(payment_id: int) -> str:
    payment = await Payment.get(id=payment_id)
    return customer_texts.payment_card(payment, await Order.get(id=payment.order_id), "en")


def check_button(payment_id: int) -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [{"text": "🔄 Check with M-Pesa", "callback_data": f"cust:check:{payment_id}"}]
        ]
    }


# -- /start ---------------------------------------------------------------------------------------


async def test_plain_start_explains_the_bot(bot):
    calls = await bot.h.send(CUSTOMER, "/start")

    assert sent(calls) == [
        ("sendMessage", CUSTOMER, customer_texts.intro("Household Planet Kenya", "en"), None)
    ]


async def test_start_with_unknown_code_says_why_and_how(bot):
    calls = await bot.h.send(CUSTOMER, "/start HPNOPE")

    text = (
        "⚠️ No order HPNOPE exists. Check the link you were sent.\n\n"
        "Open the payment link the shop sent you, or send <code>/start ORDERCODE</code>."
    )
    assert sent(calls) == [("sendMessage", CUSTOMER, text, None)]


async def test_start_with_a_paid_order_says_nothing_is_left_to_pay(bot, order):
    await Order.filter(id=order.id).update(status=OrderStatus.PAID, paid_receipt="UKK4Q7M2XB")

    calls = await bot.h.send(CUSTOMER, f"/start {order.code}")

    text = f"⚠️ Order {order.code} is already paid (receipt UKK4Q7M2XB). Nothing more to pay."
    assert sent(calls) == [("sendMessage", CUSTOMER, text, None)]


# -- paying ---------------------------------------------------------------------------------------


async def test_deep_link_then_own_contact_pushes_the_order(bot, order):
    opened = await bot.h.send(CUSTOMER, f"/start {order.code}", first_name="Amina")
    assert sent(opened) == [("sendMessage", CUSTOMER, summary(order), CONTACT_KEYBOARD)]

    calls = await bot.h.share_contact(CUSTOMER, "+254708374149")

    assert bot.daraja.called("stk_push") == [
        {
            "msisdn": MSISDN,
            "amount": 1200,
            "reference": order.code,
            "description": "Order payment",
        }
    ]
    payment = await Payment.get(order_id=order.id)
    assert sent(calls) == [
        (
            "sendMessage",
            CUSTOMER,
            "Thanks! Sending the M-Pesa request to 0708 374 149…",
            REMOVE_KEYBOARD,
        ),
        ("sendMessage", CUSTOMER, await card(payment.id), check_button(payment.id)),
    ]
    shown = bot.h.last_message(CUSTOMER)
    assert (payment.status, payment.chat_id, payment.message_id) == (
        PaymentStatus.PENDING,
        CUSTOMER,
        shown["message_id"],
    )
    customer = await Customer.get(telegram_id=CUSTOMER)
    assert (customer.name, customer.msisdn, payment.customer_id) == ("Amina", MSISDN, customer.id)


async def test_someone_elses_contact_is_refused_and_asked_again(bot, order):
    await bot.h.send(CUSTOMER, f"/start {order.code}")

    calls = await bot.h.share_contact(CUSTOMER, "254708374149", contact_user_id=STRANGER)

    assert sent(calls) == [("sendMessage", CUSTOMER, f"⚠️ {OWN_NUMBER}", CONTACT_KEYBOARD)]
    assert bot.daraja.called("stk_push") == []


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("0733 123 456", "0733 123 456 is an Airtel number; M-Pesa needs Safaricom."),
        ("my number is <b>", "my number is &lt;b&gt; is not a phone number."),
    ],
)
async def test_typed_number_mpesa_cannot_use_gets_the_reason(bot, order, typed, reason):
    await bot.h.send(CUSTOMER, f"/start {order.code}")

    calls = await bot.h.send(CUSTOMER, typed)

    text = f"⚠️ {reason}\n\n{customer_texts.USAGE_NUMBER}"
    assert sent(calls) == [("sendMessage", CUSTOMER, text, CONTACT_KEYBOARD)]
    assert bot.daraja.called("stk_push") == []


async def test_typed_safaricom_number_pays(bot, order):
    await bot.h.send(CUSTOMER, f"/start {order.code}")

    await bot.h.send(CUSTOMER, "0712 345 678")

    assert [c["msisdn"] for c in bot.daraja.called("stk_push")] == ["254712345678"]


async def test_remembered_phone_is_offered_next_time_and_pays_by_button(bot, order):
    await bot.h.send(CUSTOMER, f"/start {order.code}")
    await bot.h.share_contact(CUSTOMER, "254708374149")
    first = await Payment.get(order_id=order.id)
    await bot.services.payments.apply_stk_callback(
        stk_callback(first.checkout_request_id, amount=1200)
    )
    admin = await bot.services.staff.find(ADMIN)
    second = await bot.services.orders.create_order(
        1200, "Blender <2L>", created_by=admin, actor="tg:1001"
    )

    opened = await bot.h.send(CUSTOMER, f"/start {second.code}")
    buttons = {
        "inline_keyboard": [
            [{"text": "Pay with 0708 374 149", "callback_data": f"cust:pay:{second.id}"}],
            [{"text": "Use another number", "callback_data": f"cust:phone:{second.id}"}],
        ]
    }
    assert sent(opened) == [("sendMessage", CUSTOMER, summary(second, "0708 374 149"), buttons)]
    summary_id = bot.h.last_message(CUSTOMER)["message_id"]

    calls = await bot.h.press(CUSTOMER, f"cust:pay:{second.id}", message_id=summary_id)

    payment = await Payment.get(order_id=second.id)
    assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageText"]
    assert sent(calls) == [
        ("editMessageText", CUSTOMER, await card(payment.id), check_button(payment.id))
    ]
    assert (payment.msisdn, payment.message_id) == (MSISDN, summary_id)


async def test_use_another_number_asks_then_pays_with_it(bot, order):
    await bot.services.customers.set_phone(CUSTOMER, "0708374149")
    await bot.h.send(CUSTOMER, f"/start {order.code}")
    summary_id = bot.h.last_message(CUSTOMER)["message_id"]

    asked = await bot.h.press(CUSTOMER, f"cust:phone:{order.id}", message_id=summary_id)
    assert sent(asked) == [
        ("sendMessage", CUSTOMER, customer_texts.ask_number(MSISDN, "en"), CONTACT_KEYBOARD)
    ]
    await bot.h.send(CUSTOMER, "0712345678")

    assert [c["msisdn"] for c in bot.daraja.called("stk_push")] == ["254712345678"]


async def test_pay_button_of_an_order_never_opened_is_refused(bot, order):
    await bot.services.customers.set_phone(STRANGER, "0708374149")

    calls = await bot.h.press(STRANGER, f"cust:pay:{order.id}", message_id=1)

    text = "⚠️ This button belongs to an order you have not opened. Open its link again."
    assert sent(calls) == [("sendMessage", STRANGER, text, None)]
    assert bot.daraja.called("stk_push") == []


@pytest.mark.parametrize(
    "data", ["cust:pay:abc", "cust:zap:1", "cust:", "cust:pay:99999999999999999999"]
)
async def test_forged_button_data_is_answered_not_crashed(bot, data):
    calls = await bot.h.press(CUSTOMER, data, message_id=1)

    assert [c.method for c in calls] == ["answerCallbackQuery", "sendMessage"]
    assert sent(calls)[0][2] == "⚠️ This button is no longer valid. Open the payment link again."


async def test_customer_retries_own_cancelled_payment_and_a_stranger_cannot(bot, order):
    await bot.h.send(CUSTOMER, f"/start {order.code}")
    await bot.h.share_contact(CUSTOMER, "254708374149")
    first = await Payment.get(order_id=order.id)
    await bot.services.payments.apply_stk_callback(
        stk_callback(first.checkout_request_id, result_code=1032)
    )

    refused = await bot.h.press(STRANGER, f"cust:retry:{first.id}", message_id=first.message_id)
    retried = await bot.h.press(CUSTOMER, f"cust:retry:{first.id}", message_id=first.message_id)

    assert sent(refused) == [
        (
            "sendMessage",
            STRANGER,
            "⚠️ This payment was not started from your chat, so you cannot change it here.",
            None,
        ),
    ]
    second = await Payment.get(order_id=order.id, attempt=2)
    assert (second.msisdn, second.amount, second.customer_id) == (MSISDN, 1200, first.customer_id)
    assert len(bot.daraja.called("stk_push")) == 2
    assert ("sendMessage", CUSTOMER, await card(second.id), check_button(second.id)) in sent(
        retried
    )
    assert (await Payment.get(id=second.id)).message_id == bot.h.last_message(CUSTOMER)[
        "message_id"
    ]


# -- /phone ---------------------------------------------------------------------------------------


async def test_phone_command_asks_then_remembers_the_new_number(bot):
    await bot.services.customers.set_phone(CUSTOMER, "0708374149")

    asked = await bot.h.send(CUSTOMER, "/phone")
    saved = await bot.h.send(CUSTOMER, "0712 345 678")

    prompt = f"You pay with 0708 374 149 now.\n{customer_texts.USAGE_NUMBER}"
    assert sent(asked) == [("sendMessage", CUSTOMER, prompt, CONTACT_KEYBOARD)]
    done = "✅ Saved: you will pay with 0712 345 678 from now on. Change it any time with /phone."
    assert sent(saved) == [("sendMessage", CUSTOMER, done, REMOVE_KEYBOARD)]
    assert (await Customer.get(telegram_id=CUSTOMER)).msisdn == "254712345678"
    assert bot.daraja.called("stk_push") == []


async def test_phone_command_with_a_number_sets_it_or_says_why_not(bot):
    refused = await bot.h.send(CUSTOMER, "/phone 0733 123 456")
    saved = await bot.h.send(CUSTOMER, "/phone 0712345678")

    reason = "⚠️ 0733 123 456 is an Airtel number; M-Pesa needs Safaricom."
    assert sent(refused) == [
        ("sendMessage", CUSTOMER, f"{reason}\n\n{customer_texts.USAGE_PHONE}", CONTACT_KEYBOARD)
    ]
    assert sent(saved)[0][2].startswith("✅ Saved: you will pay with 0712 345 678")


# -- /orders, /help, free text --------------------------------------------------------------------


async def test_orders_lists_only_own_orders(bot, order):
    await bot.h.send(CUSTOMER, f"/start {order.code}")
    await Order.filter(id=order.id).update(status=OrderStatus.PAID, paid_receipt="UKK4Q7M2XB")

    mine = await bot.h.send(CUSTOMER, "/orders")
    theirs = await bot.h.send(STRANGER, "/orders")

    line = (
        f"• Order <code>{order.code}</code> — Blender &lt;2L&gt; — KES 1,200 — ✅ paid "
        "(receipt <code>UKK4Q7M2XB</code>)"
    )
    assert sent(mine) == [("sendMessage", CUSTOMER, f"<b>Your orders</b>\n{line}", None)]
    assert sent(theirs)[0][2] == (
        "You have no orders yet. Open the payment link the shop sent you to start."
    )


async def test_orders_with_arguments_gets_the_usage(bot):
    calls = await bot.h.send(CUSTOMER, "/orders all")

    text = f"⚠️ /orders takes no arguments.\n\n{customer_texts.USAGE_ORDERS}"
    assert sent(calls) == [("sendMessage", CUSTOMER, text, None)]


async def test_long_order_list_fits_one_message(bot, db):
    customer = await bot.services.customers.get_or_create(CUSTOMER, name="A", chat_id=CUSTOMER)
    for n in range(50):
        await Order.create(
            code=f"HPLONG{n:04d}", amount=100, description="x" * 200, customer=customer
        )

    calls = await bot.h.send(CUSTOMER, "/orders")

    text = sent(calls)[0][2]
    assert len(text) <= 4096
    assert text.endswith(" more")


async def test_help_for_customers_and_for_staff(bot):
    customer = await bot.h.send(CUSTOMER, "/help")
    admin = await bot.h.send(ADMIN, "/help")

    assert sent(customer)[0][2] == customer_texts.help_text("en")
    assert sent(admin)[0][2] == staff_texts.ADMIN_HELP


async def test_free_text_gets_a_short_help(bot):
    customer = await bot.h.send(CUSTOMER, "hello?")
    admin = await bot.h.send(ADMIN, "hello?")

    assert sent(customer) == [("sendMessage", CUSTOMER, customer_texts.short_help("en"), None)]
    assert sent(admin)[0][2] == staff_texts.FREE_TEXT_HELP


async def test_unknown_command_points_to_help(bot):
    calls = await bot.h.send(CUSTOMER, "/pay 100")

    assert sent(calls) == [
        ("sendMessage", CUSTOMER, "⚠️ /pay is not a command I know.\n\nSee /help.", None)
    ]


# -- restarts -------------------------------------------------------------------------------------


async def test_restart_mid_conversation_continues_from_the_database(bot, order, settings):
    await bot.h.send(CUSTOMER, f"/start {order.code}")
    await bot.h.stop()

    # a second process on the same database: no memory of the first one
    second = await start_bot(settings)
    try:
        calls = await second.h.share_contact(CUSTOMER, "254708374149")
        shown = second.h.last_message(CUSTOMER)
    finally:
        await second.h.stop()

    payment = await Payment.get(order_id=order.id)
    assert [c["reference"] for c in second.daraja.called("stk_push")] == [order.code]
    assert sent(calls)[-1] == (
        "sendMessage",
        CUSTOMER,
        await card(payment.id),
        check_button(payment.id),
    )
    assert payment.message_id == shown["message_id"]
