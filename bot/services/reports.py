"""Statistics, history and CSV export of payments, payouts and C2B receipts (read-only)."""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Literal
from typing import TextIO

from tortoise import connections
from tortoise.expressions import Subquery
from tortoise.functions import Count
from tortoise.functions import Sum

from bot.config import Settings
from bot.services.errors import InvalidInput
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from bot.services.providers import route_phone
from models import C2BTransaction
from models import Notification
from models import Order
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import Provider
from models import Staff
from models import StaffRole
from mpesa.phone import PhoneError
from mpesa.phone import mask_msisdn
from mpesa.phone import normalize_msisdn
from mpesa.security import NAIROBI

log = logging.getLogger(__name__)

Period = Literal["today", "week", "month"]
PERIODS: tuple[Period, ...] = ("today", "week", "month")
EXPORT_CHUNK = 500
EXPORT_COLUMNS = (
    "kind",
    "id",
    "time_nairobi",
    "status",
    "amount_kes",
    "phone",  # full for admins and the command line, masked for cashiers (the header says which)
    "account",
    "receipt",
    "description",  # what the sale or payout was for, or the paybill payer's name
    "mpesa_result",  # the provider's result text (or our reason when it never got that far)
    "provider",  # mpesa or airtel
)
FULL_PHONE = "phone_full_number"
MASKED_PHONE = "phone_masked"
# what a spreadsheet runs as a formula when a cell starts with it (OWASP: CSV injection)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class PaymentPage:
    """One page of payments, newest first, and the id to continue before (None: last page)."""

    payments: list[Payment]
    order_codes: dict[int, str]
    next_before_id: int | None


@dataclass(frozen=True)
class Stats:
    """Money in and out over a period (whole shillings) and how STK attempts ended."""

    period: str
    start: datetime
    end: datetime
    stk_received_total: int
    stk_received_count: int
    c2b_received_total: int
    c2b_received_count: int
    sent_total: int
    sent_count: int
    stk_settled: int  # STK attempts that reached a final status
    stk_paid: int
    # money received, then sent back by a reversal: not in the received figures (net)
    reversed_total: int = 0
    reversed_count: int = 0
    # Airtel Money: payment requests paid (not in the STK figures) and payouts completed (in
    # the sent figures too)
    airtel_received_total: int = 0
    airtel_received_count: int = 0
    airtel_sent_total: int = 0
    airtel_sent_count: int = 0
    payments_by_status: dict[str, int] = field(default_factory=dict)
    payouts_by_status: dict[str, int] = field(default_factory=dict)

    @property
    def received_total(self) -> int:
        """Shillings received by STK, C2B and Airtel Money, net of reversals."""
        return self.stk_received_total + self.c2b_received_total + self.airtel_received_total

    @property
    def received_count(self) -> int:
        """Payments received by STK, C2B and Airtel Money."""
        return self.stk_received_count + self.c2b_received_count + self.airtel_received_count

    @property
    def success_percent(self) -> int | None:
        """Share of settled STK attempts that were paid, in whole percent (None: no attempts)."""
        if not self.stk_settled:
            return None
        return (self.stk_paid * 200 + self.stk_settled) // (self.stk_settled * 2)  # half up


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """Start (Nairobi midnight of today, Monday or the 1st) and end (now) of a period, in UTC."""
    local = now.astimezone(NAIROBI)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "today":
        start = midnight
    elif period == "week":
        start = midnight - timedelta(days=local.weekday())
    elif period == "month":
        start = midnight.replace(day=1)
    elif period in ("7d", "30d"):
        # the dashboard's rolling windows: today and the days before it
        start = midnight - timedelta(days=int(period[:-1]) - 1)
    else:
        raise InvalidInput(f"{period!r} is not a period; use today, week or month", field="period")
    return start.astimezone(UTC), now.astimezone(UTC)


