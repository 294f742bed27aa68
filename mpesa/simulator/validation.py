"""Request checks that answer the way Daraja does (400.002.02 "Bad Request - Invalid <Field>")."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from aiohttp import web

MSISDN_RE = re.compile(r"^254(7|1)\d{8}$")  # Daraja checks the form only, not the carrier
SHORTCODE_RE = re.compile(r"^\d{5,7}$")


class Refusal(Exception):
    """A synchronous Daraja error answer: HTTP status, errorCode and errorMessage."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.headers = dict(headers or {})

    def response(self, request_id: str) -> web.Response:
        """Render the Daraja error body ``{"requestId", "errorCode", "errorMessage"}``."""
        body = {
            "requestId": self.request_id or request_id,
            "errorCode": self.code,
            "errorMessage": self.message,
        }
        return web.json_response(body, status=self.status, headers=self.headers)


def invalid(field: str) -> Refusal:
    """Return the 400.002.02 refusal naming ``field``."""
    return Refusal(400, "400.002.02", f"Bad Request - Invalid {field}")


def merchant_error(message: str) -> Refusal:
    """Return a 500.001.1001 refusal (unknown merchant, wrong credentials, locked subscriber...)."""
    return Refusal(500, "500.001.1001", message)


async def read_body(request: web.Request, first_field: str) -> dict[str, object]:
    """Read the JSON object body; a non-JSON content type fails on the first field checked."""
    if request.content_type != "application/json":
        raise invalid(first_field)
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Refusal(400, "400.002.05", "Invalid Request Payload") from None
    if not isinstance(body, dict):
        raise Refusal(400, "400.002.05", "Invalid Request Payload")
    return body


def digits(
    body: Mapping[str, object], name: str, *, pattern: re.Pattern[str] = SHORTCODE_RE
) -> str:
    """Return a numeric field (JSON number or digit string) as a digit string."""
    value = body.get(name)
    if isinstance(value, bool):
        raise invalid(name)
    text = str(value) if isinstance(value, int) else value
    if not isinstance(text, str) or not pattern.fullmatch(text.strip()):
        raise invalid(name)
    return text.strip()


def msisdn(body: Mapping[str, object], name: str) -> str:
    """Return a 2547/2541 12-digit phone field."""
    return digits(body, name, pattern=MSISDN_RE)


def amount(body: Mapping[str, object], name: str, *, minimum: int, maximum: int) -> int:
    """Return a whole-shilling amount (JSON integer or digit string) within the bounds."""
    value = body.get(name)
    if isinstance(value, bool):
        raise invalid(name)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    # 1.5, 150.0 and "1.00" are all refused: whole shillings are sent as integers
    if not isinstance(value, int) or not minimum <= value <= maximum:
        raise invalid(name)
    return value


def url(body: Mapping[str, object], name: str) -> str:
    """Return an absolute http(s) URL field."""
    value = body.get(name)
    if not isinstance(value, str):
        raise invalid(name)
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(name)
    return value.strip()


def text(
    body: Mapping[str, object],
    name: str,
    *,
    min_len: int = 1,
    max_len: int = 100,
    error_name: str | None = None,
) -> str:
    """Return a required text field of ``min_len``..``max_len`` characters."""
    value = body.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not min_len <= len(value.strip()) <= max_len:
        raise invalid(error_name or name)
    return value.strip()


def optional_text(body: Mapping[str, object], name: str, *, max_len: int = 100) -> str:
    """Return an optional text field ("" when absent)."""
    if body.get(name) in (None, ""):
        return ""
    return text(body, name, max_len=max_len)


def choice(body: Mapping[str, object], name: str, allowed: Iterable[str]) -> str:
    """Return a field that must be one of ``allowed`` (numbers compared as digit strings)."""
    value = body.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value not in set(allowed):
        raise invalid(name)
    return str(value)
