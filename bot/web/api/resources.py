"""What the API reads and writes: strict request fields, camelCase resources, opaque cursors."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from typing import Any

from bot.config import Settings
from bot.services.errors import InvalidInput
from bot.services.order_payments import EMAIL_LIMIT
from bot.services.order_payments import EMAIL_PATTERN
from bot.services.providers import Routed
from bot.services.providers import provider_code
from bot.services.providers import route_phone
from bot.web.api import grammar
from bot.web.api.errors import ApiError
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from mpesa.phone import PhoneError
from mpesa.phone import mask_msisdn
from mpesa.phone import normalize_msisdn
from mpesa.security import NAIROBI

# every paymentMethod the API knows; payment_methods() says which this server takes
PAYMENT_METHODS = ("MPESA", "AIRTEL")
DESCRIPTION_LIMIT = 255
REFERENCE_LIMIT = 64
ORDER_ID_LIMIT = 32
HISTORY_DEFAULT_LIMIT = 20
HISTORY_MAX_LIMIT = 100
_TEXT = re.compile(grammar.TEXT_PATTERN)


def invalid(message: str, field: str) -> ApiError:
    """A 400 naming the request field that is wrong."""
    return ApiError(400, "invalid_input", message, field=field)


def whole_shillings(value: Any, field: str = "amount") -> int:
    """A JSON integer amount; strings, fractions and booleans are refused, never rounded."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(
            "The amount must be whole shillings as a JSON integer, e.g. 1500.", field=field
        )
    return value


def text_field(
    body: dict[str, Any], field: str, *, limit: int, required: bool = True
) -> str | None:
    """A string field of at most ``limit`` characters (None when optional and absent or null)."""
    value = body.get(field)
    if value is None:
        if required:
            raise invalid(f"{field} is required.", field=field)
        return None
    if not isinstance(value, str):
        raise invalid(f"{field} must be a string.", field=field)
    if len(value) > limit:
        raise invalid(f"{field} is longer than {limit} characters.", field=field)
    if not _TEXT.fullmatch(value):
        raise invalid(f"{field} must not contain control characters.", field=field)
    return value


def order_id(value: Any, field: str = "orderId") -> str:
    """An order code as the shop sends it (its form checked; the lookup decides if it exists)."""
    text = text_field({field: value}, field, limit=ORDER_ID_LIMIT)
    if not text or not text.strip():
        raise invalid("orderId is required.", field=field)
    return text.strip()


def payment_methods(settings: Settings) -> tuple[str, ...]:
    """The paymentMethod values this server takes: MPESA, and AIRTEL with AIRTEL_ENABLED."""
    return PAYMENT_METHODS if settings.airtel_enabled else PAYMENT_METHODS[:1]


_EMAIL = re.compile(EMAIL_PATTERN)


def email_field(body: dict[str, Any]) -> str | None:
    """The optional receipt address of a payment (absent or null: none); 400 naming email."""
    value = body.get("email")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > EMAIL_LIMIT or not _EMAIL.fullmatch(value):
        raise invalid(
            "email must be an e-mail address like wanjiku@example.co.ke, or null.", field="email"
        )
    return value


def phone_route(value: Any, field: str, *, settings: Settings) -> Routed:
    """A phone as the API takes it, with the provider that serves it; 400 naming ``field``."""
    if not isinstance(value, str) or not value:
        raise invalid(f"{field} is required, e.g. 0712345678.", field=field)
    try:
        routed = route_phone(value, settings)
    except InvalidInput as exc:
        raise invalid(str(exc), field=field) from None
    _shape(value, routed.msisdn, field)
    return routed


