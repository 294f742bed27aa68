"""Request checks that answer in Airtel's own envelopes, and the warnings for unknown fields.

Airtel answers most business and validation errors with HTTP 200 and ``status.code: "400"``
(airtel.md §2); gateway errors come in the router shape (``status_code: ROUTER110``) and token
errors in the OAuth shape (``error: invalid_token``). Which DP code goes with a collection's
validation error is not documented: the simulator sends "Refused" (DP00800001008) with the ESB
code that names the problem.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from airtel.simulator.config import Level

log = logging.getLogger(__name__)

MSISDN_LENGTH = "Invalid Msisdn Length. Msisdn Length should be 9"
# set by a money handler once the request took effect: the "after effect" faults then apply
APPLIED: Any = web.RequestKey("applied", bool) if hasattr(web, "RequestKey") else "applied"
_ALNUM = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Family:
    """The DP codes one product family uses for its refusals."""

    name: str
    refused: str
    amount: str
    duplicate: str
    signature: str
    not_found: str


COLLECTION = Family(
    "collection",
    "DP00800001008",
    "DP00800001004",
    "DP00800001008",
    "DP00800001026",
    "DP00800001025",
)
DISBURSEMENT = Family(
    "disbursement",
    "DP00900001013",
    "DP00900001004",
    "DP00900001017",
    "DP00900001016",
    "DP00900001015",
)
KYC = Family("kyc", "DP02200000000", "", "", "", "DP02200000002")
ACCOUNT = Family("account", "DP02100000000", "", "", "", "")  # the simulator's choice of code
KEYS = Family("keys", "DP02010001000", "", "", "", "")


def envelope(
    *,
    code: str,
    message: str,
    response_code: str | None,
    result_code: str | None,
    success: bool,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The standard ``{data, status}`` body; ``data`` left out when there is none."""
    status: dict[str, Any] = {"code": code, "message": message}
    if result_code is not None:
        status["result_code"] = result_code
    if response_code is not None:
        status["response_code"] = response_code
    status["success"] = success
    body: dict[str, Any] = {}
    if data is not None:
        body["data"] = dict(data)
    body["status"] = status
    return body


