"""PayoutSearch: the dashboard's payouts list, by any reference, filtered, sorted and paged."""

from __future__ import annotations

from datetime import date

import pytest

from bot.services.payout_search import PayoutFilter
from bot.services.payout_search import PayoutSearch
from bot.services.payout_search import phone_of
from models import Payout
from models import PayoutStatus
from models import Staff
from mpesa.security import NAIROBI
from tests.helpers.b2c import ADMIN
from tests.helpers.b2c import SECOND_ADMIN
from tests.helpers.b2c import B2CWorld
from tests.helpers.b2c import b2c_world


@pytest.fixture
async def world(db, settings) -> B2CWorld:
    return await b2c_world(settings)


@pytest.fixture
def search(world) -> PayoutSearch:
    return PayoutSearch(payouts=world.services.payouts, staff=world.services.staff)


async def payout(world, phone: str, amount: int, *, by: int = ADMIN, reason: str = "Refund"):
    return await world.services.payouts.send_money(
        phone, amount, initiator_telegram_id=by, reason=reason
    )


@pytest.mark.parametrize(
    ("typed", "msisdn"),
    [
        ("0708 374 149", "254708374149"),
        ("+254708374149", "254708374149"),
        ("254708374149", "254708374149"),
        ("0733123456", "254733123456"),
        ("P12", None),
        ("UKK4Q7M2XB", None),
    ],
)
def test_a_phone_in_any_form_is_read_as_one(typed, msisdn):
    assert phone_of(typed) == msisdn


async def test_search_by_phone_id_receipt_and_words(world, search):
    a = await payout(world, "0708374149", 500, reason="Refund for order 12")
    b = await payout(world, "0712345678", 700, reason="Supplier Wambui")
    await Payout.filter(id=b.id).update(receipt="UKK4Q7M2XB")

    async def ids(text: str) -> list[int]:
        return [p.id for p in (await search.page(PayoutFilter(text=text))).payouts]

    assert await ids("+254 708 374 149") == [a.id]
    assert await ids(f"P{b.id}") == [b.id]
    assert await ids("ukk4q7m2xb") == [b.id]
    assert await ids("wambui") == [b.id]
    assert await ids("nobody") == []


async def test_filters_sort_and_pages(world, search):
    made = [await payout(world, "0708374149", 100 + i) for i in range(5)]
    second = await payout(world, "0708374149", 50_000, by=SECOND_ADMIN)
    await world.services.payouts.cancel_payout(made[0].id, by_telegram_id=ADMIN)
    staff = await Staff.get(telegram_id=SECOND_ADMIN)

    cheapest = await search.page(PayoutFilter(sort="amount_asc"), size=2)
    by_second = await search.page(PayoutFilter(staff_id=staff.id))
    cancelled = await search.page(PayoutFilter(status=PayoutStatus.CANCELLED))
    ranged = await search.page(PayoutFilter(min_amount=102, max_amount=103))
    today = world.clock().astimezone(NAIROBI).date()
    dated = await search.page(PayoutFilter(start=today, end=today))
    none_dated = await search.page(PayoutFilter(start=date(2001, 1, 1), end=date(2001, 1, 2)))
    last = await search.page(PayoutFilter(sort="amount_asc", page=99), size=2)

    assert [p.amount for p in cheapest.payouts] == [100, 101]
    assert (cheapest.total, cheapest.pages, cheapest.page) == (6, 3, 1)
    assert [p.id for p in by_second.payouts] == [second.id]
    assert [p.id for p in cancelled.payouts] == [made[0].id]
    assert sorted(p.amount for p in ranged.payouts) == [102, 103]
    assert dated.total == 6 and none_dated.total == 0
    assert (last.page, [p.amount for p in last.payouts]) == (3, [104, 50_000])
    assert by_second.names[staff.id] == "Second"


async def test_the_limit_left_of_each_admin(world, search):
    p = await payout(world, "0708374149", 800)
    await world.services.payouts.confirm_payout(p.id, by_telegram_id=ADMIN)

    rows = {row.staff.telegram_id: row for row in await search.limits_left()}

    assert rows[ADMIN].used == 800
    assert rows[ADMIN].left == rows[ADMIN].limit - 800
    assert rows[SECOND_ADMIN].used == 0
