"""What customers read outside the chat: SMS receipts and pay links, in plain words.

SMS texts stay in the GSM-7 alphabet in both languages (no emoji, no typographic dashes), so
a receipt is one or two 160-character segments, not 70-character UCS-2 ones.
"""

from __future__ import annotations

from bot.i18n import kes
from bot.i18n import translator
from models import Order
from models import Payment
from models import Payout
from models import Provider


def payment_receipt_sms(
    payment: Payment, order: Order | None, *, business_name: str, language: str
) -> str:
    """The customer's SMS receipt for a paid STK payment."""
    _ = translator(language)
    amount = kes(payment.paid_amount or payment.amount)
    if order is not None:
        text = _(
            "{business}: we received {amount} for order {code}.",
            business=business_name,
            amount=amount,
            code=order.code,
        )
    else:
        text = _(
            "{business}: we received {amount} for {what}.",
            business=business_name,
            amount=amount,
            what=payment.description or payment.account_reference,
        )
    # a payment confirmed by STK query has no receipt number (M-Pesa's own SMS has it)
    if payment.receipt and payment.provider == Provider.AIRTEL:
        text += " " + _("Airtel Money receipt {receipt}.", receipt=payment.receipt)
    elif payment.receipt:
        text += " " + _("M-Pesa receipt {receipt}.", receipt=payment.receipt)
    return text + " " + _("Thank you.")


def payout_sms(payout: Payout, *, business_name: str, language: str) -> str:
    """The recipient's SMS for a completed payout (B2C or Airtel Money)."""
    _ = translator(language)
    if payout.provider == Provider.AIRTEL:
        return _(
            "{business} has sent you {amount} by Airtel Money. Receipt {receipt}. Reason: "
            "{reason}.",
            business=business_name,
            amount=kes(payout.amount),
            receipt=payout.receipt or _("pending"),
            reason=payout.remarks,
        )
    return _(
        "{business} has sent you {amount} by M-Pesa. Receipt {receipt}. Reason: {reason}.",
        business=business_name,
        amount=kes(payout.amount),
        receipt=payout.receipt or _("pending"),
        reason=payout.remarks,
    )


def pay_link_sms(order: Order, link: str, *, business_name: str, language: str) -> str:
    """The SMS that sends a customer the link to pay an order (/link)."""
    _ = translator(language)
    # two whole sentences on purpose: a translator needs each as it is said
    if order.description:
        return _(
            "{business}: please pay {amount} for {what} with M-Pesa here: {link}",
            business=business_name,
            amount=kes(order.amount),
            what=order.description,
            link=link,
        )
    return _(
        "{business}: please pay {amount} for order {code} with M-Pesa here: {link}",
        business=business_name,
        amount=kes(order.amount),
        code=order.code,
        link=link,
    )


# GSM 03.38: the basic alphabet (one septet each) and the extension table (two: ESC + char)
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
GSM7_SINGLE, GSM7_PART = 160, 153  # septets in one SMS, and per part of a long one (UDH)
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units


def sms_segments(text: str) -> tuple[str, int]:
    """("gsm7" or "ucs2", how many SMS segments ``text`` takes) as a phone network counts them."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        length = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        single, part, encoding = GSM7_SINGLE, GSM7_PART, "gsm7"
    else:
        length = len(text.encode("utf-16-le")) // 2  # emoji take two code units
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "ucs2"
    if length <= single:
        return encoding, 1
    return encoding, -(-length // part)
