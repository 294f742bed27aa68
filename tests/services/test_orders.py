"""OrderService: creating orders with unambiguous codes and finding them again."""

from __future__ import annotations

import re

import pytest

from bot.notify.notifier import Notifier
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotFound
from bot.services.orders import CODE_ALPHABET
from bot.services.orders import OrderService
from bot.services.orders import default_code_prefix
from models import AuditEvent
from models import Customer
from models import Order
from models import OrderStatus


@pytest.fixture
def orders(db, settings) -> OrderService:
    notifier = Notifier(business_name=settings.business_name, admin_telegram_ids=[1001])
    return OrderService(notifier=notifier, settings=settings)


async def test_create_order_picks_a_prefixed_unambiguous_code(orders):
    order = await orders.create_order("1,500", " Sufuria set ", created_by=None, actor="api:shop")

    assert re.fullmatch(rf"HP[{CODE_ALPHABET}]{{10}}", order.code)
    assert order.amount == 1500
    assert order.description == "Sufuria set"
    assert order.status == OrderStatus.OPEN
    event = await AuditEvent.get(action="order.create")
    assert (event.actor, event.subject) == ("api:shop", f"order:{order.id}")


@pytest.mark.parametrize(
    ("name", "prefix"),
    [("Household Planet Kenya", "HP"), ("Mama Mboga", "MM"), ("Duka", "D"), ("---", "")],
)
def test_default_code_prefix_is_the_business_initials(name, prefix):
    assert default_code_prefix(name) == prefix


@pytest.mark.parametrize("amount", ["1.5", "0", "abc", "300000"])
async def test_invalid_amount_is_refused(orders, amount):
    with pytest.raises(InvalidInput) as caught:
        await orders.create_order(amount, "x", created_by=None, actor="api:shop")

    assert caught.value.field == "amount"
    assert await Order.all().count() == 0


async def test_code_collision_is_retried(orders, monkeypatch):
    taken = await orders.create_order(150, "first", created_by=None, actor="cli")
    codes = iter([taken.code, "HPZZZZZZZZ"])
    monkeypatch.setattr(orders, "new_code", lambda: next(codes))

    order = await orders.create_order(150, "second", created_by=None, actor="cli")

    assert order.code == "HPZZZZZZZZ"


async def test_a_shop_reference_is_used_once(orders):
    first = await orders.create_order(
        150, "a", created_by=None, actor="api:shop", reference="INV-9"
    )

    with pytest.raises(Conflict, match=f"INV-9 already exists \\({first.code}\\)"):
        await orders.create_order(150, "b", created_by=None, actor="api:shop", reference="INV-9")


async def test_get_by_code_ignores_case_and_spaces(orders):
    order = await orders.create_order(150, "a", created_by=None, actor="cli")

    found = await orders.get_by_code(f" {order.code[:4].lower()} {order.code[4:].lower()} ")

    assert found.id == order.id
    with pytest.raises(NotFound, match="No order has the code HPNOPE"):
        await orders.get_by_code("HPNOPE")


async def test_deep_link_opens_the_bot_on_the_order(orders):
    order = await orders.create_order(150, "a", created_by=None, actor="cli")

    link = orders.deep_link(order, "@HouseholdPayBot")

    assert link == f"https://t.me/HouseholdPayBot?start={order.code}"


async def test_orders_for_customer_lists_only_theirs_newest_first(orders):
    alice = await Customer.create(telegram_id=11, chat_id=11, name="Alice")
    bob = await Customer.create(telegram_id=12, chat_id=12, name="Bob")
    older = await orders.create_order(150, "a", created_by=None, actor="cli", customer=alice)
    await orders.create_order(150, "b", created_by=None, actor="cli", customer=bob)
    newer = await orders.create_order(150, "c", created_by=None, actor="cli", customer=alice)

    listed = await orders.orders_for_customer(alice)

    assert [o.id for o in listed] == [newer.id, older.id]
