"""Staff administration in the chat: /staff, /order, /reverse with its confirmation."""

from __future__ import annotations

import pytest

from bot.services.documents import qr_png
from bot.services.staff import ADMINS_ONLY
from bot.services.staff import REFUSAL
from bot.telegram import menus
from bot.telegram import staff_keyboards
from bot.telegram import staff_texts
from bot.telegram import texts
from models import AuditEvent
from models import C2BTransaction
from models import Customer
from models import Notification
from models import NotificationChannel
from models import Order
from models import Payment
from models import PaymentStatus
from models import Reversal
from models import ReversalStatus
from models import Staff
from models import StaffRole
from tests.helpers.stk import stk_callback
from tests.helpers.telegram import ADMIN_ID
from tests.helpers.telegram import CASHIER_ID
from tests.helpers.telegram import STRANGER_ID
from tests.helpers.telegram import World
from tests.telegram.test_staff_payments import markup

NEW_ID = 4004


# -- /staff --------------------------------------------------------------------------------------


async def test_staff_list(world: World) -> None:
    calls = await world.h.send(ADMIN_ID, "/staff")

    # a bootstrap admin has no name until they act: then their Telegram name is kept
    assert world.h.texts(calls) == [
        "<b>Staff (2)</b>\n"
        f"• User — <code>{ADMIN_ID}</code> — admin — payouts up to KES 100,000 a day\n"
        f"• Mary — <code>{CASHIER_ID}</code> — cashier — payouts up to KES 100,000 a day\n"
        f"\n{staff_texts.USAGE_STAFF}"
    ]


async def test_staff_add_then_remove_updates_the_menus(world: World) -> None:
    added = await world.h.send(ADMIN_ID, f"/staff add {NEW_ID} Cashier Jane <Till 2>")

    assert world.h.texts(added) == [
        f"✅ Jane &lt;Till 2&gt; (<code>{NEW_ID}</code>) is now a cashier. "
        "Their command menu updates when they next open the bot."
    ]
    menus = [c.params.get("scope") for c in added if c.method == "setMyCommands"]
    assert {"type": "chat", "chat_id": NEW_ID} in menus
    member = await Staff.get(telegram_id=NEW_ID)
    assert (member.role, member.active, member.name) == (StaffRole.CASHIER, True, "Jane <Till 2>")

    removed = await world.h.send(ADMIN_ID, f"/staff remove {NEW_ID}")

    assert world.h.texts(removed) == [
        f"✅ Jane &lt;Till 2&gt; (<code>{NEW_ID}</code>) is no longer staff."
    ]
    assert (await Staff.get(telegram_id=NEW_ID)).active is False
    assert [(c.method, c.params["scope"]) for c in removed if "MyCommands" in c.method] == [
        ("deleteMyCommands", {"type": "chat", "chat_id": NEW_ID})
    ]
    refused = await world.h.send(NEW_ID, "/request 0708374149 10")
    assert world.h.texts(refused) == [texts.refusal(REFUSAL)]


def menu_of(calls, chat_id: int) -> list[str] | None:
    """The commands set for one chat in these calls (None: none set)."""
    for call in calls:
        if call.method == "setMyCommands" and call.params["scope"].get("chat_id") == chat_id:
            return [command["command"] for command in call.params["commands"]]
    return None


async def test_a_role_change_changes_the_menu_at_once(world: World) -> None:
    as_cashier = await world.h.send(ADMIN_ID, f"/staff add {NEW_ID} cashier Jane")
    as_admin = await world.h.send(ADMIN_ID, f"/staff add {NEW_ID} admin Jane")
    back = await world.h.send(ADMIN_ID, f"/staff add {NEW_ID} cashier Jane")

    assert menu_of(as_cashier, NEW_ID) == [c.command for c in menus.CASHIER_COMMANDS]
    assert menu_of(as_admin, NEW_ID) == [c.command for c in menus.ADMIN_COMMANDS]
    assert menu_of(back, NEW_ID) == [c.command for c in menus.CASHIER_COMMANDS]
    # only the changed person's menu is touched
    assert {c.params["scope"].get("chat_id") for c in as_admin if "MyCommands" in c.method} == {
        NEW_ID
    }