class Refusal(Exception):
    """An answer that ends the request: HTTP status, body and headers, nothing applied."""

    def __init__(
        self, http_status: int, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(json.dumps(body))
        self.http_status = http_status
        self.body = dict(body)
        self.headers = dict(headers or {})

    @property
    def code(self) -> str:
        """The most specific code in the body, for logs."""
        status = self.body.get("status")
        if isinstance(status, Mapping):
            return str(
                status.get("response_code") or status.get("result_code") or status.get("code")
            )
        return str(self.body.get("status_code") or self.body.get("error") or "")

    def response(self) -> web.Response:
        """Render the refusal as aiohttp's response."""
        return web.json_response(self.body, status=self.http_status, headers=self.headers)


def refused(
    family: Family,
    message: str,
    *,
    response_code: str | None = None,
    result_code: str | None = "ESB000008",
    code: str = "400",
    http_status: int = 200,
) -> Refusal:
    """A business or validation refusal in the standard envelope (HTTP 200, body code 400)."""
    body = envelope(
        code=code,
        message=message,
        response_code=response_code or family.refused,
        result_code=result_code,
        success=False,
    )
    return Refusal(http_status, body)


def router(http_status: int, status_code: str, message: str) -> Refusal:
    """A gateway refusal in the router shape (``status_code`` / ``status_message``)."""
    return Refusal(http_status, {"status_message": message, "status_code": status_code})


def oauth(http_status: int, error: str, description: str) -> Refusal:
    """A refusal in the OAuth shape (``error`` / ``error_description``)."""
    return Refusal(http_status, {"error_description": description, "error": error})


def gateway(
    http_status: int,
    message: str,
    *,
    result_code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Refusal:
    """A refusal before any product family answers: standard envelope, body code = HTTP status."""
    body = envelope(
        code=str(http_status),
        message=message,
        response_code=None,
        result_code=result_code,
        success=False,
    )
    return Refusal(http_status, body, headers=headers)


def not_found(method: str, path: str) -> Refusal:
    """An unknown path, in the standard envelope (the real not-found envelope is unknown)."""
    return gateway(404, f"No resource for {method} {path}", result_code="ESB000008")


def method_not_allowed(method: str, path: str) -> Refusal:
    """A known path called with the wrong method."""
    return gateway(405, f"Method {method} is not allowed on {path}", result_code="ESB000008")


@dataclass
class Warning_:
    """Something the simulator accepted but a real Airtel might not (or ignores)."""

    path: str
    field: str
    message: str


class Checker:
    """Reads one request body field by field, refusing or warning as Airtel would."""

    def __init__(
        self,
        body: Mapping[str, Any],
        *,
        path: str,
        family: Family,
        level: Level,
        sink: list[Warning_],
    ) -> None:
        self.body = body
        self.path = path
        self.family = family
        self.level = level
        self._sink = sink

    def warn(self, field: str, message: str) -> None:
        """Record a warning (shown in ``GET /simulator/state`` and the log)."""
        self._sink.append(Warning_(path=self.path, field=field, message=message))
        log.warning("sim.warning path=%s field=%s %s", self.path, field, message)

    def unknown_fields(self, schema: Mapping[str, Any], *, where: str = "") -> None:
        """Warn about every field the schema does not know ("did you mean" for near misses)."""
        node = _dig(self.body, where)
        if not isinstance(node, Mapping):
            return
        for key, value in node.items():
            name = f"{where}.{key}" if where else str(key)
            if key not in schema:
                close = difflib.get_close_matches(str(key), list(schema), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.warn(name, f"unknown field {name!r} is ignored{hint}")
            elif isinstance(schema[key], Mapping) and isinstance(value, Mapping):
                self.unknown_fields(schema[key], where=name)

    def object(self, name: str) -> Mapping[str, Any]:
        """A required JSON object."""
        value = _dig(self.body, name)
        if not isinstance(value, Mapping):
            raise refused(self.family, f"Missing or invalid field: {name}")
        return value

    def text(self, name: str, *, required: bool = True) -> str | None:
        """A string field; a number is accepted with a warning (Airtel's types are loose)."""
        value = _dig(self.body, name)
        if value is None or value == "":
            if required:
                raise refused(self.family, f"Missing or invalid field: {name}")
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.warn(name, f"{name} sent as a JSON number; Airtel's samples send a string")
            value = str(value)
        if not isinstance(value, str):
            raise refused(self.family, f"Missing or invalid field: {name}")
        return value

    def msisdn(self, name: str) -> str:
        """A 9-digit subscriber number (no 0, no 254)."""
        value = self.text(name)
        assert value is not None
        digits = value.strip()
        if not digits.isdigit() or len(digits) != 9:
            raise refused(
                self.family,
                MSISDN_LENGTH,
                result_code="ESB000033" if self.family is COLLECTION else "521002",
            )
        return digits

    def amount(self, name: str, *, minimum: int, maximum: int) -> int:
        """A positive amount in whole shillings (KES moves no cents)."""
        value = _dig(self.body, name)
        if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
            self.warn(name, f"{name} sent as a string; Airtel's samples send a number")
            value = int(value.strip())
        if isinstance(value, float) and value.is_integer():
            self.warn(name, f"{name} sent as {value!r}; whole shillings are sent as an integer")
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise refused(
                self.family, f"Invalid amount: {value!r}", response_code=self.family.amount
            )
        if not minimum <= value <= maximum:
            raise refused(
                self.family,
                f"Invalid amount: {value} is outside the allowed range {minimum}..{maximum}",
                response_code=self.family.amount,
            )
        return value

    def reference(self, name: str = "reference") -> str:
        """The reference: 4-64 letters and digits (an SDK's note; a guess, so level-dependent)."""
        value = self.text(name)
        assert value is not None
        if not (4 <= len(value) <= 64 and _ALNUM.fullmatch(value)):
            self._guessed_rule(name, f"{name} must be 4-64 letters and digits (got {value!r})")
        return value

    def transaction_id(self, name: str = "transaction.id") -> str:
        """Our transaction id: letters and digits, at most 64 (no documented rule; a guess)."""
        value = self.text(name)
        assert value is not None
        if not (len(value) <= 64 and _ALNUM.fullmatch(value)):
            self._guessed_rule(
                name, f"{name} should be at most 64 letters and digits (got {value!r})"
            )
        return value

    def choice(self, name: str, allowed: Iterable[str], *, required: bool = True) -> str | None:
        """A field that must be one of ``allowed``."""
        value = self.text(name, required=required)
        if value is None:
            return None
        if value not in set(allowed):
            raise refused(self.family, f"Invalid value for {name}: {value!r}")
        return value

    def _guessed_rule(self, name: str, message: str) -> None:
        if self.level is Level.STRICT:
            raise refused(self.family, message)
        self.warn(name, message + " (accepted: lenient level)")


async def read_json(request: web.Request, family: Family) -> dict[str, Any]:
    """The body as a JSON object; Content-Type must be application/json."""
    if request.content_type != "application/json":
        raise refused(
            family,
            f"Content-Type must be application/json (got {request.content_type or 'none'})",
            code="415",
            http_status=415,
        )
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise refused(
            family, "Invalid request payload: not JSON", code="400", http_status=400
        ) from None
    if not isinstance(body, dict):
        raise refused(
            family, "Invalid request payload: not a JSON object", code="400", http_status=400
        )
    return body


def _dig(body: Mapping[str, Any], dotted: str) -> Any:
    node: Any = body
    for part in dotted.split(".") if dotted else ():
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node
