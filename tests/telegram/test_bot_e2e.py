"""End to end: a customer pays an order in the bot; the simulator's callback reaches our server.

Everything is real except Telegram (the in-process Bot API) and Safaricom (the simulator, over
loopback): the DarajaClient, the aiohttp callback server, the services, the outbox and the chat
channel that edits the customer's status message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from bot.services.container import build_services
from bot.telegram import customer_texts
from bot.telegram.chat_channel import TelegramChatChannel
from bot.telegram.chat_channel import order_paid
from bot.web.app import create_app
from models import CallbackInbox
from models import InboxStatus
from models import NotificationChannel
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from mpesa.simulator import SANDBOX_SHORTCODE
from mpesa.simulator import SimulatorConfig
from mpesa.simulator.config import Faults
from tests.helpers.engine import simulator_daraja
from tests.helpers.telegram import TelegramHarness

ADMIN = 1001
CUSTOMER = 3003


class GatedCallbacks:
    """Our callback service, except that callbacks wait at the door until the test opens it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.open = asyncio.Event()

    async def ingest(self, *args: Any) -> Any:
        await self.open.wait()
        return await self._inner.ingest(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture(params=["callback_after_card", "callback_before_answer"])
async def world(
    request, db, aiohttp_server, settings, simulators
) -> AsyncIterator[SimpleNamespace]:
    early = request.param == "callback_before_answer"
    simulator = await simulators(
        SimulatorConfig(
            callback_delay_s=0.0,
            query_pending_s=0.0,
            faults=Faults(callback_before_response=early),
        )
    )
    sim_url = simulator.url
    holder = SimpleNamespace()
    # the web app reads its services per request, so it can start before they exist
    our_server = await aiohttp_server(create_app(holder, settings=settings))
    our_url = str(our_server.make_url("")).rstrip("/")
    settings = settings.model_copy(update={"mpesa_shortcode": SANDBOX_SHORTCODE})
    daraja = simulator_daraja(simulator, our_url, settings.resolved_callback_secret())
    channel = TelegramChatChannel()
    services = build_services(settings, daraja=daraja, channels={NotificationChannel.CHAT: channel})
    gate = GatedCallbacks(services.callbacks)
    if early:
        gate.open.set()  # the simulator waits for our answer before it answers the push
    holder.__dict__.update(vars(services))
    holder.callbacks = gate
    await services.staff.bootstrap_admins()
    harness = await TelegramHarness.start(settings, services)
    channel.bind(harness.app.bot, services)
    sim = httpx.AsyncClient(base_url=sim_url)
    try:
        yield SimpleNamespace(services=services, h=harness, gate=gate, sim=sim, early=early)
    finally:
        await sim.aclose()
        await harness.stop()
        await daraja.aclose()


async def test_customer_pays_an_order_from_the_deep_link(world):
    services, h = world.services, world.h
    admin = await services.staff.find(ADMIN)
    order = await services.orders.create_order(
        1500, "Blender 2L", created_by=admin, actor=f"tg:{ADMIN}"
    )

    await h.send(CUSTOMER, f"/start {order.code}", first_name="Amina")
    shared = await h.share_contact(CUSTOMER, "254708374149")
    payment = await Payment.get(order_id=order.id)
    card_id = payment.message_id
    if not world.early:
        # the card is out and remembered; now M-Pesa's callback may land
        assert payment.status == PaymentStatus.PENDING
        assert "📲 Check your phone" in h.api.message(CUSTOMER, card_id)["text"]
        world.gate.open.set()
    (await world.sim.post("/simulator/drain")).raise_for_status()
    before = len(h.api.calls)

    delivered = await services.outbox.run_once()

    paid = await Payment.get(id=payment.id)
    order = await Order.get(id=order.id)
    assert (paid.status, paid.amount, paid.account_reference) == (
        PaymentStatus.PAID,
        1500,
        order.code,
    )
    assert (order.status, order.paid_receipt) == (OrderStatus.PAID, paid.receipt)
    assert [row.status for row in await CallbackInbox.all()] == [InboxStatus.PROCESSED]
    # the status message shows Paid with the receipt, whichever came first
    card = customer_texts.payment_card(paid, order, "en")
    assert "✅ Paid" in card and paid.receipt in card
    assert h.api.message(CUSTOMER, card_id)["text"] == card
    calls = h.api.calls[before:]
    edits = [c.params for c in calls if c.method == "editMessageText"]
    messages = {(c.params["chat_id"], c.params["text"]) for c in calls if c.method == "sendMessage"}
    assert [(e["chat_id"], e["message_id"], e["text"]) for e in edits] == [
        (CUSTOMER, card_id, card)
    ]
    sent_card = h.texts(shared, "sendMessage")[-1]
    # early: the card went out already paid and the outbox's edit was "not modified" (delivered)
    assert (sent_card == card) is world.early
    assert messages == {
        (CUSTOMER, customer_texts.receipt(paid, order, "en")),
        (ADMIN, order_paid(order, paid)),
    }
    # the status edit, the customer's receipt and the creator's note: one delivery each
    assert delivered == 3
