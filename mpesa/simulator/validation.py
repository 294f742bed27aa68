"""Request checks that answer the way Daraja does (400.002.02 "Bad Request - Invalid <Field>")."""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Mapping
from urllib.parse import urlsplit

from aiohttp import web

from mpesa.simulator.config import Level

MSISDN_RE = re.compile(r"^254(7|1)\d{8}$")  # Daraja checks the form only, not the carrier
SHORTCODE_RE = re.compile(r"^\d{5,7}$")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# hosts copied from documentation and tutorials instead of the integrator's own (daraja.md §6.1)
PLACEHOLDER_HOSTS = frozenset(
    {
        "mydomain.com",
        "yourdomain.com",
        "your-domain.com",
        "domain.com",
        "mysite.com",
        "yoursite.com",
        "website.com",
        "callbackurl.com",
        "yourcallbackurl.com",
        "mockbin.org",
        "requestbin.com",
    }
)
PLACEHOLDER_LABELS = frozenset({"example", "invalid"})  # RFC 2606 / 6761 reserved names
LENIENT_MAX_LEN = 100  # the longest text the lenient level accepts in a limited field


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
    """Return a numeric field (JSON number or digit string, nothing around it) as digits."""
    value = body.get(name)
    if isinstance(value, bool):
        raise invalid(name)
    text = str(value) if isinstance(value, int) else value
    # "+254...", "0708...", "254 708 374 149" and " 254708374149" are all refused
    if not isinstance(text, str) or not pattern.fullmatch(text):
        raise invalid(name)
    return text


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
    """Return an absolute http(s) URL field on a real host (no documentation placeholder)."""
    value = body.get(name)
    if not isinstance(value, str) or value != value.strip() or not url_ok(value):
        raise invalid(name)
    return value


def url_ok(value: str) -> bool:
    """Tell whether ``value`` is an http(s) URL Daraja could post to (loopback allowed here)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in value):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True  # the simulator delivers locally, so loopback and private addresses pass
    labels = host.rstrip(".").split(".")
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return False  # e.g. "ip_address", "<your-host>"
    if host == "localhost":
        return True
    if ".".join(labels[-2:]) in PLACEHOLDER_HOSTS:
        return False
    return not PLACEHOLDER_LABELS.intersection(labels)


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


# special advice for fields people send by mistake
_ADVICE = {
    "passkey": "the passkey is never sent: it is part of Password",
    "consumerkey": "credentials go in the OAuth request, never in a product body",
    "consumersecret": "credentials go in the OAuth request, never in a product body",
    "initiatorpassword": "send the password encrypted, as SecurityCredential",
}


def unknown_fields(body: Mapping[str, object], known: Collection[str]) -> list[tuple[str, str]]:
    """Return ``(field, advice)`` for each field of ``body`` Daraja does not know at this path."""
    found = []
    by_case = {name.casefold(): name for name in known}
    for name in body:
        if name in known:
            continue
        folded = "".join(name.split()).casefold()
        advice = _ADVICE.get(folded)
        if advice is None:
            match = by_case.get(folded) or next(
                iter(difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)), None
            )
            advice = f'did you mean "{match}"?' if match else "not a field of this API"
        found.append((name, advice))
    return found


Warn = Callable[[str, str], None]  # (field, message)
RISKY_CHARACTERS = "&#@<>"  # reported to make STK prompts fail silently (daraja.md §6.1)


def warn_unknown(body: Mapping[str, object], known: Collection[str], warn: Warn) -> None:
    """Warn about every field of ``body`` that is not one of ``known`` (Daraja drops them)."""
    for name, advice in unknown_fields(body, known):
        warn(name, f'unknown field "{name}": {advice}')


def limited_text(
    body: Mapping[str, object],
    name: str,
    *,
    limit: int,
    level: Level,
    warn: Warn,
    error_name: str | None = None,
) -> str:
    """Return a text field whose documented limit is refused (strict) or warned about (lenient)."""
    value = text(body, name, max_len=LENIENT_MAX_LEN, error_name=error_name)
    if len(value) > limit:
        if level is Level.STRICT:
            raise invalid(error_name or name)
        warn(
            name,
            f"{name} is {len(value)} characters; Daraja documents at most {limit} "
            "(accepted at the lenient level; what Daraja does with it is not certain)",
        )
    risky = sorted({c for c in value if c in RISKY_CHARACTERS})
    if risky:
        warn(name, f"{name} contains {' '.join(risky)}, which Daraja is reported to fail on")
    return value
