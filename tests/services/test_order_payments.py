"""OrderPaymentService: an order's payment started, retried and followed, with precise refusals."""

from __future__ import annotations

import pytest

from bot.services.container import build_services
from bot.services.errors import AlreadyPaid
from bot.services.errors import NothingToRetry
from bot.services.errors import OrderCancelled
from bot.services.errors import PaymentInProgress
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from mpesa.errors import InvalidRequest
from tests.helpers.fakes import FakeDaraja


@pytest.fixture
async def world(db, settings):
    daraja = FakeDaraja()
    services = build_services(settings, daraja=daraja, channels={})
    order = await services.orders.create_order(1500, "Blender", created_by=None, actor="test")
    return services, daraja, order


async def test_start_pushes_the_order_amount_and_answers_the_fresh_order(world) -> None:
    services, daraja, order = world

    fresh, payment = await services.order_payments.start_for_order(
        order, "0708374149", actor="api:shop", via="api:shop"
    )

    assert (fresh.id, payment.amount, payment.msisdn) == (order.id, 1500, "254708374149")
    assert [call["amount"] for call in daraja.called("stk_push")] == [1500]


async def test_a_second_start_names_the_waiting_attempt(world) -> None:
    services, daraja, order = world
    _, first = await services.order_payments.start_for_order(
        order, "0708374149", actor="t", via="t"
    )

    with pytest.raises(PaymentInProgress) as refused:
        await services.order_payments.start_for_order(order, "0711111111", actor="t", via="t")

    assert (refused.value.code, refused.value.payment_id) == ("payment_in_progress", first.id)
    assert len(daraja.called("stk_push")) == 1


@pytest.mark.parametrize(
    ("status", "refusal"),
    [(OrderStatus.PAID, AlreadyPaid), (OrderStatus.CANCELLED, OrderCancelled)],
)
async def test_a_settled_order_is_refused_with_its_code(world, status, refusal) -> None:
    services, daraja, order = world
    await Order.filter(id=order.id).update(status=status)

    with pytest.raises(refusal):
        await services.order_payments.start_for_order(order, "0708374149", actor="t", via="t")
    with pytest.raises(refusal):
        await services.order_payments.retry_for_order(order, actor="t")
    assert daraja.called("stk_push") == []


async def test_retry_before_any_attempt_has_nothing_to_retry(world) -> None:
    services, _, order = world

    with pytest.raises(NothingToRetry):
        await services.order_payments.retry_for_order(order, actor="t")


async def test_retry_sends_the_last_failed_attempt_again(world) -> None:
    services, daraja, order = world
    daraja.queue("stk_push", InvalidRequest("Bad Request - Invalid PhoneNumber", code="400.002.02"))
    _, failed = await services.order_payments.start_for_order(
        order, "0708374149", actor="t", via="t"
    )

    _, again = await services.order_payments.retry_for_order(order, actor="t")
    fresh, latest = await services.order_payments.status(order.code)

    assert failed.status == PaymentStatus.FAILED
    assert (again.attempt, again.msisdn, latest.id) == (2, "254708374149", again.id)
    assert await Payment.filter(order_id=fresh.id).count() == 2
