"""End to end over loopback: STK Push to the simulator, its callback to our server, the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from bot.callback_paths import callback_path
from bot.notify.channels import RecordingChatChannel
from bot.services.container import build_services
from bot.web.app import create_app
from models import CallbackInbox
from models import CallbackKind
from models import InboxStatus
from models import NotificationChannel
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from mpesa.simulator import SANDBOX_SHORTCODE
from mpesa.simulator import SimulatorConfig
from tests.helpers.engine import simulator_daraja

CHAT_ID = 555


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """The simulator every test here talks to (strict; a test may parametrize another)."""
    return SimulatorConfig(query_pending_s=0.0)


@pytest.fixture
async def engine(
    db, aiohttp_server, settings, simulators, sim_config
) -> AsyncIterator[SimpleNamespace]:
    simulator = await simulators(sim_config)
    sim_url = simulator.url
    holder = SimpleNamespace()
    # the app reads its services per request, so it can start before they exist
    our_server = await aiohttp_server(create_app(holder, settings=settings))
    our_url = str(our_server.make_url("")).rstrip("/")
    settings = settings.model_copy(update={"mpesa_shortcode": SANDBOX_SHORTCODE})
    secret = settings.resolved_callback_secret()
    daraja = simulator_daraja(simulator, our_url, secret)
    chat, sms = RecordingChatChannel(), RecordingChatChannel()
    services = build_services(
        settings,
        daraja=daraja,
        channels={NotificationChannel.CHAT: chat, NotificationChannel.SMS: sms},
    )
    holder.__dict__.update(vars(services))
    await services.staff.bootstrap_admins()
    sim = httpx.AsyncClient(base_url=sim_url)
    try:
        yield SimpleNamespace(
            services=services,
            sim=sim,
            chat=chat,
            sms=sms,
            outbox=services.outbox,
            our_url=our_url,
            secret=secret,
        )
    finally:
        await sim.aclose()
        await daraja.aclose()


async def drain(engine: Any) -> None:
    """Wait until the simulator has delivered every callback it owes."""
    (await engine.sim.post("/simulator/drain")).raise_for_status()


async def test_stk_payment_is_settled_by_callback_and_told_once(engine: Any) -> None:
    payment = await engine.services.payments.request_payment(
        "0708 374 149", "150", initiator=None, actor="cli", chat_id=CHAT_ID
    )
    await drain(engine)
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


async def settle(engine: Any) -> None:
    """Let the simulator deliver, then run one reconciliation pass (replays, queries, outbox)."""
    await drain(engine)
    await engine.services.reconciler.run_once()


@pytest.mark.parametrize(
    ("phone", "status"),
    [
        ("0711 111 111", PaymentStatus.INSUFFICIENT_FUNDS),
        ("0722 000 032", PaymentStatus.CANCELLED),
        ("0722 000 037", PaymentStatus.TIMED_OUT),
        ("0722 002 001", PaymentStatus.WRONG_PIN),
    ],
)
async def test_failed_payments_get_their_status_and_can_be_retried(engine, phone, status):
    first = await engine.services.payments.request_payment(
        phone, "100", initiator=None, actor="cli", chat_id=CHAT_ID
    )
    await settle(engine)
    retry = await engine.services.payments.retry_payment(first.id, initiator=None, actor="cli")
    await settle(engine)

    assert (await Payment.get(id=first.id)).status == status
    again = await Payment.get(id=retry.id)
    assert (again.attempt, again.msisdn, again.status) == (2, first.msisdn, status)


async def test_a_callback_that_never_comes_is_settled_by_query(engine):
    engine.services.payments._settings = engine.services.payments._settings.model_copy(
        update={"stk_query_after_s": 0.0}
    )
    payment = await engine.services.payments.request_payment(
        "0722 000 000", "250", initiator=None, actor="cli", chat_id=CHAT_ID
    )
    await drain(engine)
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.PENDING

    settled = await engine.services.payments.reconcile_pending()

    assert [p.id for p in settled] == [payment.id]
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.PAID


async def test_a_callback_that_beats_the_push_answer_is_kept_and_applied(engine):
    (
        await engine.sim.post("/simulator/faults", json={"callback_before_response": True})
    ).raise_for_status()

    payment = await engine.services.payments.request_payment(
        "0708 374 149", "99", initiator=None, actor="cli", chat_id=CHAT_ID
    )

    row = await CallbackInbox.get(kind=CallbackKind.STK)
    assert row.status == InboxStatus.PROCESSED  # replayed as soon as our record had its id
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.PAID


async def test_payout_above_threshold_needs_a_second_admin_then_completes(engine):
    staff = engine.services.staff
    await staff.add(1001, 1002, "admin", "Second Admin")
    payouts = engine.services.payouts

    payout = await payouts.send_money(
        "0708 374 149", "15,000", initiator_telegram_id=1001, reason="Supplier refund", chat_id=1001
    )
    waiting = await payouts.confirm_payout(payout.id, by_telegram_id=1001)
    approved = await payouts.approve_payout(payout.id, by_telegram_id=1002)
    await settle(engine)

    done = await Payout.get(id=payout.id)
    assert waiting.status == PayoutStatus.AWAITING_APPROVAL
    # its result callback may already have settled it by the time the approval returns
    assert approved.status in (PayoutStatus.SUBMITTED, PayoutStatus.COMPLETED)
    assert (done.status, done.amount, done.receiver_name) == (
        PayoutStatus.COMPLETED,
        15_000,
        "John Doe",
    )
    assert done.receipt


async def test_payout_queue_timeout_is_reconciled_by_transaction_status(engine):
    payouts = engine.services.payouts
    payouts._settings = payouts._settings.model_copy(update={"b2c_query_after_s": 0.0})

    payout = await payouts.send_money(
        "0722 000 099", "500", initiator_telegram_id=1001, reason="Refund", chat_id=1001
    )
    await payouts.confirm_payout(payout.id, by_telegram_id=1001)
    await drain(engine)
    assert (await Payout.get(id=payout.id)).status == PayoutStatus.UNKNOWN

    await settle(engine)  # status query goes out; its result comes back by callback
    await drain(engine)
    await engine.services.reconciler.run_once()

    assert (await Payout.get(id=payout.id)).status == PayoutStatus.COMPLETED


async def test_c2b_payment_to_an_order_code_settles_the_order(engine):
    order = await engine.services.orders.create_order(
        1_200, "Blender", created_by=None, actor="cli"
    )
    daraja = engine.services.payments._daraja
    await daraja.c2b_register_urls()

    await daraja.c2b_simulate(msisdn="254708374149", amount=1_200, bill_ref_number=order.code)
    await drain(engine)

    assert (await Order.get(id=order.id)).status == OrderStatus.PAID
    kinds = [row.kind for row in await CallbackInbox.all().order_by("id")]
    assert kinds == [CallbackKind.C2B_VALIDATION, CallbackKind.C2B_CONFIRMATION]


async def test_c2b_payment_of_the_wrong_amount_is_rejected_at_validation(engine):
    order = await engine.services.orders.create_order(1_200, "Kettle", created_by=None, actor="cli")
    daraja = engine.services.payments._daraja
    await daraja.c2b_register_urls()

    await daraja.c2b_simulate(msisdn="254708374149", amount=1_000, bill_ref_number=order.code)
    await drain(engine)

    assert (await Order.get(id=order.id)).status == OrderStatus.OPEN
    kinds = [row.kind for row in await CallbackInbox.all()]
    assert kinds == [CallbackKind.C2B_VALIDATION]


async def test_malformed_callback_is_refused_and_kept(engine):
    url = engine.our_url + callback_path(engine.secret, CallbackKind.STK)
    async with httpx.AsyncClient() as http:
        answer = await http.post(url, content=b'{"Body": ')

    row = await CallbackInbox.get()
    assert answer.status_code == 400
    assert (row.status, row.body) == (InboxStatus.REJECTED, '{"Body": ')


@pytest.mark.parametrize(
    "sim_config",
    [SimulatorConfig(query_pending_s=0.0, callback_phone=form) for form in ("masked", "absent")],
    ids=["masked", "absent"],
)
async def test_masked_or_absent_callback_phones_still_settle_payments_and_payouts(engine):
    payment = await engine.services.payments.request_payment(
        "0708 374 149", "150", initiator=None, actor="cli", chat_id=CHAT_ID
    )
    payout = await engine.services.payouts.send_money(
        "0708 374 149", "500", initiator_telegram_id=1001, reason="Refund", chat_id=1001
    )
    await engine.services.payouts.confirm_payout(payout.id, by_telegram_id=1001)
    await settle(engine)

    paid = await Payment.get(id=payment.id)
    done = await Payout.get(id=payout.id)
    # the phone in the callback is never trusted: our own record of it stands
    assert (paid.status, paid.msisdn) == (PaymentStatus.PAID, "254708374149")
    assert (done.status, done.msisdn, done.receiver_name) == (
        PayoutStatus.COMPLETED,
        "254708374149",
        "John Doe",
    )
