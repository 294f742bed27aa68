"""PaymentService.reconcile_pending: paced STK queries, claims, expiry of unanswered pushes."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from bot.services.errors import Conflict
from bot.services.payments import PaymentService
from models import CallbackInbox
from models import CallbackKind
from models import InboxStatus
from models import Notification
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from mpesa.errors import OutcomeUnknown
from mpesa.errors import RateLimited
from tests.helpers.fakes import FakeDaraja
from tests.helpers.stk import stk_callback_body
from tests.helpers.stk import stk_query_answer

PHONES = ["0708 374 149", "0712 345 678", "0722 000 111"]


class RecordingSleep:
    """Stands in for asyncio.sleep: records the pauses, never waits."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        await asyncio.sleep(0)  # still lets the other reconciler run, like a real pause


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


def make_service(daraja, notifier, settings, clock, sleep) -> PaymentService:
    return PaymentService(
        daraja=daraja, notifier=notifier, settings=settings, clock=clock, sleep=sleep
    )


@pytest.fixture
def payments(db, daraja, notifier, settings, clock, sleep) -> PaymentService:
    return make_service(daraja, notifier, settings, clock, sleep)


async def request(payments: PaymentService, phone: str, **kwargs) -> Payment:
    return await payments.request_payment(
        phone, kwargs.pop("amount", 150), initiator=None, actor="api:shop", **kwargs
    )


def queried(daraja: FakeDaraja) -> list[str]:
    return [call["checkout_request_id"] for call in daraja.called("stk_query")]


async def alert_keys() -> list[str]:
    return await Notification.filter(recipient="1001").values_list("event_key", flat=True)


async def test_only_due_payments_are_queried_and_4999_means_wait(payments, daraja, clock):
    early = await request(payments, PHONES[0])
    clock.advance(30)
    late = await request(payments, PHONES[1])
    clock.advance(20)  # early is 50 s old (due after 45 s), late only 20 s

    touched = await payments.reconcile_pending()

    assert [p.id for p in touched] == [early.id]
    assert queried(daraja) == [early.checkout_request_id]
    waiting = await Payment.get(id=early.id)
    assert waiting.status == PaymentStatus.PENDING
    assert waiting.query_count == 1
    assert waiting.next_query_at == clock.now + timedelta(seconds=30)
    assert waiting.claimed_until is None
    assert (await Payment.get(id=late.id)).query_count == 0


@pytest.mark.parametrize(
    ("code", "status", "order_status"),
    [
        ("0", PaymentStatus.PAID, OrderStatus.PAID),
        ("1032", PaymentStatus.CANCELLED, OrderStatus.OPEN),
        ("1037", PaymentStatus.TIMED_OUT, OrderStatus.OPEN),
    ],
)
async def test_final_query_answer_is_applied(payments, daraja, clock, code, status, order_status):
    order = await Order.create(code="HP23456789", amount=150)
    payment = await request(payments, PHONES[0], order=order)
    clock.advance(46)
    daraja.queue("stk_query", stk_query_answer(payment.checkout_request_id, code))

    await payments.reconcile_pending()

    settled = await Payment.get(id=payment.id)
    assert settled.status == status
    assert settled.in_flight_msisdn is None
    assert (await Order.get(id=order.id)).status == order_status


async def test_queries_are_paced_under_the_rate_limit(payments, daraja, clock, sleep):
    for phone in PHONES:
        await request(payments, phone)
    clock.advance(46)

    await payments.reconcile_pending()

    assert len(daraja.called("stk_query")) == 3
    assert sleep.pauses == [1.0, 1.0]


async def test_two_concurrent_reconcilers_query_each_payment_once(
    db, daraja, notifier, settings, clock, sleep
):
    first = make_service(daraja, notifier, settings, clock, sleep)
    second = make_service(daraja, notifier, settings, clock, sleep)
    created = [await request(first, phone) for phone in PHONES]
    clock.advance(46)

    await asyncio.gather(first.reconcile_pending(), second.reconcile_pending())

    assert sorted(queried(daraja)) == sorted(p.checkout_request_id for p in created)