def phone_param(
    value: Any, field: str, *, extra_prefixes: list[str], settings: Settings | None = None
) -> str:
    """A number as the API takes it, as "2547XXXXXXXX"; 400 naming ``field`` if not.

    With ``settings``, the provider router decides (Airtel numbers too, when it is on); else
    only Safaricom numbers (and ``extra_prefixes``) are taken.
    """
    if settings is not None:
        return phone_route(value, field, settings=settings).msisdn
    if not isinstance(value, str) or not value:
        raise invalid(f"{field} is required, e.g. 0712345678.", field=field)
    try:
        msisdn = normalize_msisdn(value, extra_prefixes=extra_prefixes)
    except PhoneError as exc:
        raise invalid(str(exc), field=field) from None
    _shape(value, msisdn, field)
    return msisdn


def _shape(value: str, msisdn: str, field: str) -> None:
    """Refuse a number the chat would read, in a form the API does not take (spaces, 00...)."""
    if not grammar.PHONE_SHAPE.fullmatch(value):
        # a number the chat would read, in a form the API does not take (spaces, dashes, 00...)
        local = "0" + msisdn[3:]
        raise invalid(
            f"Write {field} as digits only: {local}, {msisdn[3:]}, {msisdn} or +{msisdn}.",
            field=field,
        )


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC, to the second ("2026-11-20T11:30:00+00:00"), or None."""
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def payment_resource(payment: Payment, order_code: str | None) -> dict[str, Any]:
    """A payment as the API shows it (phone masked, amounts whole shillings)."""
    return {
        "paymentId": payment.id,
        "orderId": order_code,
        "paymentMethod": provider_code(payment.provider),
        "status": PaymentStatus(payment.status).value,
        "amount": payment.amount,
        "phoneNumber": mask_msisdn(payment.msisdn),
        "attempt": payment.attempt,
        "checkoutRequestId": payment.checkout_request_id,
        "receipt": payment.receipt,
        "resultCode": payment.result_code,
        "resultDesc": payment.result_desc,
        "createdAt": iso(payment.created_at),
        "paidAt": iso(payment.paid_at),
    }


def order_resource(
    order: Order, *, deep_link: str | None, payment: Payment | None
) -> dict[str, Any]:
    """An order as the API shows it, with its latest payment attempt (or null)."""
    return {
        "orderId": order.code,
        "reference": order.reference,
        "amount": order.amount,
        "description": order.description,
        "status": OrderStatus(order.status).value,
        "paid": order.status == OrderStatus.PAID,
        "receipt": order.paid_receipt,
        "paidAt": iso(order.paid_at),
        "createdAt": iso(order.created_at),
        "deepLink": deep_link,
        "payment": payment_resource(payment, order.code) if payment is not None else None,
    }


def encode_cursor(last_id: int) -> str:
    """The opaque cursor for the page after the payment with ``last_id``."""
    return grammar.encode_cursor(last_id)


def decode_cursor(cursor: str) -> int:
    """The payment id a cursor continues before; 400 (field cursor) when it is not ours."""
    before_id = grammar.decode_cursor(cursor)
    if before_id is None:
        raise invalid("The cursor is not one this API returned.", field="cursor")
    return before_id


def moment(raw: str, field: str) -> datetime:
    """A date or date-time (see grammar.MOMENT_PATTERN); no offset means Nairobi. In UTC."""
    value = grammar.parse_moment(raw, local=NAIROBI)
    if value is None:
        raise invalid(
            f"{field} must be a date (2026-11-20) or a date-time (2026-11-20T08:00, "
            "2026-11-20T08:00:00+03:00, 2026-11-20T05:00:00Z); without an offset it is "
            "Nairobi time.",
            field=field,
        )
    return value.astimezone(UTC)


def limit_param(raw: str | None) -> int:
    """The page size: 1 to 100, default 20."""
    if raw is None:
        return HISTORY_DEFAULT_LIMIT
    if not grammar.LIMIT_PATTERN.fullmatch(raw):
        raise invalid(f"limit must be a whole number from 1 to {HISTORY_MAX_LIMIT}.", "limit")
    value = int(raw)
    if not 1 <= value <= HISTORY_MAX_LIMIT:
        raise invalid(f"limit must be a whole number from 1 to {HISTORY_MAX_LIMIT}.", "limit")
    return value
