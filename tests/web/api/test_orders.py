"""POST /api/v1/orders: strict whole-shilling amounts, the order code and the deep link."""

from __future__ import annotations

import pytest

from bot.services.container import build_services
from bot.web.app import create_app
from models import AuditEvent
from models import Order
from tests.helpers.fakes import FakeDaraja
from tests.web.api.conftest import BOT
from tests.web.api.conftest import SQLITE_ONLY
from tests.web.api.conftest import create_order

ORDERS = "/api/v1/orders"


async def test_an_order_is_created_with_its_code_and_deep_link(api) -> None:
    order = await create_order(api, 1500, reference="SHOP-1043")

    stored = await Order.get(code=order["orderId"])
    assert (stored.amount, stored.reference, stored.created_via) == (1500, "SHOP-1043", "api:shop")
    assert order["deepLink"] == f"https://t.me/{BOT}?start={stored.code}"
    assert {k: order[k] for k in ("amount", "description", "status", "paid", "payment")} == {
        "amount": 1500,
        "description": "2 x cooking oil",
        "status": "open",
        "paid": False,
        "payment": None,
    }
    creates = await AuditEvent.filter(action="order.create").values_list("actor", flat=True)
    assert creates == ["api:shop"]


@pytest.mark.parametrize("raw", [b"1500", b"1500.0", b"1.5e3", b"15E2", b"1500.000"])
async def test_a_whole_number_is_an_amount_however_json_spells_it(api, raw) -> None:
    body = b'{"amount": ' + raw + b', "description": "x"}'
    headers = {**api.headers, "Content-Type": "application/json"}

    response = await api.client.post(ORDERS, data=body, headers=headers)

    assert (response.status, (await response.json())["amount"]) == (201, 1500)


@SQLITE_ONLY
@pytest.mark.parametrize("raw", [b"1500.5", b"1500.0000000000001", b"1e400", b"NaN", b"1e-3"])
async def test_a_fraction_is_never_rounded_into_an_amount(api, raw) -> None:
    body = b'{"amount": ' + raw + b', "description": "x"}'
    headers = {**api.headers, "Content-Type": "application/json"}

    response = await api.client.post(ORDERS, data=body, headers=headers)

    assert (response.status, (await response.json())["error"]["field"]) == (400, "amount")
    assert await Order.all().count() == 0


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "1500", "description": "x"}, "amount"),
        ({"amount": 1.5, "description": "x"}, "amount"),
        ({"amount": 1500.5, "description": "x"}, "amount"),
        ({"amount": True, "description": "x"}, "amount"),
        ({"amount": None, "description": "x"}, "amount"),
        ({"description": "x"}, "amount"),
        ({"amount": 0, "description": "x"}, "amount"),
        ({"amount": -5, "description": "x"}, "amount"),
        ({"amount": 250_001, "description": "x"}, "amount"),
        ({"amount": 10**30, "description": "x"}, "amount"),
        ({"amount": 1500}, "description"),
        ({"amount": 1500, "description": 12}, "description"),
        ({"amount": 1500, "description": "x" * 256}, "description"),
        ({"amount": 1500, "description": "x", "reference": 7}, "reference"),
        ({"amount": 1500, "description": "x", "reference": "r" * 65}, "reference"),
        ({"amount": 1500, "description": "a\x00b"}, "description"),
        ({"amount": 1500, "description": "x", "reference": "r\x1b"}, "reference"),
    ],
)
async def test_invalid_fields_are_400_naming_the_field(api, body, field) -> None:
    response = await api.client.post(ORDERS, json=body, headers=api.headers)

    assert response.status == 400
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("invalid_input", field)
    assert await Order.all().count() == 0


@SQLITE_ONLY
@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', b"{", b"\xff\xfe"])
async def test_a_body_that_is_not_a_json_object_is_400(api, raw) -> None:
    response = await api.client.post(
        ORDERS, data=raw, headers={**api.headers, "Content-Type": "application/json"}
    )

    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_json"


async def test_a_reference_already_used_is_409(api) -> None:
    first = await create_order(api, 1500, reference="SHOP-1043")

    again = await api.client.post(
        ORDERS,
        json={"amount": 900, "description": "again", "reference": "SHOP-1043"},
        headers=api.headers,
    )

    assert again.status == 409
    assert first["orderId"] in (await again.json())["error"]["message"]


async def test_the_deep_link_is_null_while_the_bot_name_is_unknown(
    db, aiohttp_client, settings
) -> None:
    services = build_services(settings, daraja=FakeDaraja(), channels={})
    _, token = await services.api_keys.create("shop")
    client = await aiohttp_client(create_app(services, settings=settings))
    headers = {"Authorization": f"Bearer {token}"}

    before = await client.post(ORDERS, json={"amount": 10, "description": "x"}, headers=headers)
    services.bot_username = lambda: "@LateBot"  # known once the bot has started
    after = await client.post(ORDERS, json={"amount": 10, "description": "y"}, headers=headers)

    assert (await before.json())["deepLink"] is None
    code = (await after.json())["orderId"]
    assert (await after.json())["deepLink"] == f"https://t.me/LateBot?start={code}"
