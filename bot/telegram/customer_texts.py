"""What customers read in the chat (HTML), in their language: orders, prompts, receipts, help.

Every message is a gettext message (``_("…")``): the Kiswahili lives in
``bot/i18n/locale/sw/LC_MESSAGES/messages.po``. User text goes through ``html.escape``.
"""

from __future__ import annotations

from html import escape

from bot.i18n import LANGUAGE_NAMES
from bot.i18n import N_
from bot.i18n import kes
from bot.i18n import translate
from bot.i18n import translator
from bot.i18n import when
from bot.telegram.texts import phone
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import Provider

MESSAGE_LIMIT = 4096
# room for the "…and N more" line under a long list
LIST_BUDGET = MESSAGE_LIMIT - 100

USAGE_START = N_("Open the payment link the shop sent you, or send <code>/start ORDERCODE</code>.")
USAGE_PHONE = N_(
    "Usage: <code>/phone</code> to share or type a new number, or "
    "<code>/phone 0712 345 678</code> to set it directly."
)
USAGE_ORDERS = N_("Usage: <code>/orders</code> (no arguments) lists your orders.")
USAGE_NUMBER = N_(
    "Tap <b>📱 Share my phone number</b> below, or type the Safaricom number you want to "
    "pay with, e.g. <code>0712 345 678</code>."
)
USAGE_LANGUAGE = N_(
    "Usage: <code>/language</code> to choose, or <code>/language sw</code> for Kiswahili and "
    "<code>/language en</code> for English."
)
NO_ARGUMENTS = N_("/orders takes no arguments.")
UNKNOWN_COMMAND = N_("{command} is not a command I know.")
SEE_HELP = N_("See /help.")
STALE_BUTTON = N_("This button is no longer valid. Open the payment link again.")

SHARE_BUTTON = N_("📱 Share my phone number")
TYPE_PLACEHOLDER = N_("or type 07XX XXX XXX")
PAY_WITH = N_("Pay with {phone}")
ANOTHER_NUMBER = N_("Use another number")
RETRY_BUTTON = N_("🔁 Try again")
CHECK_BUTTON = N_("🔄 Check with M-Pesa")
AIRTEL_CHECK_BUTTON = N_("🔄 Check with Airtel Money")

ORDER_STATUS = {
    OrderStatus.OPEN: N_("⏳ waiting for payment"),
    OrderStatus.PAID: N_("✅ paid"),
    OrderStatus.CANCELLED: N_("✖️ cancelled"),
}

# what the customer's own status message says (the cashier's card speaks of "the customer")
PAYMENT_HEADLINE = {
    PaymentStatus.CREATED: N_("⏳ Sending the request to M-Pesa…"),
    PaymentStatus.PENDING: N_("📲 Check your phone and enter your M-Pesa PIN."),
    PaymentStatus.UNKNOWN: N_("❔ M-Pesa has not answered yet. We are checking…"),
    PaymentStatus.PAID: N_("✅ Paid"),
    PaymentStatus.CANCELLED: N_("✖️ You cancelled the M-Pesa prompt."),
    PaymentStatus.INSUFFICIENT_FUNDS: N_("✖️ There was not enough money on your M-Pesa."),
    PaymentStatus.WRONG_PIN: N_("✖️ The M-Pesa PIN was wrong."),
    PaymentStatus.TIMED_OUT: N_("⌛ The prompt timed out before the PIN was entered."),
    PaymentStatus.FAILED: N_("✖️ M-Pesa could not complete the payment."),
    PaymentStatus.REVIEW: N_("⚠️ M-Pesa says you paid, but the shop must check it first."),
    PaymentStatus.REVERSED: N_("↩️ Reversed: the money was sent back to you."),
}
# the same for a payment by Airtel Money (only the lines that name the provider differ)
AIRTEL_HEADLINE = {
    **PAYMENT_HEADLINE,
    PaymentStatus.CREATED: N_("⏳ Sending the request to Airtel Money…"),
    PaymentStatus.PENDING: N_("📲 Check your phone and enter your Airtel Money PIN."),
    PaymentStatus.UNKNOWN: N_("❔ Airtel Money has not answered yet. We are checking…"),
    PaymentStatus.CANCELLED: N_("✖️ The Airtel Money prompt was cancelled or not answered."),
    PaymentStatus.INSUFFICIENT_FUNDS: N_("✖️ There was not enough money on your Airtel Money."),
    PaymentStatus.WRONG_PIN: N_("✖️ The Airtel Money PIN was wrong."),
    PaymentStatus.FAILED: N_("✖️ Airtel Money could not complete the payment."),
    PaymentStatus.REVIEW: N_("⚠️ Airtel Money says you paid, but the shop must check it first."),
}
NEXT_STEP = {
    PaymentStatus.CANCELLED: N_("Tap 🔁 Try again when you are ready."),
    PaymentStatus.INSUFFICIENT_FUNDS: N_("Top up your M-Pesa, then tap 🔁 Try again."),
    PaymentStatus.WRONG_PIN: N_("Tap 🔁 Try again and enter your PIN carefully."),
    PaymentStatus.TIMED_OUT: N_("Keep your phone unlocked and tap 🔁 Try again."),
    PaymentStatus.FAILED: N_("Tap 🔁 Try again, or ask the shop for help."),
    PaymentStatus.REVIEW: N_("The shop will contact you. You do not need to pay again."),
    PaymentStatus.UNKNOWN: N_("Do not pay again: the shop checks with M-Pesa and tells you."),
}
AIRTEL_NEXT_STEP = {
    **NEXT_STEP,
    PaymentStatus.INSUFFICIENT_FUNDS: N_("Top up your Airtel Money, then tap 🔁 Try again."),
    PaymentStatus.UNKNOWN: N_("Do not pay again: the shop checks with Airtel Money and tells you."),
}


