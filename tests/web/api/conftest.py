"""The API on a real database: services around FakeDaraja, one API key, an aiohttp test client."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bot.services.container import build_services
from bot.web.api import BOT_USERNAME
from bot.web.app import create_app
from tests.helpers.clock import Clock
from tests.helpers.fakes import FakeDaraja

BOT = "HouseholdPlanetBot"
# input checks that refuse before any query: one database is enough (PostgreSQL setup is slow)
SQLITE_ONLY = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


@pytest.fixture
def api_settings(settings):
    # generated requests send wrong keys on purpose: the throttle must not hide the rest
    return settings.model_copy(
        update={"api_rate_limit_per_minute": 1000, "api_auth_failures_per_minute": 1000}
    )


@pytest.fixture
async def api(db, aiohttp_client, api_settings) -> SimpleNamespace:
    """A client for the API with a valid key in ``api.headers`` (and its services, FakeDaraja)."""
    daraja = FakeDaraja()
    clock = Clock()
    services = build_services(api_settings, daraja=daraja, channels={}, clock=clock)
    key, token = await services.api_keys.create("shop")
    app = create_app(services, settings=api_settings)
    app[BOT_USERNAME] = BOT
    client = await aiohttp_client(app)
    return SimpleNamespace(
        client=client,
        services=services,
        daraja=daraja,
        clock=clock,
        key=key,
        token=token,
        headers={"Authorization": f"Bearer {token}"},
    )


async def create_order(api: Any, amount: int = 1500, **fields: Any) -> dict[str, Any]:
    """POST /api/v1/orders and return the created order (asserting 201)."""
    body = {"amount": amount, "description": "2 x cooking oil", **fields}
    response = await api.client.post("/api/v1/orders", json=body, headers=api.headers)
    assert response.status == 201, await response.text()
    return await response.json()


async def initiate(api: Any, order_id: str, phone: str = "0708374149", **extra: Any) -> Any:
    """POST /api/v1/payments/initiate for an order; return the raw response."""
    body = {"orderId": order_id, "paymentMethod": "MPESA", "phoneNumber": phone}
    return await api.client.post(
        "/api/v1/payments/initiate", json=body, headers={**api.headers, **extra}
    )
