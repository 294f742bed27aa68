"""The dashboard's overview in figures: money in and out per day, the latest records, and what
needs someone's attention (read-only; the totals come from ReportService.stats)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

from tortoise.expressions import Subquery

from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from models import C2BTransaction
from models import CallbackInbox
from models import DarajaQuery
from models import InboxStatus
from models import Notification
from models import NotificationStatus
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import QueryKind
from models import QueryStatus
from mpesa.security import NAIROBI


@dataclass(frozen=True)
class DayFlow:
    """Shillings received and sent on one Nairobi day."""

    day: date
    received: int
    sent: int


@dataclass(frozen=True)
class Attention:
    """One thing waiting for a person: what, how many, and where to act on it."""

    key: str
    label: str
    count: int
    link: str
    detail: str = ""


@dataclass(frozen=True)
class Overview:
    """Per-day flows, the latest payments and payouts, and the attention list."""

    days: list[DayFlow]
    latest: list[tuple[str, Payment | Payout]] = field(default_factory=list)
    attention: list[Attention] = field(default_factory=list)
    balance: int | None = None  # shillings available at the last /balance answer
    balance_at: datetime | None = None


class OverviewService:
    """Reads what the overview page shows."""

    def __init__(
        self,
        *,
        low_balance: int,
        clock: Clock = utcnow,
    ) -> None:
        self._low = low_balance
        self._clock = clock

    async def overview(self, *, days: int = 30) -> Overview:
        """The last ``days`` Nairobi days of money in and out, newest records, attention."""
        today = self._clock().astimezone(NAIROBI).date()
        first = today - timedelta(days=days - 1)
        start = datetime(first.year, first.month, first.day, tzinfo=NAIROBI).astimezone(UTC)
        received: dict[date, int] = {}
        sent: dict[date, int] = {}
        paid = Payment.filter(status=PaymentStatus.PAID, created_at__gte=start)
        for at, amount in await paid.values_list("created_at", "amount"):
            day = at.astimezone(NAIROBI).date()
            received[day] = received.get(day, 0) + int(amount)
        # an STK payment can also arrive as a C2B confirmation with the same receipt
        stk_receipts = Subquery(Payment.filter(receipt__isnull=False).values("receipt"))
        c2b = C2BTransaction.filter(created_at__gte=start, reversed_at__isnull=True).exclude(
            trans_id__in=stk_receipts
        )
        for at, amount in await c2b.values_list("created_at", "amount"):
            day = at.astimezone(NAIROBI).date()
            received[day] = received.get(day, 0) + int(amount)
        done = Payout.filter(status=PayoutStatus.COMPLETED, created_at__gte=start)
        for at, amount in await done.values_list("created_at", "amount"):
            day = at.astimezone(NAIROBI).date()
            sent[day] = sent.get(day, 0) + int(amount)
        flows = [
            DayFlow(d, received.get(d, 0), sent.get(d, 0))
            for d in (first + timedelta(days=n) for n in range(days))
        ]
        latest = [("payment", p) for p in await Payment.all().order_by("-id").limit(10)]
        latest += [("payout", p) for p in await Payout.all().order_by("-id").limit(10)]
        latest.sort(key=lambda pair: pair[1].created_at, reverse=True)
        balance, balance_at = await self._last_balance()
        return Overview(
            days=flows,
            latest=latest[:10],
            attention=await self._attention(balance),
            balance=balance,
            balance_at=balance_at,
        )

    async def _last_balance(self) -> tuple[int | None, datetime | None]:
        query = (
            await DarajaQuery.filter(kind=QueryKind.BALANCE, status=QueryStatus.ANSWERED)
            .order_by("-id")
            .first()
        )
        if query is None or not isinstance(query.result, dict):
            return None, None
        cents = [
            a.get("available_cents")
            for a in query.result.get("accounts", [])
            if isinstance(a, dict) and isinstance(a.get("available_cents"), int)
        ]
        if not cents:
            return None, query.answered_at
        return sum(cents) // 100, query.answered_at

    async def _attention(self, balance: int | None) -> list[Attention]:
        approvals = await Payout.filter(status=PayoutStatus.AWAITING_APPROVAL).count()
        parked = await Payment.filter(
            status__in=[PaymentStatus.REVIEW, PaymentStatus.UNKNOWN]
        ).count()
        unknown_payouts = await Payout.filter(status=PayoutStatus.UNKNOWN).count()
        failed_notes = await Notification.filter(status=NotificationStatus.FAILED).count()
        unmatched = await CallbackInbox.filter(status=InboxStatus.UNMATCHED).count()
        items = [
            Attention(
                "approvals",
                "Payouts awaiting approval",
                approvals,
                "/dashboard/payouts?status=awaiting_approval",
            ),
            Attention(
                "payments",
                "Payments in review or unknown",
                parked,
                "/dashboard/payments?status=review",
                "Open one and press Resolve after a fresh look.",
            ),
            Attention(
                "payouts",
                "Payouts with an unknown outcome",
                unknown_payouts,
                "/dashboard/payouts?status=unknown",
            ),
            Attention(
                "notifications",
                "Messages that could not be delivered",
                failed_notes,
                "/dashboard/settings?check=1",
                "Run the check to see which channel fails.",
            ),
            Attention(
                "callbacks",
                "Callbacks that match no record yet",
                unmatched,
                "/dashboard/payments?status=unknown",
                "Applied once their record appears; unknown payments are settled by query.",
            ),
        ]
        if balance is not None and balance < self._low:
            items.append(
                Attention(
                    "balance",
                    f"Low balance: KES {balance:,} at the last /balance",
                    1,
                    "/dashboard/payouts",
                    f"Below KES {self._low:,}: payouts may fail until the account is topped up.",
                )
            )
        return [item for item in items if item.count]