async def test_start_up_takes_the_menu_away_from_staff_removed_while_it_was_down(
    world: World,
) -> None:
    await world.services.staff.add_as_operator(NEW_ID, "cashier", "Jane")
    await world.services.staff.remove_as_operator(NEW_ID)
    world.h.api.calls.clear()

    await menus.publish_commands(world.h.app, world.services)

    chats = {
        (c.method, c.params["scope"].get("chat_id"))
        for c in world.h.api.calls
        if c.params.get("scope", {}).get("type") == "chat"
    }
    assert ("deleteMyCommands", NEW_ID) in chats
    assert ("setMyCommands", CASHIER_ID) in chats
    assert ("setMyCommands", NEW_ID) not in chats


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("/staff add", "Give the user id and the role (admin or cashier)."),
        ("/staff add 4004 boss", "The role must be admin or cashier."),
        (
            "/staff add @jane cashier",
            "@jane is not a Telegram user id (a number; the person can see theirs in "
            "@userinfobot).",
        ),
        ("/staff remove", "Give the user id of the person to remove (only one)."),
        ("/staff remove 4004", "No active staff member has the Telegram id 4004."),
        ("/staff fire 4004", "fire is not a /staff action; use add, remove or limit."),
    ],
)
async def test_staff_wrong_input(world: World, command: str, reason: str) -> None:
    calls = await world.h.send(ADMIN_ID, command)

    assert world.h.texts(calls) == [texts.refusal(reason, staff_texts.USAGE_STAFF)]


async def test_staff_cannot_remove_themselves(world: World) -> None:
    calls = await world.h.send(ADMIN_ID, f"/staff remove {ADMIN_ID}")

    assert world.h.texts(calls) == [texts.refusal("You cannot remove yourself.")]


async def test_a_cashier_cannot_manage_staff(world: World) -> None:
    calls = await world.h.send(CASHIER_ID, f"/staff add {NEW_ID} admin")

    assert world.h.texts(calls) == [texts.refusal(ADMINS_ONLY)]
    assert await Staff.get_or_none(telegram_id=NEW_ID) is None


# -- /order --------------------------------------------------------------------------------------


async def test_order_replies_with_both_links_and_the_qr_code_of_the_pay_page(world: World) -> None:
    calls = await world.h.send(CASHIER_ID, "/order 1,500 Blender <2L>")

    order = await Order.get()
    assert (order.amount, order.description) == (1500, "Blender <2L>")
    assert order.created_by_id == (await Staff.get(telegram_id=CASHIER_ID)).id
    [photo] = [c for c in calls if c.method == "sendPhoto"]
    assert photo.params["caption"] == (
        f"<b>Order <code>{order.code}</code></b>\nKES 1,500\nBlender &lt;2L&gt;\n"
        "⏳ Open, not paid yet\n\n"
        "Send the customer one of these links, or let them scan the QR code:\n"
        f"🌐 Web page: https://pay.example.co.ke/pay/{order.code}\n"
        f"💬 Telegram: https://t.me/HouseholdPlanetPayBot?start={order.code}"
    )
    png = photo.params["photo"]["content"]
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png == qr_png(f"https://pay.example.co.ke/pay/{order.code}")


async def test_link_creates_the_order_and_texts_its_pay_link(world: World) -> None:
    calls = await world.h.send(CASHIER_ID, "/link 0712345678 2,500 Microwave 20L")

    order = await Order.get()
    assert (order.amount, order.description, order.created_via) == (2500, "Microwave 20L", "link")
    [sms] = await Notification.filter(channel=NotificationChannel.SMS)
    assert (sms.recipient, sms.event_key) == (
        "254712345678",
        f"order:{order.id}:link:sms:254712345678",
    )
    assert sms.payload["text"] == (
        f"Household Planet Kenya: please pay KES 2,500 for Microwave 20L with M-Pesa here: "
        f"https://pay.example.co.ke/pay/{order.code}"
    )
    assert world.h.texts(calls)[0].endswith(
        f"📱 The pay link is on its way to 0712 345 678 by SMS:\n"
        f"https://pay.example.co.ke/pay/{order.code}"
    )


