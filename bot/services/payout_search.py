"""Finding payouts for the dashboard: search, filters, sorting and pages, and who may send what.

One filter, read from what a person typed: a payout by #id or P12, a phone in any form (07…,
+254…, 254…), a receipt or a ConversationID; plus status, Nairobi dates, an amount range and the
admin who asked. The daily limit left per admin is PayoutService's own count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any

from tortoise.expressions import Q

from airtel.phone import PhoneError as AirtelPhoneError
from airtel.phone import normalize_msisdn as airtel_msisdn
from bot.services.payouts import PayoutService
from bot.services.staff import StaffService
from models import Payout
from models import PayoutStatus
from models import Staff
from models import StaffRole
from mpesa.phone import PhoneError
from mpesa.phone import normalize_msisdn
from mpesa.security import NAIROBI

PAGE_SIZE = 25
TEXT_MAX = 96
_ID = re.compile(r"[Pp]?\s*#?\s*([0-9]{1,9})")
_PHONE_LIKE = re.compile(r"\+?[0-9][0-9 ()-]{7,16}")
SORTS: dict[str, tuple[str, ...]] = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "amount_desc": ("-amount", "-id"),
    "amount_asc": ("amount", "id"),
    "status": ("status", "-id"),
}


@dataclass(frozen=True)
class PayoutFilter:
    """What the payouts page was asked for (every part optional; text as typed)."""

    text: str = ""
    status: PayoutStatus | None = None
    start: date | None = None  # Nairobi dates, both days included
    end: date | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    staff_id: int | None = None  # the admin who asked for it
    sort: str = "newest"
    page: int = 1


@dataclass(frozen=True)
class LimitLeft:
    """An admin's daily payout limit, what today's confirmed payouts used, and what is left."""

    staff: Staff
    limit: int
    used: int
    left: int


@dataclass(frozen=True)
class PayoutPage:
    """One page of payouts, how many match in all, and the names of the people on it."""

    payouts: list[Payout]
    total: int
    page: int
    pages: int
    names: dict[int, str] = field(default_factory=dict)


def phone_of(text: str) -> str | None:
    """``text`` as a 2547XXXXXXXX number (Safaricom or Airtel), or None if it is no phone."""
    if not _PHONE_LIKE.fullmatch(text.strip()):
        return None
    try:
        return normalize_msisdn(text)
    except PhoneError:
        try:
            return airtel_msisdn(text)
        except AirtelPhoneError:
            return None


def nairobi_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC bounds [from, to) of the Nairobi days from ``start`` to ``end``, both included."""
    low = datetime.combine(start, time(), NAIROBI) if start else None
    high = datetime.combine(end + timedelta(days=1), time(), NAIROBI) if end else None
    return low, high


class PayoutSearch:
    """Reads payouts for the dashboard's lists (never changes one)."""

    def __init__(self, *, payouts: PayoutService, staff: StaffService) -> None:
        self._payouts = payouts
        self._staff = staff

    def _where(self, f: PayoutFilter) -> Q:
        where = Q()
        text = f.text.strip()[:TEXT_MAX]
        if text:
            by_text = Q(conversation_id=text) | Q(originator_conversation_id=text)
            by_text |= Q(receipt=text.upper()) | Q(receipt=text)
            number = _ID.fullmatch(text)
            if number:
                by_text |= Q(id=int(number.group(1)))
            msisdn = phone_of(text)
            if msisdn:
                by_text |= Q(msisdn=msisdn)
            if not number and not msisdn:
                by_text |= Q(remarks__icontains=text) | Q(receiver_name__icontains=text)
            where &= by_text
        if f.status is not None:
            where &= Q(status=f.status)
        low, high = nairobi_bounds(f.start, f.end)
        if low is not None:
            where &= Q(created_at__gte=low)
        if high is not None:
            where &= Q(created_at__lt=high)
        if f.min_amount is not None:
            where &= Q(amount__gte=f.min_amount)
        if f.max_amount is not None:
            where &= Q(amount__lte=f.max_amount)
        if f.staff_id is not None:
            where &= Q(initiated_by_id=f.staff_id)
        return where

    async def page(self, f: PayoutFilter, *, size: int = PAGE_SIZE) -> PayoutPage:
        """The payouts matching ``f``, sorted, one page at a time (pages count from 1)."""
        query = Payout.filter(self._where(f))
        total = await query.count()
        pages = max(1, -(-total // size))
        page = min(max(1, f.page), pages)
        order = SORTS.get(f.sort, SORTS["newest"])
        rows = await query.order_by(*order).offset((page - 1) * size).limit(size)
        return PayoutPage(rows, total, page, pages, await self.names(rows))

    async def names(self, payouts: list[Payout]) -> dict[int, str]:
        """Staff id -> name (or "user <telegram id>") for everyone these payouts mention."""
        ids: set[Any] = set()
        for p in payouts:
            ids |= {p.initiated_by_id, p.confirmed_by_id, p.approved_by_id, p.rejected_by_id}
        ids.discard(None)
        people = await Staff.filter(id__in=list(ids)) if ids else []
        return {s.id: s.name or f"user {s.telegram_id}" for s in people}

    async def admins(self) -> list[Staff]:
        """The active admins, for the "asked by" filter."""
        members = await self._staff.active_members()
        return [m for m in members if StaffRole(m.role) is StaffRole.ADMIN]

    async def limits_left(self, *, now: datetime | None = None) -> list[LimitLeft]:
        """Every active admin's daily limit, used and left today (the Nairobi day)."""
        rows = []
        for admin in await self.admins():
            limit = self._staff.daily_payout_limit(admin)
            used = await self._payouts.reserved_today(admin, now=now)
            rows.append(LimitLeft(admin, limit, used, max(limit - used, 0)))
        return rows
