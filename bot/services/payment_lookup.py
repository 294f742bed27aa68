"""Finding a payment or order from whatever reference a person or shop gives."""

from __future__ import annotations

import re

from bot.services.errors import InvalidInput
from bot.services.errors import NotFound
from bot.services.lookups import PreparedSelect
from bot.services.lookups import from_row
from bot.services.lookups import select_list
from bot.services.orders import CODE_MAX_LENGTH
from bot.services.orders import normalize_code
from models import Order
from models import Payment
from mpesa.phone import display_msisdn

# the longest reference we store (CheckoutRequestID column)
REFERENCE_MAX_LENGTH = 96
_NUMBER = re.compile(r"#?\s*([0-9]{1,9})")

# Every reference form in one statement, each on its own unique index: a payment by id,
# CheckoutRequestID, Airtel transaction id or receipt, and an order by code. The one-row source
# keeps the order when no payment matches; the planner runs each ON clause as index lookups
# (SQLite: MULTI-INDEX OR).
_ANY_REFERENCE = PreparedSelect(
    lambda: (
        f"SELECT {select_list(Payment, 'p')}, {select_list(Order, 'o')} "  # noqa: S608 - column names from the models
        "FROM (SELECT 1 AS one) AS ref "
        f'LEFT JOIN "{Payment._meta.db_table}" AS p '
        'ON p."id" = ? OR p."checkout_request_id" = ? OR p."transaction_id" = ? '
        'OR p."receipt" = ? OR p."receipt" = ? '
        f'LEFT JOIN "{Order._meta.db_table}" AS o ON o."code" = ?'
    )
)


display_phone = display_msisdn  # the name the services use


async def find_payment_or_order(ref: str) -> Payment | Order:
    """The payment (by #id, receipt, CheckoutRequestID or Airtel transaction id) or order (by
    code) ``ref`` names.

    One indexed query whatever the form; when a text could name several records, the first of
    #id, CheckoutRequestID (or Airtel transaction id), order code, receipt wins. Receipts match
    upper-cased (M-Pesa's) or as typed (Airtel's are opaque, e.g. MP210603.1234.L06941).
    """
    text = (ref or "").strip()
    if not text:
        raise InvalidInput("Give a payment number, order code or M-Pesa receipt.", field="ref")
    if len(text) > REFERENCE_MAX_LENGTH:
        raise InvalidInput(
            f"That reference is too long ({len(text)} characters): a payment number, order "
            "code, M-Pesa receipt or CheckoutRequestID is far shorter.",
            field="ref",
        )
    number = _NUMBER.fullmatch(text)
    payment_id = int(number.group(1)) if number else None
    code = normalize_code(text)
    code = code if len(code) <= CODE_MAX_LENGTH else None
    # receipts: M-Pesa's read upper-cased (UKK4Q7M2XB), Airtel's also as typed
    receipt = normalize_code(text)
    rows = await _ANY_REFERENCE.rows(payment_id, text, text, receipt, text, code)
    payments = [p for p in (from_row(Payment, "p", row) for row in rows) if p is not None]
    order = from_row(Order, "o", rows[0]) if rows else None
    for payment in payments:
        if payment.id == payment_id:
            return payment
    for payment in payments:
        if text in (payment.checkout_request_id, payment.transaction_id):
            return payment
    if order is not None:
        return order
    if payments:
        return payments[0]  # by receipt: the only form left
    raise NotFound(
        f"Nothing matches {text[:40]}: give a payment number (#12), an order code, "
        "an M-Pesa receipt or a CheckoutRequestID."
    )
