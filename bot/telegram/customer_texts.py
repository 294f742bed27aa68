"""What customers read (HTML): order summaries, phone prompts, receipts, their orders, help."""

from __future__ import annotations

from html import escape

from bot.telegram.texts import kes, phone, when
from models import Order, OrderStatus, Payment

MESSAGE_LIMIT = 4096
# room for the "…and N more" line under a long list
LIST_BUDGET = MESSAGE_LIMIT - 100

USAGE_START = "Open the payment link the shop sent you, or send <code>/start ORDERCODE</code>."
USAGE_PHONE = (
    "Usage: <code>/phone</code> to share or type a new number, or "
    "<code>/phone 0712 345 678</code> to set it directly."
)
USAGE_ORDERS = "Usage: <code>/orders</code> (no arguments) lists your orders."
USAGE_NUMBER = (
    "Tap <b>📱 Share my phone number</b> below, or type the Safaricom number you want to "
    "pay with, e.g. <code>0712 345 678</code>."
)

SHARE_BUTTON = "📱 Share my phone number"

ORDER_STATUS = {
    OrderStatus.OPEN: "⏳ waiting for payment",
    OrderStatus.PAID: "✅ paid",
    OrderStatus.CANCELLED: "✖️ cancelled",
}


def intro(business_name: str) -> str:
    """What a plain /start says: what the bot does and how to begin."""
    return (
        f"👋 This is the M-Pesa payment bot of <b>{escape(business_name)}</b>.\n\n"
        "When the shop sends you a payment link, open it here: you will see your order, "
        "choose the Safaricom number to pay with, and confirm with your M-Pesa PIN on your phone. "
        "You get a receipt here as soon as M-Pesa confirms.\n\n"
        "/orders — your orders and their status\n"
        "/phone — change the number you pay with\n"
        "/help — how paying works"
    )


def help_text() -> str:
    """The customer's /help."""
    return (
        "<b>How paying works</b>\n"
        "1. Open the payment link the shop sent you.\n"
        "2. Share your phone number with the button, or type another Safaricom number.\n"
        "3. Your phone shows an M-Pesa prompt: check the amount and enter your PIN.\n"
        "4. This chat shows the status and your receipt.\n\n"
        "If the prompt did not come or you cancelled it, tap <b>🔁 Retry</b> on the message.\n\n"
        "/orders — your orders and their status\n"
        "/phone — change the number you pay with\n"
        "/start — what this bot does"
    )


def short_help() -> str:
    """The answer to free text that is not understood."""
    return (
        "I did not understand that. To pay, open the payment link the shop sent you.\n"
        "/orders — your orders · /phone — change your number · /help — how paying works"
    )


def order_line(order: Order) -> str:
    """An order in one line: Order <code>HP7K2Q</code> — Blender (description escaped)."""
    line = f"Order <code>{escape(order.code)}</code>"
    if order.description:
        line += f" — {escape(order.description)}"
    return line


def order_summary(order: Order, remembered_msisdn: str | None) -> str:
    """The order a deep link opened, and how to pay it."""
    lines = [f"🧾 {order_line(order)}", f"Amount: <b>{kes(order.amount)}</b>", ""]
    if remembered_msisdn:
        lines.append(
            f"To pay with M-Pesa, tap <b>Pay with {phone(remembered_msisdn)}</b>, "
            "or use another Safaricom number."
        )
    else:
        lines.append(
            "To pay with M-Pesa, share your phone number or type another Safaricom number."
        )
    return "\n".join(lines)


def ask_number(current_msisdn: str | None) -> str:
    """The prompt for a (new) phone number."""
    now = f"You pay with {phone(current_msisdn)} now.\n" if current_msisdn else ""
    return f"{now}{USAGE_NUMBER}"


def sending(msisdn: str) -> str:
    """Said before the STK Push goes out."""
    return f"Thanks! Sending the M-Pesa request to {phone(msisdn)}…"


def phone_saved(msisdn: str) -> str:
    """Said when a number is remembered with nothing to pay right now."""
    return (
        f"✅ Saved: you will pay with {phone(msisdn)} from now on. Change it any time with /phone."
    )


def receipt(payment: Payment, order: Order | None) -> str:
    """The customer's receipt message for a paid STK payment."""
    lines = ["🧾 <b>Payment received — thank you!</b>"]
    if order is not None:
        lines.append(order_line(order))
    elif payment.description:
        lines.append(f"For: {escape(payment.description)}")
    lines.append(f"Amount: {kes(payment.paid_amount or payment.amount)}")
    lines.append(f"M-Pesa receipt: <code>{escape(payment.receipt or 'confirmed by query')}</code>")
    lines.append(f"Paid from: {phone(payment.msisdn)}")
    lines.append(f"Paid at: {when(payment.paid_at)}")
    return "\n".join(lines)


def orders_list(orders: list[Order]) -> str:
    """The customer's orders, newest first, cut to one message with "…and N more"."""
    if not orders:
        return "You have no orders yet. Open the payment link the shop sent you to start."
    lines = ["<b>Your orders</b>"]
    used = len(lines[0])
    for shown, order in enumerate(orders):
        status = ORDER_STATUS.get(OrderStatus(order.status), str(order.status))
        line = f"• {order_line(order)} — {kes(order.amount)} — {status}"
        if order.status == OrderStatus.PAID and order.paid_receipt:
            line += f" (receipt <code>{escape(order.paid_receipt)}</code>)"
        if used + len(line) + 1 > LIST_BUDGET:
            lines.append(f"…and {len(orders) - shown} more")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)
