"""Errors a service raises on purpose: their text is safe to show to the person who asked."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A refusal with a reason a cashier, admin, customer or shop developer understands."""

    code = "error"

    def __init__(
        self, message: str, *, field: str | None = None, params: dict[str, Any] | None = None
    ) -> None:
        # with params, ``message`` is a template ("Order {code} is already paid."): the chat and
        # the payment page translate the template for customers, then fill it in
        self.template = message
        self.params = dict(params or {})
        self.message = message.format(**self.params) if params else message
        super().__init__(self.message)
        self.field = field

    def __str__(self) -> str:
        return self.message


# one small class per refusal, alike on purpose: each only names the code the API and the chat
# switch on
class InvalidInput(ServiceError):
    """The input is wrong (bad phone, bad amount, unknown command arguments)."""

    code = "invalid_input"


class NotFound(ServiceError):
    """No payment, payout, order or staff member matches the reference."""

    code = "not_found"


class NotAllowed(ServiceError):
    """The person may not do this (role, not the initiator, inactive)."""

    code = "not_allowed"


class Conflict(ServiceError):
    """The state forbids it now: already paid, payment in progress, already confirmed."""

    code = "conflict"


class LimitExceeded(ServiceError):
    """A daily or per-transaction limit would be passed."""

    code = "limit_exceeded"


class UpstreamError(ServiceError):
    """M-Pesa refused or could not be reached; the message says what to do next."""

    code = "upstream_error"


class AlreadyPaid(Conflict):
    """The order is paid: it is never charged again."""

    code = "already_paid"


class OrderCancelled(Conflict):
    """The order was cancelled: nothing more is paid for it."""

    code = "order_cancelled"


class PaymentInProgress(Conflict):
    """A prompt is open for this order or phone; ``payment_id`` is that attempt (None if unseen)."""

    code = "payment_in_progress"

    def __init__(
        self,
        message: str,
        *,
        payment_id: int | None = None,
        field: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, field=field, params=params)
        self.payment_id = payment_id


class NothingToRetry(Conflict):
    """The order has no payment attempt to send again."""

    code = "nothing_to_retry"
