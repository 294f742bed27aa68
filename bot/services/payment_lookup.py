"""Finding a payment or order from whatever reference a person or shop gives."""

from __future__ import annotations

import re

from bot.services.errors import InvalidInput, NotFound
from bot.services.orders import CODE_MAX_LENGTH, normalize_code
from models import Order, Payment

# the longest reference we store (CheckoutRequestID column)
REFERENCE_MAX_LENGTH = 96


def display_phone(msisdn: str) -> str:
    """A phone as Kenyans write it: "254708374149" -> "0708 374 149"."""
    national = "0" + msisdn[3:] if msisdn.startswith("254") else msisdn
    return f"{national[:4]} {national[4:7]} {national[7:]}".strip()


async def find_payment_or_order(ref: str) -> Payment | Order:
    """The payment (by #id, receipt or CheckoutRequestID) or order (by code) ``ref`` names."""
    text = (ref or "").strip()
    if not text:
        raise InvalidInput("Give a payment number, order code or M-Pesa receipt.", field="ref")
    if len(text) > REFERENCE_MAX_LENGTH:
        raise InvalidInput(
            f"That reference is too long ({len(text)} characters): a payment number, order "
            "code, M-Pesa receipt or CheckoutRequestID is far shorter.",
            field="ref",
        )
    number = re.fullmatch(r"#?\s*([0-9]{1,9})", text)
    if number:
        payment = await Payment.get_or_none(id=int(number.group(1)))
        if payment is not None:
            return payment
    payment = await Payment.get_or_none(checkout_request_id=text)
    if payment is not None:
        return payment
    code = normalize_code(text)
    if len(code) <= CODE_MAX_LENGTH:
        order = await Order.get_or_none(code=code)
        if order is not None:
            return order
        payment = await Payment.get_or_none(receipt=code)
        if payment is not None:
            return payment
    raise NotFound(
        f"Nothing matches {text[:40]}: give a payment number (#12), an order code, "
        "an M-Pesa receipt or a CheckoutRequestID."
    )
