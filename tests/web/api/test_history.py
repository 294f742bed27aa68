"""GET /api/v1/payments/history: filters, date range, cursor pagination, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models import Order, Payment, PaymentStatus
from tests.web.api.conftest import SQLITE_ONLY

HISTORY = "/api/v1/payments/history"
DAY = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 12:00 in Nairobi


async def add_payment(
    msisdn: str, status: PaymentStatus, created_at: datetime, order: Order | None = None
) -> Payment:
    payment = await Payment.create(
        msisdn=msisdn, amount=100, account_reference="X", status=status, order=order
    )
    # created_at is set by the database on insert: move it to the moment the test needs
    await Payment.filter(id=payment.id).update(created_at=created_at)
    return payment


@pytest.fixture
async def payments(api) -> list[Payment]:
    order = await Order.create(code="HPABCD2345", amount=100)
    return [
        await add_payment("254708374149", PaymentStatus.PAID, DAY - timedelta(days=2), order),
        await add_payment("254711111111", PaymentStatus.CANCELLED, DAY - timedelta(days=1)),
        await add_payment("254708374149", PaymentStatus.PAID, DAY),
        await add_payment("254711111111", PaymentStatus.PAID, DAY + timedelta(hours=1)),
        await add_payment("254708374149", PaymentStatus.FAILED, DAY + timedelta(days=1)),
    ]


async def get(api, query: str = "") -> tuple[int, dict]:
    response = await api.client.get(f"{HISTORY}{query}", headers=api.headers)
    return response.status, await response.json()


async def test_pages_follow_the_cursor_newest_first_until_the_last(api, payments) -> None:
    seen, cursors, query = [], [], "?limit=2"
    while True:
        status, page = await get(api, query)
        assert status == 200
        seen.append([p["paymentId"] for p in page["data"]])
        cursors.append(page["nextCursor"])
        if page["nextCursor"] is None:
            break
        query = f"?limit=2&cursor={page['nextCursor']}"

    ids = [p.id for p in payments]
    assert seen == [[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]
    assert cursors[-1] is None


async def test_an_exact_last_page_has_no_cursor(api, payments) -> None:
    status, page = await get(api, "?limit=5")

    assert (status, len(page["data"]), page["nextCursor"]) == (200, 5, None)


async def test_payments_show_their_order_code(api, payments) -> None:
    _, page = await get(api)

    by_id = {p["paymentId"]: p["orderId"] for p in page["data"]}
    assert (by_id[payments[0].id], by_id[payments[1].id]) == ("HPABCD2345", None)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=paid", [3, 2, 0]),
        ("?status=PAID", [3, 2, 0]),
        ("?phone=0711 111 111", [3, 1]),
        ("?phone=%2B254708374149&status=paid", [2, 0]),
        ("?from=2026-11-20T09:00:00Z", [4, 3, 2]),
        ("?from=2026-11-20T09:00:00Z&to=2026-11-20T10:00:00Z", [2]),
        ("?from=2026-11-20&to=2026-11-21", [3, 2]),  # Nairobi days
        ("?to=2026-11-19T12:00:00%2B03:00", [0]),
    ],
)
async def test_filters(api, payments, query, expected) -> None:
    status, page = await get(api, query)

    assert status == 200
    assert [p["paymentId"] for p in page["data"]] == [payments[i].id for i in expected]


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?status=bogus", "status"),
        ("?phone=hello", "phone"),
        ("?from=yesterday", "from"),
        ("?to=2026-13-01", "to"),
        ("?from=0001-01-01T00:00:00%2B05:00", "from"),
        ("?from=2026-11-21&to=2026-11-20", "to"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=garbage", "cursor"),
        ("?cursor=%F0%9F%98%80", "cursor"),
    ],
)
async def test_bad_filters_are_400_naming_the_parameter(api, query, field) -> None:
    status, body = await get(api, query)

    assert (status, body["error"]["field"]) == (400, field)
