"""Airtel Money in the services, each failure mode on its own (a FakeAirtel, a clock moved by hand).

The end-to-end tests run the real client against the simulator; these pin down what no
simulator run shows reliably: a request that never left, a worker that died mid-POST, a refusal
of our own set-up, enquiries that drag on.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from airtel.codes import Api
from airtel.codes import describe
from airtel.errors import AirtelUnreachable
from airtel.errors import Declined
from airtel.errors import InvalidRequest
from airtel.errors import OutcomeUnknown
from airtel.errors import ServerError
from airtel.models import CollectionStatus
from airtel.models import DisbursementStatus
from bot.config import Settings
from bot.services.container import build_services
from bot.services.errors import UpstreamError
from models import Notification
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import PostState
from models import Provider
from tests.helpers.clock import Clock
from tests.helpers.fakes import FakeAirtel
from tests.helpers.fakes import FakeDaraja
from tests.helpers.fakes import airtel_status

ADMIN = 1001


@pytest.fixture
def airtel_settings(settings) -> Settings:
    values = {
        **settings.model_dump(),
        "airtel_enabled": True,
        "airtel_base_url": "https://airtel.test",
        "airtel_disbursement_pin": "1234",
        "airtel_enquiry_after_s": 180.0,
        "airtel_enquiry_every_s": 60.0,
        "airtel_enquiry_max_attempts": 3,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
async def engine(db, airtel_settings) -> SimpleNamespace:
    clock, airtel = Clock(), FakeAirtel()
    services = build_services(
        airtel_settings, daraja=FakeDaraja(), airtel=airtel, channels={}, clock=clock
    )
    await services.staff.bootstrap_admins()
    return SimpleNamespace(services=services, airtel=airtel, clock=clock)


async def push(engine, phone: str = "0733123456", amount: str = "150") -> Payment:
    return await engine.services.payments.request_payment(
        phone, amount, initiator=None, actor="cli", chat_id=555
    )


async def alerts() -> list[str]:
    rows = await Notification.all()
    return [row.payload["text"] for row in rows if row.payload.get("event") == "alert"]


async def test_a_push_that_never_left_fails_as_not_sent_and_can_be_sent_again(engine):
    engine.airtel.queue("ussd_push", AirtelUnreachable("connect refused; nothing was sent"))

    payment = await push(engine)
    retried = await engine.services.payments.retry_payment(payment.id, initiator=None, actor="cli")

    assert (payment.status, payment.post_state) == (PaymentStatus.FAILED, PostState.NOT_SENT)
    assert "Airtel Money could not be reached; nothing was sent" in payment.result_desc
    assert retried.status == PaymentStatus.PENDING
    sent = engine.airtel.called("ussd_push")
    assert [call["transaction_id"] for call in sent] == [
        payment.transaction_id,
        retried.transaction_id,
    ]


async def test_a_push_our_set_up_makes_airtel_refuse_fails_and_alerts_the_admins(engine):
    info = describe(api=Api.COLLECTION, result_code="ESB000039")
    engine.airtel.queue("ussd_push", InvalidRequest("Airtel refused ussd_push", info=info))

    payment = await push(engine)

    assert (payment.status, payment.result_code) == (PaymentStatus.FAILED, "ESB000039")
    assert any("Airtel Money refused payment #1" in text for text in await alerts())


async def test_an_unknown_push_is_asked_about_by_its_id_until_airtel_settles_it(engine):
    engine.airtel.queue("ussd_push", OutcomeUnknown("ussd_push was sent but its answer was lost"))
    payment = await push(engine)
    assert (payment.status, payment.post_state) == (PaymentStatus.UNKNOWN, PostState.UNKNOWN)
    tid = payment.transaction_id
    engine.airtel.queue(
        "collection_status",
        airtel_status(CollectionStatus, tid, "TIP"),
        airtel_status(CollectionStatus, tid, "TF", code="DP00800001007"),
    )

    engine.clock.advance(60)
    await engine.services.reconciler.run_once()
    landed = await Payment.get(id=payment.id)
    engine.clock.advance(60)
    await engine.services.reconciler.run_once()

    done = await Payment.get(id=payment.id)
    assert landed.status == PaymentStatus.PENDING  # Airtel knows it: it did land
    assert (done.status, done.result_code) == (PaymentStatus.INSUFFICIENT_FUNDS, "DP00800001007")
    assert len(engine.airtel.called("ussd_push")) == 1  # asked about, never sent again


async def test_a_push_whose_worker_died_mid_post_is_settled_by_enquiry(engine):
    engine.airtel.queue("ussd_push", asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await push(engine)
    payment = await Payment.get()
    assert (payment.status, payment.post_state) == (PaymentStatus.CREATED, PostState.SENDING)
    engine.airtel.queue(
        "collection_status",
        airtel_status(CollectionStatus, payment.transaction_id, "TS", receipt="MP1"),
    )

    engine.clock.advance(engine.services.settings.daraja_call_max_s + 1)  # the lease lapses
    await engine.services.reconciler.run_once()
    unknown = await Payment.get(id=payment.id)
    engine.clock.advance(60)
    await engine.services.reconciler.run_once()

    paid = await Payment.get(id=payment.id)
    assert unknown.status == PaymentStatus.UNKNOWN
    assert (paid.status, paid.receipt) == (PaymentStatus.PAID, "MP1")
    assert len(engine.airtel.called("ussd_push")) == 1


async def test_enquiries_that_drag_on_alert_once_and_free_a_long_gone_prompts_phone(engine):
    engine.airtel.queue("ussd_push", OutcomeUnknown("timed out after sending"))
    payment = await push(engine)
    engine.airtel.queue(
        "collection_status",
        *[airtel_status(CollectionStatus, payment.transaction_id, found=False)] * 5,
    )

    for _ in range(5):
        engine.clock.advance(3600)
        await engine.services.reconciler.run_once()

    parked = await Payment.get(id=payment.id)
    stuck = [text for text in await alerts() if "still not settled after 3 enquiries" in text]
    assert (parked.status, parked.in_flight_msisdn) == (PaymentStatus.UNKNOWN, None)
    assert parked.in_flight_order_id is None  # it had no order; an order would stay held
    assert len(stuck) == 1 and "/resolve #1" in stuck[0]
    # the phone is free for a new request, while this one waits for a person
    assert (await push(engine)).status == PaymentStatus.PENDING


async def send(engine, phone: str = "0733123456", amount: str = "500") -> Payout:
    payouts = engine.services.payouts
    payout = await payouts.send_money(
        phone, amount, initiator_telegram_id=ADMIN, reason="Refund", chat_id=ADMIN
    )
    return await payouts.confirm_payout(payout.id, by_telegram_id=ADMIN)


async def test_a_payout_that_never_left_is_sent_later_with_the_same_id(engine):
    engine.airtel.queue("disburse", AirtelUnreachable("connect refused; nothing was sent"))

    deferred = await send(engine)
    engine.clock.advance(engine.services.settings.reconcile_interval_s + 1)
    await engine.services.reconciler.run_once()

    done = await Payout.get(id=deferred.id)
    assert (deferred.status, deferred.post_state) == (PayoutStatus.SUBMITTING, PostState.NOT_SENT)
    assert (done.provider, done.status) == (Provider.AIRTEL, PayoutStatus.COMPLETED)
    ids = [call["transaction_id"] for call in engine.airtel.called("disburse")]
    assert ids == [deferred.originator_conversation_id] * 2


async def test_a_payout_airtel_declines_for_our_empty_wallet_fails_and_alerts(engine):
    info = describe(api=Api.DISBURSEMENT, status="TF", response_code="DP00900001007")
    engine.airtel.queue("disburse", Declined("Airtel declined disburse", info=info))

    payout = await send(engine, amount="9000")

    assert (payout.status, payout.result_code) == (PayoutStatus.FAILED, "DP00900001007")
    assert any("top up the Airtel Money disbursement wallet" in text for text in await alerts())


async def test_a_payout_still_processing_is_asked_again_until_it_settles(engine):
    engine.airtel.queue("disburse", OutcomeUnknown("disburse outcome unknown (TIP)"))
    payout = await send(engine)
    tid = payout.originator_conversation_id
    engine.airtel.queue(
        "disbursement_status",
        airtel_status(DisbursementStatus, tid, "TIP"),
        airtel_status(DisbursementStatus, tid, "TS", receipt="MP9"),
    )

    await engine.services.reconciler.run_once()
    waiting = await Payout.get(id=payout.id)
    engine.clock.advance(60)
    await engine.services.reconciler.run_once()

    done = await Payout.get(id=payout.id)
    assert (payout.status, waiting.status) == (PayoutStatus.UNKNOWN, PayoutStatus.UNKNOWN)
    assert (done.status, done.receipt) == (PayoutStatus.COMPLETED, "MP9")
    assert len(engine.airtel.called("disburse")) == 1


async def test_kyc_that_cannot_be_asked_refuses_the_payout_before_anything_is_recorded(engine):
    engine.airtel.queue("lookup_user", ServerError("Airtel could not answer lookup_user"))

    with pytest.raises(UpstreamError, match="Airtel could not be asked who holds 0733 123 456"):
        await engine.services.payouts.send_money(
            "0733123456", "500", initiator_telegram_id=ADMIN, reason="Refund"
        )

    assert await Payout.all().count() == 0
    assert engine.airtel.called("disburse") == []


async def test_an_mpesa_number_never_reaches_airtel(engine):
    payment = await push(engine, "0708374149")
    payout = await send(engine, "0708374149")

    assert (payment.provider, payout.provider) == (Provider.MPESA, Provider.MPESA)
    assert engine.airtel.calls == []
