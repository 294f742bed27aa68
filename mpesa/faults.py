"""How Daraja's refusals and unreadable answers become the errors callers branch on.

Daraja answers in its own envelope or, from the Apigee gateway in front of it, in a ``fault``
body, sometimes with no body at all; one code can mean several things (daraja.md §4). This module
reads them all into a ``Fault`` and maps it to the error tree of ``mpesa.errors``. It sees bytes
and status codes only: the HTTP transport stays in ``mpesa/client.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from typing import TypeVar

from pydantic import ValidationError

from mpesa.errors import AuthFailed
from mpesa.errors import DarajaError
from mpesa.errors import DuplicateRequest
from mpesa.errors import InvalidRequest
from mpesa.errors import OutcomeUnknown
from mpesa.errors import RateLimited
from mpesa.errors import ServerError
from mpesa.models import DarajaResponse
from mpesa.models import ErrorBody
from mpesa.models import GatewayFault

DEFAULT_RETRY_AFTER_S = 5.0
# three codes for one condition: Daraja's pages disagree per product (daraja.md §4)
INVALID_TOKEN_CODES = frozenset({"404.001.03", "401.002.01", "400.003.01"})
RATE_LIMIT_CODES = frozenset({"500.003.02", "500.003.03"})
DUPLICATE_CODE = "500.002.1001"
MULTI_MEANING_CODE = "500.001.1001"
# 500.001.1001 messages that are definite refusals: nothing happened, so never "outcome unknown"
REFUSALS = {
    "wrong credentials": (
        "the STK password does not match shortcode, passkey and timestamp; no prompt was sent"
    ),
    "merchant does not exist": "the shortcode is unknown in this Daraja environment",
    "unable to lock subscriber": (
        "a payment prompt is already open on this phone; wait a minute before sending another"
    ),
    "already registered": "C2B URLs are already registered for this shortcode",
}
STILL_PROCESSING = "being processed"

R = TypeVar("R", bound=DarajaResponse)


@dataclass(frozen=True)
class Fault:
    """A non-2xx answer in either Daraja's or the Apigee gateway's shape."""

    http_status: int
    code: str | None
    message: str
    request_id: str | None
    retry_after_s: float | None

    @property
    def invalid_token(self) -> bool:
        """True when the access token was refused (refresh once and ask again)."""
        if self.code in INVALID_TOKEN_CODES:
            return True
        # Apigee words it as oauth.v2.InvalidAccessToken / keymanagement...access_token_expired
        squashed = re.sub(r"[^a-z]", "", f"{self.code or ''} {self.message}".lower())
        return "invalidaccesstoken" in squashed or "accesstokenexpired" in squashed

    @property
    def rate_limited(self) -> bool:
        """True for spike arrest, quota and HTTP 429 (refused at the gateway: nothing happened)."""
        if self.http_status == 429 or self.code in RATE_LIMIT_CODES:
            return True
        # Apigee's own policy faults: policies.ratelimit.SpikeArrestViolation / QuotaViolation
        squashed = re.sub(r"[^a-z]", "", (self.code or "").lower())
        return "spikearrest" in squashed or "quotaviolation" in squashed

    @property
    def refusal_hint(self) -> str | None:
        """Why a 5xx is really a definite refusal (nothing happened), or None."""
        if self.code not in (MULTI_MEANING_CODE, "500.003.1001"):
            return None
        lowered = self.message.lower()
        return next((hint for key, hint in REFUSALS.items() if key in lowered), None)

    @property
    def still_processing(self) -> bool:
        """True for the STK query's HTTP 500 "The transaction is being processed" (wait)."""
        return self.code == MULTI_MEANING_CODE and STILL_PROCESSING in self.message.lower()

    @property
    def definite(self) -> bool:
        """True when a 5xx is a final answer rather than a server failure."""
        return (
            self.code == DUPLICATE_CODE
            or self.rate_limited
            or self.still_processing
            or self.refusal_hint is not None
        )