def intro(business_name: str, language: str) -> str:
    """What a plain /start says: what the bot does and how to begin."""
    _ = translator(language)
    return _(
        "👋 This is the M-Pesa payment bot of <b>{business}</b>.\n\n"
        "When the shop sends you a payment link, open it here: you will see your order, "
        "choose the Safaricom number to pay with, and confirm with your M-Pesa PIN on your "
        "phone. You get a receipt here as soon as M-Pesa confirms.\n\n"
        "/orders — your orders and their status\n"
        "/phone — change the number you pay with\n"
        "/language — Kiswahili or English\n"
        "/help — how paying works",
        business=escape(business_name),
    )


def help_text(language: str) -> str:
    """The customer's /help."""
    _ = translator(language)
    return _(
        "<b>How paying works</b>\n"
        "1. Open the payment link the shop sent you.\n"
        "2. Share your phone number with the button, or type another Safaricom number.\n"
        "3. Your phone shows an M-Pesa prompt: check the amount and enter your PIN.\n"
        "4. This chat shows the status and your receipt.\n\n"
        "If the prompt did not come or you cancelled it, tap <b>🔁 Try again</b> on the "
        "message.\n\n"
        "/orders — your orders and their status\n"
        "/phone — change the number you pay with\n"
        "/language — Kiswahili or English\n"
        "/start — what this bot does"
    )


def short_help(language: str) -> str:
    """The answer to free text that is not understood."""
    _ = translator(language)
    return _(
        "I did not understand that. To pay, open the payment link the shop sent you.\n"
        "/orders — your orders · /phone — change your number · /help — how paying works"
    )


def text(message: str, language: str, **params: str) -> str:
    """One of this module's constants in ``language``."""
    return translate(language, message, **params)


def refusal(reason: str, language: str, usage: str | None = None) -> str:
    """A refusal (already translated) with the usage in ``language`` when it helps."""
    shown = f"⚠️ {escape(reason)}"
    if usage:
        shown += f"\n\n{translate(language, usage)}"
    return shown


def order_line(order: Order, language: str = "en") -> str:
    """An order in one line: Order <code>HP7K2Q</code> — Blender (description escaped)."""
    _ = translator(language)
    line = _("Order <code>{code}</code>", code=escape(order.code))
    if order.description:
        line += f" — {escape(order.description)}"
    return line


def order_summary(
    order: Order, remembered_msisdn: str | None, language: str, *, airtel: bool = False
) -> str:
    """The order a deep link opened, and how to pay it (``airtel``: Airtel Money is taken too)."""
    _ = translator(language)
    lines = [
        f"🧾 {order_line(order, language)}",
        _("Amount: <b>{amount}</b>", amount=kes(order.amount)),
        "",
    ]
    if airtel and remembered_msisdn:
        lines.append(
            _(
                "To pay with M-Pesa or Airtel Money, tap <b>Pay with {phone}</b>, or use "
                "another Safaricom or Airtel number.",
                phone=phone(remembered_msisdn),
            )
        )
    elif airtel:
        lines.append(
            _(
                "To pay with M-Pesa or Airtel Money, share your phone number or type another "
                "Safaricom or Airtel number."
            )
        )
    elif remembered_msisdn:
        lines.append(
            _(
                "To pay with M-Pesa, tap <b>Pay with {phone}</b>, or use another Safaricom number.",
                phone=phone(remembered_msisdn),
            )
        )
    else:
        lines.append(
            _("To pay with M-Pesa, share your phone number or type another Safaricom number.")
        )
    return "\n".join(lines)


def ask_number(current_msisdn: str | None, language: str) -> str:
    """The prompt for a (new) phone number."""
    _ = translator(language)
    now = (
        _("You pay with {phone} now.", phone=phone(current_msisdn)) + "\n" if current_msisdn else ""
    )
    return f"{now}{_(USAGE_NUMBER)}"


