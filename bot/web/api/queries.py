"""Read-only look-ups the API needs that the services do not offer (history by date range)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import Order, Payment, PaymentStatus


@dataclass(frozen=True)
class PaymentPage:
    """One page of payments, newest first, and the id to continue before (None: last page)."""

    payments: list[Payment]
    order_codes: dict[int, str]
    next_before_id: int | None


async def latest_payment(order: Order) -> Payment | None:
    """The order's newest STK attempt, or None."""
    return await Payment.filter(order_id=order.id).order_by("-id").first()


async def in_flight_payment(order: Order) -> Payment | None:
    """The order's attempt still waiting for the customer (one at most), or None."""
    return await Payment.get_or_none(in_flight_order_id=order.id)


async def phone_busy(msisdn: str) -> bool:
    """True while a prompt is open on this phone (for any order or none)."""
    return await Payment.filter(in_flight_msisdn=msisdn).exists()


async def order_codes(order_ids: set[int]) -> dict[int, str]:
    """Order codes by order id."""
    if not order_ids:
        return {}
    rows = await Order.filter(id__in=list(order_ids)).values_list("id", "code")
    return dict(rows)


async def payment_page(
    *,
    status: PaymentStatus | None,
    msisdn: str | None,
    start: datetime | None,
    end: datetime | None,
    before_id: int | None,
    limit: int,
) -> PaymentPage:
    """Payments matching the filters (created in [start, end)), newest first, ``limit`` a page."""
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
    rows = await query.order_by("-id").limit(limit + 1)
    page = rows[:limit]
    codes = await order_codes({p.order_id for p in page if p.order_id is not None})
    next_before = page[-1].id if len(rows) > limit else None
    return PaymentPage(payments=page, order_codes=codes, next_before_id=next_before)
