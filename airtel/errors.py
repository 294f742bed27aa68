"""Errors raised at the Airtel Money boundary: one small tree, safe to branch on.

The tree says what a caller may do next, never more:

- ``AirtelUnreachable``: the request never left this machine; sending it again is safe.
- ``OutcomeUnknown`` (and its ``DuplicateTransaction``): a money request may have landed;
  enquire by our transaction id, never resend with a new id.
- ``Declined``: Airtel answered that the transaction did not and will not happen (money did not
  move); ``info`` says why in cashier words. ``InvalidRequest`` is a ``Declined`` whose cause is
  our request or our configuration.
- ``AuthFailed``, ``RateLimited``, ``ServerError``, ``ConfigurationError``: as in ``mpesa.errors``.
- ``CallbackParseError``: a callback body is structurally broken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airtel.codes import ResultInfo


# Twin of mpesa/errors.py's DarajaError (plus result_code, transaction_id); kept apart:
# airtel/ imports nothing from mpesa/ (docs/architecture.md)
class AirtelError(Exception):
    """An Airtel call failed; carries Airtel's codes, our transaction id and the HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        result_code: str | None = None,
        transaction_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code  # status.response_code (DP...), or the OAuth/router code
        self.result_code = result_code  # status.result_code (ESB...), deprecated but still sent
        self.transaction_id = transaction_id
        self.http_status = http_status

    def __str__(self) -> str:
        return self.message


class AirtelUnreachable(AirtelError):
    """The request never reached Airtel (connect error, pool time-out): safe to retry."""


class OutcomeUnknown(AirtelError):
    """A money request may have landed: enquire by transaction id, never resend."""


class DuplicateTransaction(OutcomeUnknown):
    """Airtel already has a transaction with this id: enquire for its outcome, never resend."""


class Declined(AirtelError):
    """Airtel reports the transaction did not happen and will not: money did not move."""

    def __init__(self, message: str, *, info: ResultInfo, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.info = info


class InvalidRequest(Declined):
    """Airtel refused our request as invalid or our set-up as wrong: fix it, never resend as is."""


class AuthFailed(AirtelError):
    """Airtel refused our client id/secret, our access token, or our server's IP address."""


class RateLimited(AirtelError):
    """Airtel throttled us (HTTP 429); retry after ``retry_after_s``."""

    def __init__(self, message: str, *, retry_after_s: float = 5.0, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after_s = retry_after_s


class ServerError(AirtelError):
    """Airtel failed a request that moves no money (safe to ask again later)."""


class CallbackParseError(AirtelError):
    """A callback body is structurally broken; the message names what is missing."""


class ConfigurationError(AirtelError):
    """Local configuration cannot produce a valid request (bad public key, missing PIN...)."""