class ReportService:
    """Answers 'how much came in and went out' questions and exports the records."""

    def __init__(
        self,
        *,
        extra_prefixes: list[str] | None = None,
        clock: Clock = utcnow,
        settings: Settings | None = None,
    ) -> None:
        self._extra_prefixes = list(extra_prefixes or [])
        self._settings = settings  # with it, phones are read by the provider router
        self._clock = clock

    async def stats(self, period: Period = "today", *, now: datetime | None = None) -> Stats:
        """Totals received and sent, STK success and status counts for today, week or month."""
        start, end = period_bounds(period, now or self._clock())
        window = {"created_at__gte": start, "created_at__lt": end}
        payments = await _by_status(Payment, window)
        payouts = await _by_status(Payout, window)
        stk_total, stk_count = await _sum_count(
            Payment, status=PaymentStatus.PAID, provider=Provider.MPESA, **window
        )
        airtel_total, airtel_count = await _sum_count(
            Payment, status=PaymentStatus.PAID, provider=Provider.AIRTEL, **window
        )
        # an STK payment can also arrive as a C2B confirmation with the same receipt
        stk_receipts = Subquery(Payment.filter(receipt__isnull=False).values("receipt"))
        c2b_only = C2BTransaction.exclude(trans_id__in=stk_receipts)
        c2b_total, c2b_count = await _sum_count(c2b_only, reversed_at__isnull=True, **window)
        back_total, back_count = await _sum_count(Payment, status=PaymentStatus.REVERSED, **window)
        c2b_back_total, c2b_back_count = await _sum_count(
            c2b_only, reversed_at__isnull=False, **window
        )
        sent_total, sent_count = await _sum_count(Payout, status=PayoutStatus.COMPLETED, **window)
        airtel_sent_total, airtel_sent_count = await _sum_count(
            Payout, status=PayoutStatus.COMPLETED, provider=Provider.AIRTEL, **window
        )
        settled = sum(n for status, n in payments.items() if PaymentStatus(status).is_final)
        return Stats(
            period=period,
            start=start,
            end=end,
            stk_received_total=stk_total,
            stk_received_count=stk_count,
            c2b_received_total=c2b_total,
            c2b_received_count=c2b_count,
            sent_total=sent_total,
            sent_count=sent_count,
            stk_settled=settled,
            stk_paid=payments.get(PaymentStatus.PAID.value, 0)
            + payments.get(PaymentStatus.REVERSED.value, 0),
            reversed_total=back_total + c2b_back_total,
            reversed_count=back_count + c2b_back_count,
            payments_by_status=payments,
            payouts_by_status=payouts,
            airtel_received_total=airtel_total,
            airtel_received_count=airtel_count,
            airtel_sent_total=airtel_sent_total,
            airtel_sent_count=airtel_sent_count,
        )

    # history and payout_history stay two typed entry points with the same filters on purpose:
    # the query itself is written once, in _newest
    async def history(
        self,
        *,
        period: Period | None = None,
        msisdn: str | None = None,
        status: str | None = None,
        limit: int = 10,
        before_id: int | None = None,
    ) -> list[Payment]:
        """Newest STK payments first, filtered; pass the last id as ``before_id`` for more."""
        return await self._newest(Payment, PaymentStatus, period, msisdn, status, limit, before_id)

    async def payout_history(
        self,
        *,
        period: Period | None = None,
        msisdn: str | None = None,
        status: str | None = None,
        limit: int = 10,
        before_id: int | None = None,
    ) -> list[Payout]:
        """Newest payouts first, filtered; pass the last id as ``before_id`` for more."""
        return await self._newest(Payout, PayoutStatus, period, msisdn, status, limit, before_id)

    async def _newest(
        self,
        model: Any,
        statuses: Any,
        period: Period | None,
        msisdn: str | None,
        status: str | None,
        limit: int,
        before_id: int | None,
    ) -> list[Any]:
        query = model.filter(**self._filters(period, msisdn, before_id))
        if status is not None:
            query = query.filter(status=_status(statuses, status))
        return await query.order_by("-id").limit(_clamp(limit))

    async def payment_page(
        self,
        *,
        status: PaymentStatus | None = None,
        msisdn: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> PaymentPage:
        """Payments created in [start, end) matching the filters, newest first, a page at a time."""
        query = Payment.all()
        if status is not None:
            query = query.filter(status=status)
        if msisdn is not None:
            query = query.filter(msisdn=msisdn)
        if start is not None:
            query = query.filter(created_at__gte=start)
        if end is not None:
            query = query.filter(created_at__lt=end)
        if before_id is not None:
            query = query.filter(id__lt=before_id)
        # one extra row says whether another page exists without a COUNT
        rows = await query.order_by("-id").limit(_clamp(limit) + 1)
        page = rows[: _clamp(limit)]
        order_ids = {p.order_id for p in page if p.order_id is not None}
        codes: dict[int, str] = {}
        if order_ids:
            codes = dict(await Order.filter(id__in=list(order_ids)).values_list("id", "code"))
        next_before = page[-1].id if len(rows) > len(page) else None
        return PaymentPage(payments=page, order_codes=codes, next_before_id=next_before)

    async def export_csv(
        self,
        start: datetime,
        end: datetime,
        out: TextIO,
        *,
        viewer: Staff | None = None,
        progress: Callable[[int], Any] | None = None,
    ) -> int:
        """Write payments, payouts and C2B receipts created in [start, end) as CSV; return rows.

        Phones are full for admins and the command line (``viewer`` None), masked for cashiers.
        """
        full = shows_full_numbers(viewer)
        writer = csv.writer(out)
        writer.writerow(export_header(full_numbers=full))
        phone = (lambda msisdn: msisdn) if full else mask_msisdn
        rows = 0
        for model, to_row in (
            (Payment, payment_row),
            (Payout, payout_row),
            (C2BTransaction, c2b_row),
        ):
            after = 0
            while True:
                chunk = (
                    await model.filter(created_at__gte=start, created_at__lt=end, id__gt=after)
                    .order_by("id")
                    .limit(EXPORT_CHUNK)
                )
                if not chunk:
                    break
                writer.writerows([safe_cells(to_row(record, phone)) for record in chunk])
                rows += len(chunk)
                after = chunk[-1].id
                if progress is not None:
                    progress(rows)
                if len(chunk) < EXPORT_CHUNK:
                    break
        log.info("report.exported rows=%d start=%s end=%s", rows, start, end)
        return rows

    async def check_database(self) -> None:
        """Raise if the database does not answer a trivial query."""
        await connections.get("default").execute_query("SELECT 1")

    async def status_counts(self) -> dict[str, dict[str, int]]:
        """Current rows per status: payments, payouts and notifications (for /metrics)."""
        return {
            "payments": await _by_status(Payment, {}),
            "payouts": await _by_status(Payout, {}),
            "notifications": await _by_status(Notification, {}),
        }

    def _filters(self, period: str | None, msisdn: str | None, before_id: int | None) -> dict:
        filters: dict[str, Any] = {}
        if period is not None:
            start, end = period_bounds(period, self._clock())
            filters.update(created_at__gte=start, created_at__lt=end)
        if msisdn is not None:
            if self._settings is not None:
                filters["msisdn"] = route_phone(msisdn, self._settings).msisdn
            else:
                try:
                    filters["msisdn"] = normalize_msisdn(
                        msisdn, extra_prefixes=self._extra_prefixes
                    )
                except PhoneError as exc:
                    raise InvalidInput(str(exc), field="phone") from exc
        if before_id is not None:
            filters["id__lt"] = before_id
        return filters


async def _by_status(model: Any, filters: dict[str, Any]) -> dict[str, int]:
    rows = (
        await model.filter(**filters)
        .annotate(n=Count("id"))
        .group_by("status")
        .values("status", "n")
    )
    return {str(_value(row["status"])): row["n"] for row in rows}


async def _sum_count(source: Any, **filters: Any) -> tuple[int, int]:
    query = source.filter(**filters)
    rows = await query.annotate(total=Sum("amount"), n=Count("id")).values("total", "n")
    if not rows:
        return 0, 0
    # SUM of a bigint is an int in SQLite and a numeric in PostgreSQL: whole shillings either way
    return int(rows[0]["total"] or 0), int(rows[0]["n"] or 0)


def _value(status: Any) -> str:
    return getattr(status, "value", status)


def _status(enum: Any, raw: str) -> Any:
    try:
        return enum(str(raw).strip().lower())
    except ValueError:
        known = ", ".join(s.value for s in enum)
        raise InvalidInput(f"{raw!r} is not a status; use one of {known}", field="status") from None


def _clamp(limit: int) -> int:
    return max(1, min(100, int(limit)))


def _when(moment: datetime | None) -> str:
    return moment.astimezone(NAIROBI).isoformat(timespec="seconds") if moment else ""


def shows_full_numbers(viewer: Staff | None) -> bool:
    """True when an export for ``viewer`` shows full phone numbers (admins, the command line)."""
    return viewer is None or StaffRole(viewer.role) is StaffRole.ADMIN


def export_header(*, full_numbers: bool) -> list[str]:
    """The CSV header; the phone column is named for what it holds (full or masked)."""
    phone = FULL_PHONE if full_numbers else MASKED_PHONE
    return [phone if column == "phone" else column for column in EXPORT_COLUMNS]


Phone = Callable[[str], str]


def payment_row(p: Payment, phone: Phone) -> list[Any]:
    """A payment request as an export row (EXPORT_COLUMNS)."""
    return [
        "airtel" if p.provider == Provider.AIRTEL else "stk",
        p.id,
        _when(p.created_at),
        _value(p.status),
        p.amount,
        phone(p.msisdn),
        p.account_reference,
        p.receipt or "",
        p.description,
        p.result_desc or "",
        _value(p.provider),
    ]


def payout_row(p: Payout, phone: Phone) -> list[Any]:
    """A payout as an export row (EXPORT_COLUMNS)."""
    return [
        "payout",
        p.id,
        _when(p.created_at),
        _value(p.status),
        p.amount,
        phone(p.msisdn),
        "",
        p.receipt or "",
        p.remarks,
        p.result_desc or "",
        _value(p.provider),
    ]


def c2b_row(t: C2BTransaction, phone: Phone) -> list[Any]:
    """A paybill (C2B) payment as an export row (EXPORT_COLUMNS)."""
    return [
        "c2b",
        t.id,
        _when(t.trans_time or t.created_at),
        "reversed" if t.reversed_at is not None else "received",
        t.amount,
        phone(t.msisdn) if t.msisdn else "",  # as Safaricom reported it (often masked already)
        t.bill_ref_number,
        t.trans_id,
        payer_name(t.payer_name),
        "",
        Provider.MPESA.value,
    ]


def payer_name(raw: str) -> str:
    """A paybill payer's name as a spreadsheet may show it: no formula or control lead-in."""
    return raw.lstrip("".join(FORMULA_STARTS) + " \n\x0b\x0c").strip()


def safe_cells(row: list[Any]) -> list[Any]:
    """Neutralise text a spreadsheet would run as a formula (=, +, -, @, tab, CR at the start)."""
    return [
        f"'{cell}" if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell
        for cell in row
    ]