async def test_link_texts_in_the_language_remembered_for_that_phone(world: World) -> None:
    await Customer.create(msisdn="254712345678", language="sw")

    await world.h.send(CASHIER_ID, "/link 0712345678 900")

    order = await Order.get()
    [sms] = await Notification.filter(channel=NotificationChannel.SMS)
    assert sms.payload["text"] == (
        f"Household Planet Kenya: tafadhali lipa KES 900 kwa oda {order.code} kupitia M-Pesa "
        f"hapa: https://pay.example.co.ke/pay/{order.code}"
    )


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("/link", "Give the customer's phone number and the amount."),
        ("/link 0712345678", "Give the customer's phone number and the amount."),
        ("/link 0733123456 900", "0733123456 is an Airtel number; M-Pesa needs Safaricom"),
    ],
)
async def test_link_wrong_input(world: World, command: str, reason: str) -> None:
    calls = await world.h.send(CASHIER_ID, command)

    assert world.h.texts(calls) == [texts.refusal(reason, staff_texts.USAGE_LINK)]
    assert await Order.all().count() == 0
    assert await Notification.filter(channel=NotificationChannel.SMS).count() == 0


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("/order", "Give the amount and a description the customer will see."),
        ("/order 1500", "Give a description the customer will see."),
        (
            "/order 1.5 Blender",
            "1.5 is not a whole number of shillings; M-Pesa moves whole shillings only",
        ),
    ],
)
async def test_order_wrong_input(world: World, command: str, reason: str) -> None:
    calls = await world.h.send(CASHIER_ID, command)

    assert world.h.texts(calls) == [texts.refusal(reason, staff_texts.USAGE_ORDER)]
    assert await Order.all().count() == 0


# -- /reverse ------------------------------------------------------------------------------------


async def paid_payment(world: World, receipt: str = "UKK4Q7M2XB") -> Payment:
    """A payment the shop received by STK."""
    await world.h.send(CASHIER_ID, "/request 0708374149 1500")
    payment = await Payment.get()
    await world.services.payments.apply_stk_callback(
        stk_callback(payment.checkout_request_id, amount=1500, receipt=receipt)
    )
    return await Payment.get()


async def test_reverse_asks_then_sends_once(world: World) -> None:
    payment = await paid_payment(world)

    asked = await world.h.send(ADMIN_ID, "/reverse ukk4q7m2xb")

    assert world.h.texts(asked) == [
        f"<b>Reverse KES 1,500 received from 0708 374 149, receipt <code>UKK4Q7M2XB</code> "
        f"(#{payment.id})?</b>\nThe money goes back to the payer."
    ]
    assert markup(asked) == staff_keyboards.reverse_buttons("UKK4Q7M2XB").to_dict()
    assert world.daraja.called("reversal") == []
    message_id = asked[0].result["message_id"]

    confirmed = await world.h.press(ADMIN_ID, "rev:confirm:UKK4Q7M2XB", message_id=message_id)
    again = await world.h.press(ADMIN_ID, "rev:confirm:UKK4Q7M2XB", message_id=message_id)

    reversal = await Reversal.get()
    assert reversal.status == ReversalStatus.SUBMITTED
    # the result will be edited into this same card
    assert (reversal.chat_id, reversal.message_id) == (ADMIN_ID, message_id)
    assert [c.method for c in confirmed] == ["answerCallbackQuery", "editMessageText"]
    assert confirmed[1].params["text"] == staff_texts.reversal_card(reversal)
    assert markup(confirmed) is None
    assert world.daraja.called("reversal") == [
        {"transaction_id": "UKK4Q7M2XB", "amount": 1500, "remarks": "Reversal"}
    ]
    assert again[0].params["text"] == (
        f"Receipt UKK4Q7M2XB already has a reversal (R{reversal.id}, submitted)."
    )


async def test_reverse_cancel_sends_nothing(world: World) -> None:
    await paid_payment(world)
    asked = await world.h.send(ADMIN_ID, "/reverse UKK4Q7M2XB")

    calls = await world.h.press(
        ADMIN_ID, "rev:cancel:UKK4Q7M2XB", message_id=asked[0].result["message_id"]
    )

    assert calls[1].params["text"] == (
        "Reversal of <code>UKK4Q7M2XB</code> cancelled; nothing was sent."
    )
    assert world.daraja.called("reversal") == []


async def test_reverse_of_an_unknown_receipt_is_refused_at_once(world: World) -> None:
    calls = await world.h.send(ADMIN_ID, "/reverse ZZZ9999999")

    # looked up first (STK payments and paybill payments): no question, no button
    assert world.h.texts(calls) == [
        texts.refusal(
            "No payment we received has the receipt ZZZ9999999.", staff_texts.USAGE_REVERSE
        )
    ]
    assert markup(calls) is None
    assert world.daraja.called("reversal") == []
    refused = await AuditEvent.get(action="reversal.request")
    assert (refused.subject, refused.outcome) == ("receipt:ZZZ9999999", "refused")


