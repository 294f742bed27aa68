"""The shop's whole journey over loopback: API -> STK Push to the simulator -> its callback to us
-> status paid -> a signed order.paid webhook at the shop's own server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from pydantic import SecretStr

from bot.notify.webhook import EVENT_ID_HEADER
from bot.notify.webhook import SIGNATURE_HEADER
from bot.notify.webhook import TIMESTAMP_HEADER
from bot.notify.webhook import verify_signature
from bot.services.container import build_services
from bot.web.api import BOT_USERNAME
from bot.web.app import create_app
from models import Notification
from models import NotificationChannel
from models import NotificationStatus
from mpesa.simulator import SANDBOX_SHORTCODE
from mpesa.simulator import SimulatorConfig
from tests.helpers.engine import simulator_daraja
from tests.web.api.webhook_receiver import ShopReceiver

WEBHOOK_SECRET = "whsec_e2e_0123456789abcdef"


@pytest.fixture
async def shop_engine(db, aiohttp_server, settings, simulators) -> AsyncIterator[SimpleNamespace]:
    shop = ShopReceiver()
    shop_server = await aiohttp_server(shop.app())
    simulator = await simulators(SimulatorConfig(query_pending_s=0.0))
    sim_url = simulator.url
    settings = settings.model_copy(
        update={
            "mpesa_shortcode": SANDBOX_SHORTCODE,
            "shop_webhook_url": str(shop_server.make_url(shop.path)),
            "shop_webhook_secret": SecretStr(WEBHOOK_SECRET),
        }
    )
    holder = SimpleNamespace()
    # the app reads its services per request, so it can start before they exist
    app = create_app(holder, settings=settings)
    app[BOT_USERNAME] = "HouseholdPlanetBot"
    our_server = await aiohttp_server(app)
    our_url = str(our_server.make_url("")).rstrip("/")
    daraja = simulator_daraja(simulator, our_url, settings.resolved_callback_secret())
    # no CHAT or SMS channel given: the WEBHOOK channel comes from the settings alone
    services = build_services(settings, daraja=daraja, channels={})
    holder.__dict__.update(vars(services))
    _, token = await services.api_keys.create("shop")
    http = httpx.AsyncClient(base_url=our_url, headers={"Authorization": f"Bearer {token}"})
    sim = httpx.AsyncClient(base_url=sim_url)
    try:
        yield SimpleNamespace(services=services, http=http, sim=sim, shop=shop)
    finally:
        await http.aclose()
        await sim.aclose()
        await daraja.aclose()


async def test_an_order_paid_through_the_api_reaches_the_shop_signed(shop_engine) -> None:
    engine = shop_engine
    created = await engine.http.post(
        "/api/v1/orders",
        json={"amount": 150, "description": "Cooking oil", "reference": "SHOP-1043"},
    )
    assert created.status_code == 201
    order = created.json()
    assert order["deepLink"] == f"https://t.me/HouseholdPlanetBot?start={order['orderId']}"

    started = await engine.http.post(
        "/api/v1/payments/initiate",
        json={"orderId": order["orderId"], "paymentMethod": "MPESA", "phoneNumber": "0708374149"},
        headers={"Idempotency-Key": "pay-SHOP-1043"},
    )
    assert (started.status_code, started.json()["status"]) == (201, "pending")

    (await engine.sim.post("/simulator/drain")).raise_for_status()
    await engine.services.reconciler.run_once()  # replays an early callback, runs the outbox
    status = (await engine.http.get(f"/api/v1/payments/status/{order['orderId']}")).json()
    assert (status["status"], status["paid"], status["payment"]["status"]) == (
        "paid",
        True,
        "paid",
    )
    assert status["receipt"]

    await engine.services.outbox.run_once()
    delivery = await engine.shop.next()
    event = delivery.event
    assert (event["type"], event["data"]["orderId"], event["data"]["reference"]) == (
        "order.paid",
        order["orderId"],
        "SHOP-1043",
    )
    assert (event["data"]["amount"], event["data"]["receipt"]) == (150, status["receipt"])
    assert delivery.headers[EVENT_ID_HEADER] == event["id"]
    assert verify_signature(
        WEBHOOK_SECRET,
        delivery.headers[TIMESTAMP_HEADER],
        delivery.body,
        delivery.headers[SIGNATURE_HEADER],
    )
    row = await Notification.get(channel=NotificationChannel.WEBHOOK)
    assert row.status == NotificationStatus.SENT

    again = await engine.http.post(
        "/api/v1/payments/initiate",
        json={"orderId": order["orderId"], "paymentMethod": "MPESA", "phoneNumber": "0708374149"},
    )
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_paid")


async def test_a_cancelled_prompt_is_told_to_the_shop_and_retried(shop_engine) -> None:
    engine = shop_engine
    order = (
        await engine.http.post("/api/v1/orders", json={"amount": 100, "description": "Soap"})
    ).json()
    body = {"orderId": order["orderId"], "paymentMethod": "MPESA", "phoneNumber": "0722000032"}
    assert (await engine.http.post("/api/v1/payments/initiate", json=body)).status_code == 201
    (await engine.sim.post("/simulator/drain")).raise_for_status()
    await engine.services.reconciler.run_once()
    await engine.services.outbox.run_once()

    event = (await engine.shop.next()).event
    retry = await engine.http.post(f"/api/v1/payments/retry/{order['orderId']}")

    assert (event["type"], event["data"]["status"]) == ("payment.failed", "cancelled")
    assert (retry.status_code, retry.json()["attempt"]) == (201, 2)
