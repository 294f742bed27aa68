"""Finding payments for the dashboard: search, sort, page and export exactly what was found,
and one payment's whole story (its timeline).

Two kinds are listed: ``stk`` (payment requests: M-Pesa STK Push and Airtel Money pushes) and
``paybill`` (payments made to the paybill directly, C2B). One text box takes a phone in any
form, a receipt, an order code, a CheckoutRequestID or an Airtel transaction id.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any
from typing import TextIO

from tortoise.expressions import Q

from bot.config import Settings
from bot.services.errors import InvalidInput
from bot.services.errors import NotFound
from bot.services.orders import normalize_code
from bot.services.providers import route_phone
from bot.services.reports import EXPORT_CHUNK
from bot.services.reports import c2b_row
from bot.services.reports import export_header
from bot.services.reports import payment_row
from bot.services.reports import safe_cells
from bot.services.reports import shows_full_numbers
from models import AuditEvent
from models import C2BTransaction
from models import CallbackInbox
from models import Notification
from models import Order
from models import Payment
from models import PaymentStatus
from models import Provider
from models import Reversal
from models import Staff
from mpesa.amounts import AmountError
from mpesa.amounts import parse_amount
from mpesa.phone import mask_msisdn
from mpesa.security import NAIROBI

log = logging.getLogger(__name__)

KINDS = ("stk", "paybill")
PAYBILL_STATUSES = ("received", "reversed")
SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "amount_desc": ("-amount", "-id"),
    "amount_asc": ("amount", "id"),
}
PER_PAGE = 25
MAX_PAGE = 10_000
MAX_TEXT = 96
_PHONE_LIKE = re.compile(r"[+\d][\d\s().-]{5,20}")
_NUMBER = re.compile(r"#(\d{1,12})")


@dataclass(frozen=True)
class PaymentQuery:
    """What the payments table shows: filters (all optional), sort order and page."""

    kind: str = "stk"
    text: str = ""
    msisdn: str | None = None  # read from ``text`` when it is a phone
    status: str | None = None
    amount_min: int | None = None
    amount_max: int | None = None
    date_from: date | None = None  # Nairobi days, both included
    date_to: date | None = None
    staff_id: int | None = None  # who asked (Staff.id)
    sort: str = "newest"
    page: int = 1

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string of this search (for links to other pages and sort orders)."""
        values = {
            "kind": self.kind,
            "q": self.text,
            "status": self.status or "",
            "min": "" if self.amount_min is None else str(self.amount_min),
            "max": "" if self.amount_max is None else str(self.amount_max),
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "staff": "" if self.staff_id is None else str(self.staff_id),
            "sort": self.sort,
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


@dataclass(frozen=True)
class SearchPage:
    """One page of found payments (or paybill receipts), with what the table names."""

    query: PaymentQuery
    rows: list[Any]
    total: int
    pages: int
    order_codes: dict[int, str] = field(default_factory=dict)
    staff_names: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened to a payment: an audit event, a callback or a notification."""

    at: datetime
    source: str  # audit, callback, notification
    action: str
    actor: str = ""
    outcome: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    raw: str | None = None  # a callback body as received (shown to admins only)


@dataclass(frozen=True)
class PaymentDetail:
    """A payment and everything around it, oldest event first."""

    payment: Payment
    order: Order | None
    initiator: Staff | None
    reversal: Reversal | None
    timeline: list[TimelineEvent]
    staff_names: dict[str, str]
    actions: frozenset[str]


def payment_actions(payment: Payment) -> frozenset[str]:
    """What staff may be offered on a payment now: check, retry, resolve, reverse.

    The chat's buttons and the dashboard's forms both come from here; the services still
    decide (and refuse) when pressed.
    """
    status = PaymentStatus(payment.status)
    if payment.superseded_by_id is not None:
        return frozenset()  # a newer attempt replaced it: only that one is acted on
    offered: set[str] = set()
    if status in (PaymentStatus.PENDING, PaymentStatus.UNKNOWN, PaymentStatus.CREATED):
        offered.add("check")
    if status in (PaymentStatus.UNKNOWN, PaymentStatus.REVIEW):
        offered.add("resolve")
    if status.can_retry:
        offered.add("retry")
    if status is PaymentStatus.PAID and payment.receipt and payment.provider == Provider.MPESA:
        offered.add("reverse")
    return frozenset(offered)


def parse_payment_query(params: Mapping[str, str], settings: Settings) -> PaymentQuery:
    """Read the search form (query string); a wrong field is InvalidInput naming it."""
    kind = (params.get("kind") or "stk").strip().lower()
    if kind not in KINDS:
        raise InvalidInput("Choose payment requests or paybill payments.", field="kind")
    text = (params.get("q") or "").strip()[:MAX_TEXT]
    msisdn = None
    if text and _PHONE_LIKE.fullmatch(text):
        msisdn = route_phone(text, settings).msisdn  # a phone in any form, or why not
    status = (params.get("status") or "").strip().lower() or None
    known = PAYBILL_STATUSES if kind == "paybill" else tuple(s.value for s in PaymentStatus)
    if status is not None and status not in known:
        raise InvalidInput(
            f"{status[:30]} is not a status; use one of {', '.join(known)}.", field="status"
        )
    amount_min = _amount(params.get("min"), "min")
    amount_max = _amount(params.get("max"), "max")
    if amount_min is not None and amount_max is not None and amount_min > amount_max:
        raise InvalidInput("The smallest amount is above the largest.", field="min")
    date_from = _day(params.get("from"), "from")
    date_to = _day(params.get("to"), "to")
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("The first day is after the last day.", field="from")
    staff_id = None
    raw_staff = (params.get("staff") or "").strip()
    if raw_staff:
        if not raw_staff.isdigit() or len(raw_staff) > 12:
            raise InvalidInput("Choose a staff member from the list.", field="staff")
        staff_id = int(raw_staff)
    sort = (params.get("sort") or "newest").strip()
    if sort not in SORTS:
        raise InvalidInput(f"Sort by one of {', '.join(SORTS)}.", field="sort")
    raw_page = (params.get("page") or "1").strip()
    if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
        raise InvalidInput("That page does not exist.", field="page")
    return PaymentQuery(
        kind=kind,
        text=text,
        msisdn=msisdn,
        status=status,
        amount_min=amount_min,
        amount_max=amount_max,
        date_from=date_from,
        date_to=date_to,
        staff_id=staff_id,
        sort=sort,
        page=int(raw_page),
    )


def _amount(raw: str | None, name: str) -> int | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return parse_amount(text, minimum=0, maximum=10**12)
    except AmountError as exc:
        raise InvalidInput(f"{exc} Give whole shillings, e.g. 1500.", field=name) from None


def _day(raw: str | None, name: str) -> date | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text[:20]} is not a day (YYYY-MM-DD).", field=name) from None


def _nairobi_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=NAIROBI).astimezone(UTC)


class PaymentSearch:
    """Searches payments and paybill receipts, exports what it found, tells one's story."""

    def __init__(self, *, settings: Settings) -> None:
        self._settings = settings

    def _window(self, q: PaymentQuery) -> dict[str, datetime]:
        window = {}
        if q.date_from is not None:
            window["created_at__gte"] = _nairobi_midnight(q.date_from)
        if q.date_to is not None:
            window["created_at__lt"] = _nairobi_midnight(q.date_to + timedelta(days=1))
        return window

    def _amounts(self, q: PaymentQuery) -> dict[str, int]:
        amounts = {}
        if q.amount_min is not None:
            amounts["amount__gte"] = q.amount_min
        if q.amount_max is not None:
            amounts["amount__lte"] = q.amount_max
        return amounts

    def _payments(self, q: PaymentQuery) -> Any:
        query = Payment.filter(**self._window(q), **self._amounts(q))
        if q.status is not None:
            query = query.filter(status=PaymentStatus(q.status))
        if q.staff_id is not None:
            query = query.filter(initiated_by_id=q.staff_id)
        if q.msisdn is not None:
            query = query.filter(msisdn=q.msisdn)
        elif q.text:
            number = _NUMBER.fullmatch(q.text)
            code = normalize_code(q.text)
            match = (
                Q(receipt=code)
                | Q(receipt=q.text)
                | Q(checkout_request_id=q.text)
                | Q(transaction_id=q.text)
                | Q(order__code=code)
            )
            if number:
                match |= Q(id=int(number.group(1)))
            query = query.filter(match)
        return query

    def _paybill(self, q: PaymentQuery) -> Any:
        query = C2BTransaction.filter(**self._window(q), **self._amounts(q))
        if q.status == "received":
            query = query.filter(reversed_at__isnull=True)
        elif q.status == "reversed":
            query = query.filter(reversed_at__isnull=False)
        if q.staff_id is not None:
            query = query.filter(id__lt=0)  # nobody on the staff asks for a paybill payment
        if q.msisdn is not None:
            # Safaricom often reports these masked or hashed: the number as sent, if it was
            query = query.filter(msisdn=q.msisdn)
        elif q.text:
            code = normalize_code(q.text)
            query = query.filter(
                Q(trans_id=code) | Q(bill_ref_number=q.text) | Q(bill_ref_number=code)
            )
        return query

    def _source(self, q: PaymentQuery) -> Any:
        return self._paybill(q) if q.kind == "paybill" else self._payments(q)

    async def search(self, q: PaymentQuery, *, per_page: int = PER_PAGE) -> SearchPage:
        """One page of what ``q`` finds, sorted as asked."""
        source = self._source(q)
        total = await source.count()
        pages = max(1, -(-total // per_page))
        rows = await source.order_by(*SORTS[q.sort]).offset((q.page - 1) * per_page).limit(per_page)
        codes: dict[int, str] = {}
        names: dict[int, str] = {}
        if q.kind == "stk":
            order_ids = {p.order_id for p in rows if p.order_id is not None}
            if order_ids:
                codes = dict(await Order.filter(id__in=list(order_ids)).values_list("id", "code"))
            staff_ids = {p.initiated_by_id for p in rows if p.initiated_by_id is not None}
            if staff_ids:
                names = {s.id: _name(s) for s in await Staff.filter(id__in=list(staff_ids))}
        return SearchPage(q, rows, total, pages, codes, names)

    async def export_csv(self, q: PaymentQuery, out: TextIO, *, viewer: Staff | None) -> int:
        """Write every record ``q`` finds (all pages, in its order) as the /export CSV does."""
        full = shows_full_numbers(viewer)
        phone = (lambda msisdn: msisdn) if full else mask_msisdn
        to_row = c2b_row if q.kind == "paybill" else payment_row
        writer = csv.writer(out)
        writer.writerow(export_header(full_numbers=full))
        source = self._source(q).order_by(*SORTS[q.sort])
        written, offset = 0, 0
        while True:
            chunk = await source.offset(offset).limit(EXPORT_CHUNK)
            writer.writerows([safe_cells(to_row(record, phone)) for record in chunk])
            written += len(chunk)
            offset += len(chunk)
            if len(chunk) < EXPORT_CHUNK:
                break
        log.info("search.exported kind=%s rows=%d", q.kind, written)
        return written

    async def staff_choices(self) -> list[Staff]:
        """Everyone who may have asked for a payment (for the filter), by name."""
        return sorted(await Staff.all(), key=lambda s: (_name(s).lower(), s.id))

    async def detail(self, payment_id: int) -> PaymentDetail:
        """A payment, its order, who asked, its reversal and its timeline (oldest first)."""
        payment = await Payment.get_or_none(id=payment_id)
        if payment is None:
            raise NotFound(f"There is no payment #{payment_id}.")
        order = await Order.get_or_none(id=payment.order_id) if payment.order_id else None
        initiator = (
            await Staff.get_or_none(id=payment.initiated_by_id) if payment.initiated_by_id else None
        )
        reversal = await Reversal.get_or_none(receipt=payment.receipt) if payment.receipt else None
        subjects = [f"payment:{payment.id}"]
        if reversal is not None:
            subjects.append(f"reversal:{reversal.id}")
        events = [
            TimelineEvent(
                at=e.created_at,
                source="audit",
                action=e.action,
                actor=e.actor,
                outcome=e.outcome,
                detail=_plain(e.detail),
            )
            for e in await AuditEvent.filter(subject__in=subjects).order_by("id")
        ]
        keys = [k for k in (payment.checkout_request_id, payment.transaction_id) if k]
        if keys:
            for row in await CallbackInbox.filter(match_key__in=keys).order_by("id"):
                events.append(
                    TimelineEvent(
                        at=row.received_at,
                        source="callback",
                        action=f"{_value(row.kind)} callback",
                        outcome=_value(row.status),
                        detail={"error": row.error} if row.error else {},
                        raw=row.body,
                    )
                )
        for note in await Notification.filter(event_key__startswith=f"payment:{payment.id}:"):
            events.append(
                TimelineEvent(
                    at=note.created_at,
                    source="notification",
                    action=f"{_value(note.channel)} message",
                    outcome=_value(note.status),
                    detail={
                        "attempts": note.attempts,
                        "sent at": note.sent_at.isoformat(timespec="seconds")
                        if note.sent_at
                        else None,
                        "last error": note.last_error,
                    },
                )
            )
        events.sort(key=lambda e: e.at)
        actors = {e.actor for e in events if e.actor.startswith("tg:")}
        ids = [int(a[3:]) for a in actors if a[3:].isdigit()]
        names = {f"tg:{s.telegram_id}": _name(s) for s in await Staff.filter(telegram_id__in=ids)}
        return PaymentDetail(
            payment=payment,
            order=order,
            initiator=initiator,
            reversal=reversal,
            timeline=events,
            staff_names=names,
            actions=payment_actions(payment),
        )


def _name(staff: Staff) -> str:
    return staff.name or f"user {staff.telegram_id}"


def _value(enum: Any) -> str:
    return str(getattr(enum, "value", enum))


def _plain(detail: Any) -> dict[str, Any]:
    """An audit event's detail as flat text values (phones in it masked)."""
    if not isinstance(detail, dict):
        return {}
    shown: dict[str, Any] = {}
    for key, value in detail.items():
        text = value if isinstance(value, str | int | float | bool) or value is None else str(value)
        if isinstance(text, str) and text.isdigit() and len(text) == 12 and text.startswith("254"):
            text = mask_msisdn(text)
        shown[str(key)] = text
    return shown
