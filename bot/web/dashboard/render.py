"""The dashboard's templates: one autoescaped Jinja environment, its filters and ``render``.

Every page gets ``staff``, ``is_admin``, ``csrf``, ``csrf_field``, ``path``, ``business`` and
``static(name)`` in its context; status badges say their state in words and a symbol, never by
colour alone.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.i18n import kes
from bot.i18n import staff_when
from bot.services.errors import ServiceError
from bot.web.dashboard.keys import CSRF_FIELD
from bot.web.dashboard.keys import JINJA_KEY
from bot.web.dashboard.keys import SETTINGS_KEY
from models import StaffRole
from mpesa.phone import display_msisdn
from mpesa.security import NAIROBI

HERE = Path(__file__).parent
# the navigation: (path, label, admins only); pages of both helpers are listed here
NAV_LINKS: list[tuple[str, str, bool]] = [
    ("/dashboard/", "Overview", False),
    ("/dashboard/payments", "Payments", False),
    ("/dashboard/request", "Request payment", False),
    ("/dashboard/payouts", "Payouts", True),
    ("/dashboard/send", "Send money", True),
    ("/dashboard/staff", "Staff", True),
    ("/dashboard/settings", "Settings", True),
]


# symbol, words, tone (the CSS colour is only a third way of saying it)
_OK, _WAIT, _BAD, _CHECK, _NONE = "ok", "wait", "bad", "check", "none"
STATUS_WORDS: dict[str, dict[str, tuple[str, str, str]]] = {
    "stk": {
        "created": ("…", "Created", _WAIT),
        "pending": ("⏳", "Waiting for PIN", _WAIT),
        "unknown": ("?", "Unknown: checking", _CHECK),
        "paid": ("✓", "Paid", _OK),
        "cancelled": ("✗", "Cancelled", _BAD),
        "insufficient_funds": ("✗", "Not enough funds", _BAD),
        "wrong_pin": ("✗", "Wrong PIN", _BAD),
        "timed_out": ("✗", "Timed out", _BAD),
        "failed": ("✗", "Failed", _BAD),
        "review": ("!", "In review", _CHECK),
        "reversed": ("↩", "Reversed", _NONE),
    },
    "payout": {
        "awaiting_confirmation": ("…", "Awaiting confirmation", _WAIT),
        "awaiting_approval": ("⏳", "Awaiting approval", _WAIT),
        "submitting": ("⏳", "Sending", _WAIT),
        "submitted": ("⏳", "Sent to M-Pesa", _WAIT),
        "unknown": ("?", "Unknown: checking", _CHECK),
        "completed": ("✓", "Sent", _OK),
        "failed": ("✗", "Failed", _BAD),
        "cancelled": ("✗", "Cancelled", _NONE),
        "rejected": ("✗", "Rejected", _BAD),
    },
    "paybill": {
        "paid": ("✓", "Received", _OK),
        "received": ("✓", "Received", _OK),
        "reversed": ("↩", "Reversed", _NONE),
    },
}


def status_parts(value: Any, kind: str = "stk") -> tuple[str, str, str]:
    """(symbol, words, tone) of a status for a badge."""
    text = str(getattr(value, "value", value))
    found = STATUS_WORDS.get(kind, {}).get(text)
    return found or ("•", text.replace("_", " ").capitalize(), _NONE)


def phone(msisdn: str | None) -> str:
    """A Kenyan number as people write it: 0708 374 149 (others as stored)."""
    if not msisdn:
        return "-"
    return display_msisdn(msisdn)


def when_exact(moment: datetime | None) -> str:
    """A moment in Nairobi time to the second: 20 Nov 2026 14:31:05."""
    if moment is None:
        return "-"
    return moment.astimezone(NAIROBI).strftime("%d %b %Y %H:%M:%S")


def iso(moment: datetime | None) -> str:
    """A moment as ISO 8601 (for <time datetime>)."""
    return moment.isoformat(timespec="seconds") if moment is not None else ""


def words(text: Any) -> str:
    """An identifier as words: "payment.retry_sent" -> "payment retry sent"."""
    return str(text).replace(".", " ").replace("_", " ")


def pretty_json(raw: Any) -> str:
    """A JSON body indented for reading (text that is not JSON comes back as it was)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return raw
    return json.dumps(raw, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def kes_filter(amount: int | None) -> str:
    """KES 1,500 ("-" for none)."""
    return "-" if amount is None else kes(int(amount))


def refusal_status(exc: ServiceError) -> int:
    """The HTTP status a page answers a service's refusal with (409 for any state conflict)."""
    return {"not_allowed": 403, "not_found": 404, "invalid_input": 422}.get(exc.code, 409)


def setup_templates(app: web.Application) -> None:
    """The autoescaped Jinja environment of the dashboard sub-application."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        app_key=JINJA_KEY,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        kes=kes_filter,
        phone=phone,
        when=staff_when,
        when_exact=when_exact,
        iso=iso,
        words=words,
        pretty_json=pretty_json,
        status_parts=status_parts,
    )
    env.globals["status_words"] = lambda value, kind="stk": status_parts(value, kind)[1]


def base_context(request: web.Request) -> dict[str, Any]:
    """What every dashboard template may use."""
    staff = request.get("staff")
    settings = request.app[SETTINGS_KEY]
    return {
        "staff": staff,
        "is_admin": staff is not None and StaffRole(staff.role) is StaffRole.ADMIN,
        "csrf": request.get("csrf", ""),
        "csrf_field": CSRF_FIELD,
        "path": request.path,
        "nav_links": NAV_LINKS,
        "has_live_js": (HERE / "static" / "live.js").is_file(),
        "business": settings.business_name,
        "static": lambda name: str(request.app.router["static"].url_for(filename=name)),
    }


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """Render ``template`` with the base context and ``context`` (an HTML response)."""
    merged = {**base_context(request), **context}
    return aiohttp_jinja2.render_template(
        template, request, merged, status=status, app_key=JINJA_KEY
    )
