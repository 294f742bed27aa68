"""Errors raised at the Daraja boundary: one small tree, safe to branch on."""

from __future__ import annotations


class DarajaError(Exception):
    """A Daraja call failed; carries Daraja's error code, request id and the HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.http_status = http_status

    def __str__(self) -> str:
        return self.message


class DarajaUnreachable(DarajaError):
    """The request never reached Daraja (connect error, pool time-out): safe to retry."""


class OutcomeUnknown(DarajaError):
    """A money-moving request may have landed: reconcile by status query, never resend."""


class AuthFailed(DarajaError):
    """Daraja refused our consumer key/secret or access token."""


class InvalidRequest(DarajaError):
    """Daraja refused the request as invalid (400.002.02 and friends): fix it, never resend."""


class DuplicateRequest(DarajaError):
    """Daraja already accepted this OriginatorConversationID: reconcile, never resend."""


class RateLimited(DarajaError):
    """Daraja throttled us (spike arrest, quota, HTTP 429); retry after ``retry_after_s``.

    ``retry_after_told_s`` is the wait Daraja's Retry-After header gave (None: it gave none, and
    ``retry_after_s`` is our own default).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float = 1.0,
        retry_after_told_s: float | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after_s = retry_after_s
        self.retry_after_told_s = retry_after_told_s


class ServerError(DarajaError):
    """Daraja answered 5xx on a request that moves no money (safe to ask again later)."""


class CallbackParseError(DarajaError):
    """A callback body is structurally broken; the message names what is missing."""


class ConfigurationError(DarajaError):
    """Local configuration cannot produce a valid request (bad certificate, missing passkey...)."""
