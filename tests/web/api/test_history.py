"""GET /api/v1/payments/history: filters, date range, cursor pagination, refusals."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from models import Order
from models import Payment
from models import PaymentStatus
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
        ("?phone=0711111111", [3, 1]),
        ("?phone=%2B254708374149&status=paid", [2, 0]),
        ("?from=2026-11-20T09:00:00Z", [4, 3, 2]),
        ("?from=2026-11-20T09:00:00Z&to=2026-11-20T10:00:00Z", [2]),
        ("?from=2026-11-20&to=2026-11-21", [3, 2]),  # Nairobi days
        ("?to=2026-11-19T12:00:00%2B03:00", [0]),
        ("?from=2026-11-20T08:00&to=2026-11-20T14:00", [3, 2]),  # Nairobi, to the minute
        ("?from=2026-11-20T12:00:00.5%2B03:00", [4, 3]),
        ("?from=2026-11-21&to=2026-11-20", []),  # an empty range, not an error
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
        ("?status=PAID", "status"),
        ("?status=", "status"),
        ("?phone=hello", "phone"),
        ("?phone=0711 111 111", "phone"),
        ("?phone=0733123456", "phone"),  # Airtel
        ("?phone=", "phone"),
        ("?from=yesterday", "from"),
        ("?from=", "from"),
        ("?to=", "to"),
        ("?to=2026-13-01", "to"),
        ("?to=2026-02-30", "to"),
        ("?to=2027-02-29", "to"),
        ("?from=2026-11-20 08:00", "from"),
        ("?from=20261120", "from"),
        ("?from=2026-11-20T08:00%2B03", "from"),
        ("?from=0001-01-01T00:00:00%2B05:00", "from"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=garbage", "cursor"),
        ("?cursor=cDEy", "cursor"),
        ("?cursor=", "cursor"),
        ("?cursor=%F0%9F%98%80", "cursor"),
    ],
)
async def test_bad_filters_are_400_naming_the_parameter(api, query, field) -> None:
    status, body = await get(api, query)

    assert (status, body["error"]["field"]) == (400, field)


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("GET", f"{HISTORY}?statsu=paid", "statsu"),
        ("GET", f"{HISTORY}?status=paid&page=2", "page"),
        ("GET", "/api/v1/payments/status/HPNOSUCH22?verbose=1", "verbose"),
        ("POST", "/api/v1/orders?amount=1500", "amount"),
        ("GET", "/api/v1/openapi.json?format=yaml", "format"),
    ],
)
async def test_an_unknown_query_parameter_is_400_naming_it(api, method, path, name) -> None:
    response = await api.client.request(method, path, headers=api.headers, json={})

    error = (await response.json())["error"]
    assert (response.status, error["code"], error["field"]) == (400, "invalid_input", name)