def read_fault(
    http_status: int, content: bytes, *, retry_after: str | None = None, token: str | None = None
) -> Fault:
    """Read an error body in Daraja's shape, Apigee's ``fault`` shape, or no JSON at all."""
    code: str | None = None
    request_id: str | None = None
    message = ""
    body = _json(content)
    if isinstance(body, dict):
        gateway = _model(GatewayFault, body)
        if gateway is not None:
            detail = gateway.fault.detail
            if detail is not None and detail.error_code is not None:
                code = str(detail.error_code)
            message = str(gateway.fault.fault_string or "")
        else:
            daraja = ErrorBody.model_validate(body)
            if daraja.error_code is not None:
                code = str(daraja.error_code)
            if daraja.request_id:
                request_id = str(daraja.request_id)
            message = str(daraja.error_message or daraja.response_description or "")
    if not message:
        snippet = " ".join(content.decode("utf-8", "replace").split())[:120]
        message = f"HTTP {http_status}" + (f": {snippet}" if snippet else " (empty body)")
    if token:
        # 401.002.01 echoes the refused token in its message
        message = message.replace(token, "***")
    return Fault(
        http_status=http_status,
        code=code,
        message=message,
        request_id=request_id,
        retry_after_s=retry_after_seconds(retry_after),
    )


def error_for(op: str, fault: Fault, *, money: bool) -> DarajaError:
    """Map a final non-2xx answer to the error a caller can branch on."""
    details = {
        "code": fault.code,
        "request_id": fault.request_id,
        "http_status": fault.http_status,
    }
    if fault.rate_limited:
        retry_after = fault.retry_after_s or DEFAULT_RETRY_AFTER_S
        return RateLimited(
            f"Daraja is throttling {op} ({fault.message}); retry in {retry_after:g} s",
            retry_after_s=retry_after,
            retry_after_told_s=fault.retry_after_s,
            **details,
        )
    if fault.code == DUPLICATE_CODE:
        return DuplicateRequest(
            f"Daraja already has a request with this id for {op} ({fault.message}); "
            "reconcile by status, never resend with a new id",
            **details,
        )
    hint = fault.refusal_hint
    if hint is not None:
        return InvalidRequest(f"Daraja refused {op}: {fault.message} ({hint})", **details)
    if fault.http_status in (401, 403):
        # e.g. Apigee "no apiproduct match found": the API is not enabled on our Daraja app
        return AuthFailed(f"Daraja refused {op}: {fault.message}", **details)
    if fault.http_status < 500:
        return InvalidRequest(f"Daraja refused {op}: {fault.message}", **details)
    if money:  # e.g. "being processed" on a money POST: it may land
        return OutcomeUnknown(
            f"{op} got HTTP {fault.http_status} ({fault.message}); reconcile, never resend",
            **details,
        )
    return ServerError(f"Daraja failed {op}: {fault.message}", **details)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (HTTP dates are not worth parsing here)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def json_object(http_status: int, content: bytes, op: str, *, money: bool) -> dict[str, Any]:
    """The JSON object of a 2xx answer; anything else is unreadable (see ``unreadable``)."""
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise unreadable(op, http_status, "not JSON", money=money) from exc
    if not isinstance(body, dict):
        raise unreadable(op, http_status, "not a JSON object", money=money)
    return body


def parse_answer(model: type[R], body: dict[str, Any], op: str, *, money: bool) -> R:
    """Validate a 2xx answer into ``model``; a missing or bad field makes it unreadable."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        fields = ", ".join(str(error["loc"][0]) for error in exc.errors() if error["loc"])
        raise unreadable(op, 200, f"missing or bad {fields or 'fields'}", money=money) from exc


def unreadable(op: str, status: int, what: str, *, money: bool) -> DarajaError:
    """The error for an answer we cannot read: for money it may still mean "accepted"."""
    if money:
        return OutcomeUnknown(
            f"{op} answer unreadable ({what}); reconcile by status, never resend",
            http_status=status,
        )
    return ServerError(f"{op} answer unreadable ({what})", http_status=status)


def _json(content: bytes) -> object:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def _model(model: type[R], body: dict[str, Any]) -> R | None:
    try:
        return model.model_validate(body)
    except ValidationError:
        return None