async def test_rate_limited_query_stops_the_pass(payments, daraja, clock):
    one = await request(payments, PHONES[0])
    await request(payments, PHONES[1])
    clock.advance(46)
    daraja.queue("stk_query", RateLimited("Spike arrest", retry_after_s=60))

    await payments.reconcile_pending()

    assert queried(daraja) == [one.checkout_request_id]
    later = await Payment.get(id=one.id)
    assert later.status == PaymentStatus.PENDING
    assert later.next_query_at == clock.now + timedelta(seconds=60)


async def test_admins_are_alerted_once_when_queries_drag_on(
    db, daraja, notifier, settings, clock, sleep
):
    patient = settings.model_copy(update={"stk_query_max_attempts": 2})
    payments = make_service(daraja, notifier, patient, clock, sleep)
    payment = await request(payments, PHONES[0])
    clock.advance(46)

    for _ in range(4):
        await payments.reconcile_pending()
        clock.advance(31)

    assert len(queried(daraja)) == 4
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.PENDING
    assert await alert_keys() == [f"payment:{payment.id}:stuck:admin:1001"]


async def unmatched(body: dict) -> CallbackInbox:
    return await CallbackInbox.create(
        kind=CallbackKind.STK,
        body=json.dumps(body),
        status=InboxStatus.UNMATCHED,
        match_key=body["Body"]["stkCallback"]["CheckoutRequestID"],
    )


async def test_an_unknown_push_is_never_failed_by_time_and_retry_refuses_it(
    payments, daraja, clock
):
    """Hole 3: after the prompt window an unknown push goes to the admins, not to "failed"."""
    daraja.queue("stk_push", OutcomeUnknown("read timeout"))
    payment = await request(payments, PHONES[0])

    for _ in range(10):
        clock.advance(60)
        await payments.reconcile_pending()

    parked = await Payment.get(id=payment.id)
    assert parked.status == PaymentStatus.UNKNOWN
    assert parked.next_query_at is None  # nothing more to ask: a person decides
    assert parked.in_flight_msisdn is None  # the prompt is gone: the phone may be asked again
    assert await alert_keys() == [f"payment:{payment.id}:unknown:admin:1001"]
    with pytest.raises(Conflict, match="An admin must resolve it first"):
        await payments.retry_payment(payment.id, initiator=None, actor="api:shop")
    assert len(daraja.called("stk_push")) == 1
    assert daraja.called("stk_query") == []


async def test_the_escalation_counts_from_the_answer_not_from_the_request(
    payments, daraja, clock, settings
):
    """Hole 10: a push still being sent is neither expired nor failed, however long it takes."""
    payment = await request(payments, PHONES[0])  # answered at once: pending
    await Payment.filter(id=payment.id).update(
        status=PaymentStatus.CREATED, checkout_request_id=None, post_state="sending"
    )
    lease_s = settings.daraja_call_max_s
    await Payment.filter(id=payment.id).update(claimed_until=clock.now + timedelta(seconds=lease_s))

    clock.advance(lease_s - 1)  # far past the prompt window, but the sender still holds it
    await payments.reconcile_pending()
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.CREATED

    clock.advance(2)  # the sender's lease lapsed: it may have sent, so the push is unknown
    await payments.reconcile_pending()
    unknown = await Payment.get(id=payment.id)
    assert unknown.status == PaymentStatus.UNKNOWN
    assert unknown.answered_at == clock.now
    clock.advance(settings.stk_prompt_window_s - 1)
    await payments.reconcile_pending()
    assert await alert_keys() == []  # still within the window counted from then


async def test_unknown_push_is_linked_to_a_matching_unmatched_callback(payments, daraja, clock):
    daraja.queue("stk_push", OutcomeUnknown("read timeout"))
    payment = await request(payments, PHONES[0])
    await unmatched(stk_callback_body("ws_CO_someone_else", amount=999, receipt="UKK0000000"))
    await unmatched(stk_callback_body("ws_CO_lost_answer", phone="254708***149"))
    clock.advance(31)

    await payments.reconcile_pending()

    linked = await Payment.get(id=payment.id)
    assert linked.status == PaymentStatus.REVIEW  # a masked phone: an admin confirms it
    assert linked.checkout_request_id == "ws_CO_lost_answer"
    assert linked.receipt == "UKK4Q7M2XB"
    statuses = await CallbackInbox.all().order_by("id").values_list("status", flat=True)
    assert statuses == [InboxStatus.UNMATCHED, InboxStatus.PROCESSED]
