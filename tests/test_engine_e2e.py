"""End to end over loopback: STK Push to the simulator, its callback to our server, the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from bot.notify.channels import RecordingChatChannel
from bot.notify.notifier import Notifier
from bot.notify.outbox import OutboxWorker
from bot.services.accounts import AccountService
from bot.services.c2b import C2BService
from bot.services.callbacks import CallbackService
from bot.services.payments import PaymentService
from bot.services.payouts import PayoutService
from bot.services.reconcile import Reconciler
from bot.services.reports import ReportService
from bot.services.staff import StaffService
from bot.web.app import create_app
from bot.web.paths import callback_path, callback_urls
from models import (
    CallbackInbox,
    CallbackKind,
    InboxStatus,
    NotificationChannel,
    Payment,
    PaymentStatus,
)
from mpesa.client import DarajaClient, DarajaConfig
from mpesa.simulator import SANDBOX_PASSKEY, SANDBOX_SHORTCODE, SimulatorConfig, create_simulator

CHAT_ID = 555


@pytest.fixture
async def engine(db, aiohttp_server, settings) -> AsyncIterator[SimpleNamespace]:
    sim_server = await aiohttp_server(create_simulator(SimulatorConfig()))
    sim_url = str(sim_server.make_url("")).rstrip("/")
    services = SimpleNamespace()
    # the app reads its services per request, so it can start before they exist
    our_server = await aiohttp_server(create_app(services, settings=settings))
    our_url = str(our_server.make_url("")).rstrip("/")
    secret = settings.resolved_callback_secret()
    daraja = DarajaClient(
        DarajaConfig(
            base_url=sim_url,
            consumer_key="simulator-key",
            consumer_secret="simulator-secret",
            shortcode=SANDBOX_SHORTCODE,
            passkey=SANDBOX_PASSKEY,
            callbacks=callback_urls(our_url, secret),
            initiator_name="testapi",
            security_credential="c2VjcmV0",
        )
    )
    notifier = Notifier(business_name=settings.business_name, admin_telegram_ids=[1001])
    staff = StaffService(bootstrap_admin_ids=[1001], default_daily_payout_limit=100_000)
    payments = PaymentService(daraja=daraja, notifier=notifier, settings=settings)
    payouts = PayoutService(daraja=daraja, notifier=notifier, staff=staff, settings=settings)
    accounts = AccountService(
        daraja=daraja, notifier=notifier, staff=staff, settings=settings, payouts=payouts
    )
    c2b = C2BService(notifier=notifier, settings=settings)
    callbacks = CallbackService(payments=payments, c2b=c2b, payouts=payouts, accounts=accounts)
    chat, sms = RecordingChatChannel(), RecordingChatChannel()
    outbox = OutboxWorker({NotificationChannel.CHAT: chat, NotificationChannel.SMS: sms})
    services.__dict__.update(
        callbacks=callbacks,
        reports=ReportService(),
        reconciler=Reconciler(payments, payouts, outbox, callbacks=callbacks),
        payments=payments,
    )
    sim = httpx.AsyncClient(base_url=sim_url)
    try:
        yield SimpleNamespace(
            services=services,
            sim=sim,
            chat=chat,
            sms=sms,
            outbox=outbox,
            our_url=our_url,
            secret=secret,
        )
    finally:
        await sim.aclose()
        await daraja.aclose()


async def test_stk_payment_is_settled_by_callback_and_told_once(engine: Any) -> None:
    payment = await engine.services.payments.request_payment(
        "0708 374 149", "150", initiator=None, actor="cli", chat_id=CHAT_ID
    )
    (await engine.sim.post("/simulator/drain")).raise_for_status()
    # a callback that beat our own bookkeeping is applied by the reconciler's replay
    report = await engine.services.reconciler.run_once()

    paid = await Payment.get(id=payment.id)
    assert (paid.status, paid.amount) == (PaymentStatus.PAID, 150)
    assert paid.receipt
    inbox = await CallbackInbox.all()
    assert [(row.kind, row.status) for row in inbox] == [("stk", InboxStatus.PROCESSED)]
    delivered = report.notifications_delivered + await engine.outbox.run_once()
    assert [n.recipient for n in engine.chat.delivered] == [str(CHAT_ID)]
    assert [n.recipient for n in engine.sms.delivered] == ["254708374149"]
    assert paid.receipt in engine.sms.delivered[0].payload["text"]
    assert delivered == 2

    # Daraja sends the same callback again: acknowledged, nothing changes, nobody told twice
    stk_url = engine.our_url + callback_path(engine.secret, CallbackKind.STK)
    async with httpx.AsyncClient() as http:
        again = await http.post(stk_url, content=inbox[0].body.encode())
    assert (again.status_code, again.json()) == (200, {"ResultCode": 0, "ResultDesc": "Accepted"})
    statuses = [row.status for row in await CallbackInbox.all().order_by("id")]
    assert statuses == [InboxStatus.PROCESSED, InboxStatus.DUPLICATE]
    assert await engine.outbox.run_once() == 0
    assert len(engine.chat.delivered) + len(engine.sms.delivered) == 2
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.PAID