def sending(msisdn: str, language: str, *, airtel: bool = False) -> str:
    """Said before the payment request goes out (``airtel``: to an Airtel Money number)."""
    if airtel:
        return translate(
            language, "Thanks! Sending the Airtel Money request to {phone}…", phone=phone(msisdn)
        )
    return translate(
        language, "Thanks! Sending the M-Pesa request to {phone}…", phone=phone(msisdn)
    )


def phone_saved(msisdn: str, language: str) -> str:
    """Said when a number is remembered with nothing to pay right now."""
    return translate(
        language,
        "✅ Saved: you will pay with {phone} from now on. Change it any time with /phone.",
        phone=phone(msisdn),
    )


def language_menu(current: str) -> str:
    """/language without arguments: which language is used now, and the choice."""
    return translate(
        current,
        "You read this bot in {language}. Choose your language:",
        language=LANGUAGE_NAMES[current],
    )


def language_saved(language: str) -> str:
    """Said in the new language once it is chosen."""
    return translate(language, "✅ From now on I will write to you in English.")


def payment_card(payment: Payment, order: Order | None, language: str) -> str:
    """The customer's own live status message of their payment."""
    _ = translator(language)
    status = PaymentStatus(payment.status)
    airtel = payment.provider == Provider.AIRTEL
    headline = AIRTEL_HEADLINE if airtel else PAYMENT_HEADLINE
    next_step = AIRTEL_NEXT_STEP if airtel else NEXT_STEP
    if airtel:
        lines = [_("<b>Airtel Money payment #{number}</b>", number=payment.id)]
    else:
        lines = [_("<b>M-Pesa payment #{number}</b>", number=payment.id)]
    lines.append(
        _("{amount} from {phone}", amount=kes(payment.amount), phone=phone(payment.msisdn))
    )
    if order is not None:
        lines.append(order_line(order, language))
    elif payment.description:
        lines.append(_("For: {what}", what=escape(payment.description)))
    if payment.attempt > 1:
        lines.append(_("Attempt {number}", number=payment.attempt))
    lines.append("")
    lines.append(f"<b>{_(headline[status])}</b>")
    if status in (PaymentStatus.PAID, PaymentStatus.REVERSED):
        lines += _paid_lines(payment, language)
    elif payment.superseded_by_id is not None:
        lines.append(
            _("A newer request (#{number}) replaced this one.", number=payment.superseded_by_id)
        )
    elif status in next_step:
        lines.append(f"👉 {_(next_step[status])}")
    return "\n".join(lines)


def _paid_lines(payment: Payment, language: str) -> list[str]:
    _ = translator(language)
    return [
        receipt_line(payment, language),
        _("Amount: {amount}", amount=kes(payment.paid_amount or payment.amount)),
        _("Paid at: {time}", time=when(payment.paid_at, language)),
    ]


def receipt_of(payment: Payment, language: str) -> str:
    """The provider's receipt number, or what to say when a query confirmed it without one."""
    if payment.provider == Provider.AIRTEL:
        return payment.receipt or translate(language, "confirmed by Airtel Money")
    return payment.receipt or translate(language, "confirmed by M-Pesa")


def receipt_line(payment: Payment, language: str) -> str:
    """ "M-Pesa receipt: X" (or Airtel Money's), in ``language``."""
    _ = translator(language)
    shown = escape(receipt_of(payment, language))
    if payment.provider == Provider.AIRTEL:
        return _("Airtel Money receipt: <code>{receipt}</code>", receipt=shown)
    return _("M-Pesa receipt: <code>{receipt}</code>", receipt=shown)


def receipt(payment: Payment, order: Order | None, language: str) -> str:
    """The customer's receipt message for a paid STK payment."""
    _ = translator(language)
    lines = [_("🧾 <b>Payment received — thank you!</b>")]
    if order is not None:
        lines.append(order_line(order, language))
    elif payment.description:
        lines.append(_("For: {what}", what=escape(payment.description)))
    lines.append(_("Amount: {amount}", amount=kes(payment.paid_amount or payment.amount)))
    lines.append(receipt_line(payment, language))
    lines.append(_("Paid from: {phone}", phone=phone(payment.msisdn)))
    lines.append(_("Paid at: {time}", time=when(payment.paid_at, language)))
    return "\n".join(lines)


def orders_list(orders: list[Order], language: str) -> str:
    """The customer's orders, newest first, cut to one message with "…and N more"."""
    _ = translator(language)
    if not orders:
        return _("You have no orders yet. Open the payment link the shop sent you to start.")
    lines = [_("<b>Your orders</b>")]
    used = len(lines[0])
    for shown, order in enumerate(orders):
        status = _(ORDER_STATUS[OrderStatus(order.status)])
        line = f"• {order_line(order, language)} — {kes(order.amount)} — {status}"
        if order.status == OrderStatus.PAID and order.paid_receipt:
            line += " " + _("(receipt <code>{receipt}</code>)", receipt=escape(order.paid_receipt))
        if used + len(line) + 1 > LIST_BUDGET:
            lines.append(_("…and {count} more", count=len(orders) - shown))
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)