async def test_reverse_of_a_paybill_payment_asks_with_its_amount(world: World) -> None:
    await C2BTransaction.create(
        trans_id="UKL1C2B9ZZ", amount=2300, shortcode="600000", payer_name="John <Doe>"
    )

    asked = await world.h.send(ADMIN_ID, "/reverse ukl1c2b9zz")

    assert world.h.texts(asked) == [
        "<b>Reverse KES 2,300 paid to the paybill by John &lt;Doe&gt;, receipt "
        "<code>UKL1C2B9ZZ</code>?</b>\nThe money goes back to the payer."
    ]
    assert markup(asked) == staff_keyboards.reverse_buttons("UKL1C2B9ZZ").to_dict()
    await world.h.press(
        ADMIN_ID, "rev:confirm:UKL1C2B9ZZ", message_id=asked[0].result["message_id"]
    )
    assert world.daraja.called("reversal") == [
        {"transaction_id": "UKL1C2B9ZZ", "amount": 2300, "remarks": "Reversal"}
    ]


async def test_reverse_of_a_receipt_already_reversed_is_refused_at_once(world: World) -> None:
    await paid_payment(world)
    asked = await world.h.send(ADMIN_ID, "/reverse UKK4Q7M2XB")
    await world.h.press(
        ADMIN_ID, "rev:confirm:UKK4Q7M2XB", message_id=asked[0].result["message_id"]
    )
    reversal = await Reversal.get()

    calls = await world.h.send(ADMIN_ID, "/reverse UKK4Q7M2XB")

    assert world.h.texts(calls) == [
        texts.refusal(f"Receipt UKK4Q7M2XB already has a reversal (R{reversal.id}, submitted).")
    ]
    assert markup(calls) is None
    assert len(world.daraja.called("reversal")) == 1


async def test_reverse_of_an_order_code_says_to_give_its_receipt(world: World) -> None:
    order = await world.services.orders.create_order(
        "1500", "Blender", created_by=await Staff.get(telegram_id=CASHIER_ID), actor="test"
    )

    calls = await world.h.send(ADMIN_ID, f"/reverse {order.code}")

    assert world.h.texts(calls) == [
        texts.refusal(
            f"{order.code} is an order code; give the M-Pesa receipt of its payment "
            f"(see /status {order.code}).",
            staff_texts.USAGE_REVERSE,
        )
    ]
    assert markup(calls) is None


@pytest.mark.parametrize(
    ("command", "reason", "usage"),
    [
        ("/reverse", "Give the M-Pesa receipt of the payment to reverse.", True),
        (
            "/reverse UKK-4Q7",
            "UKK-4Q7 is not an M-Pesa receipt (letters and digits, e.g. UKK4Q7M2XB).",
            True,
        ),
    ],
)
async def test_reverse_wrong_input(world: World, command: str, reason: str, usage: bool) -> None:
    calls = await world.h.send(ADMIN_ID, command)

    assert world.h.texts(calls) == [texts.refusal(reason, staff_texts.USAGE_REVERSE)]


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        pytest.param(
            PaymentStatus.REVIEW,
            "Payment #{id} with receipt UKK4Q7M2XB is under review; resolve it first "
            "(/resolve #{id}), then reverse it if the money must go back.",
            id="under-review",
        ),
        pytest.param(
            PaymentStatus.INSUFFICIENT_FUNDS,
            "Payment #{id} is insufficient funds; only a received payment is reversed.",
            id="brought-nothing-in",
        ),
    ],
)
async def test_reverse_of_a_payment_not_received_is_refused(
    world: World, status: PaymentStatus, reason: str
) -> None:
    await world.h.send(CASHIER_ID, "/request 0708374149 1500")
    payment = await Payment.get()
    await Payment.filter(id=payment.id).update(
        status=status, receipt="UKK4Q7M2XB", in_flight_msisdn=None
    )

    calls = await world.h.send(ADMIN_ID, "/reverse UKK4Q7M2XB")

    assert world.h.texts(calls) == [texts.refusal(reason.format(id=payment.id))]
    assert markup(calls) is None


async def test_reverse_for_a_cashier_and_a_stranger(world: World) -> None:
    assert world.h.texts(await world.h.send(CASHIER_ID, "/reverse UKK4Q7M2XB")) == [
        texts.refusal(ADMINS_ONLY)
    ]
    pressed = await world.h.press(STRANGER_ID, "rev:confirm:UKK4Q7M2XB", message_id=1)
    assert pressed[0].params["text"] == REFUSAL
    assert world.daraja.called("reversal") == []


def test_reverse_buttons_fit_for_the_longest_receipt() -> None:
    rows = staff_keyboards.reverse_buttons("X" * 20).to_dict()["inline_keyboard"]
    assert max(len(b["callback_data"].encode()) for b in rows[0]) <= 64
