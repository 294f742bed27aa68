"""PaymentService: requesting STK payments, applying callbacks, looking payments up."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotFound
from bot.services.outcome import ApplyOutcome
from bot.services.payments import UNREACHABLE
from bot.services.payments import PaymentService
from models import AuditEvent
from models import CallbackKind
from models import Notification
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import Staff
from models import StaffRole
from mpesa.errors import DarajaUnreachable
from mpesa.errors import InvalidRequest
from mpesa.errors import OutcomeUnknown
from tests.helpers.stk import stk_callback
from tests.helpers.stk import stk_query_answer

PHONE = "0708 374 149"
MSISDN = "254708374149"
OTHER_PHONE = "0712 345 678"
CASHIER_TG = 2002


@pytest.fixture
def payments(db, daraja, notifier, settings, clock) -> PaymentService:
    return PaymentService(daraja=daraja, notifier=notifier, settings=settings, clock=clock)


@pytest.fixture
def confirming(db, daraja, notifier, settings, clock) -> PaymentService:
    """Payments with MPESA_CONFIRM_BY_QUERY: a success callback is checked by a query first."""
    strict = settings.model_copy(update={"mpesa_confirm_by_query": True})
    return PaymentService(daraja=daraja, notifier=notifier, settings=strict, clock=clock)


@pytest.fixture
async def cashier(db) -> Staff:
    return await Staff.create(telegram_id=CASHIER_TG, name="Wanjiku", role=StaffRole.CASHIER)


@pytest.fixture
async def order(db, cashier) -> Order:
    return await Order.create(
        code="HP7K2Q9XAB", amount=150, description="Sufuria", created_by=cashier
    )


async def request(payments: PaymentService, cashier: Staff, phone: str = PHONE, **kwargs):
    kwargs.setdefault("chat_id", CASHIER_TG)
    amount = kwargs.pop("amount", "150")
    return await payments.request_payment(
        phone, amount, initiator=cashier, actor=f"tg:{CASHIER_TG}", **kwargs
    )


async def outbox() -> set[tuple[str, str]]:
    rows = await Notification.all().values_list("event_key", "channel")
    return {(key, str(channel)) for key, channel in rows}


async def admin_alerts() -> list[str]:
    rows = await Notification.filter(recipient="1001").values_list("payload", flat=True)
    return [row["text"] for row in rows if row.get("event") == "alert"]


# -- requesting ---------------------------------------------------------------------------------


async def test_request_records_pending_with_ids_and_sends_the_body(
    payments, daraja, cashier, clock
):
    payment = await request(payments, cashier, description="Two sufurias")

    assert payment.status == PaymentStatus.PENDING
    assert payment.msisdn == MSISDN
    assert payment.amount == 150
    assert payment.checkout_request_id == "ws_CO_fake_1"
    assert payment.merchant_request_id == "fake-merchant-1"
    assert payment.in_flight_msisdn == MSISDN
    assert payment.attempt == 1
    assert payment.description == "Two sufurias"
    assert payment.next_query_at == clock.now + timedelta(seconds=45)
    assert daraja.called("stk_push") == [
        {
            "msisdn": MSISDN,
            "amount": 150,
            "reference": "HPlanet",
            "description": "Payment",
        }
    ]
    actions = await AuditEvent.all().order_by("id").values_list("action", "outcome")
    assert actions == [("payment.request", "ok"), ("payment.sent", "ok")]


async def test_order_payment_uses_the_order_code_as_account_reference(
    payments, daraja, cashier, order
):
    payment = await request(payments, cashier, amount=None, order=order)

    assert payment.order_id == order.id
    assert payment.in_flight_order_id == order.id
    assert daraja.called("stk_push")[0]["reference"] == "HP7K2Q9XAB"


@pytest.mark.parametrize(
    ("phone", "amount", "field", "words"),
    [
        ("0733 123 456", "150", "phone", "Airtel"),
        (PHONE, "1.5", "amount", "whole number"),
        (PHONE, "0", "amount", "positive"),
        (PHONE, "300000", "amount", "KES 250,000 limit"),
        (PHONE, "abc", "amount", "not an amount"),
    ],
)
async def test_invalid_input_is_refused_before_anything_is_recorded(
    payments, daraja, cashier, phone, amount, field, words
):
    with pytest.raises(InvalidInput) as caught:
        await request(payments, cashier, phone, amount=amount)

    assert caught.value.field == field
    assert words in str(caught.value)
    assert await Payment.all().count() == 0
    assert daraja.called("stk_push") == []
    refusal = await AuditEvent.get(action="payment.request")
    assert refusal.outcome == "refused"


async def test_amount_different_from_the_order_is_refused(payments, cashier, order):
    with pytest.raises(InvalidInput, match="Order HP7K2Q9XAB is for KES 150, not KES 200"):
        await request(payments, cashier, amount="200", order=order)


async def test_daraja_refusal_marks_failed_with_reason_and_frees_the_phone(
    payments, daraja, cashier
):
    daraja.queue("stk_push", InvalidRequest("Bad Request - Invalid PhoneNumber", code="400.002.02"))

    payment = await request(payments, cashier)

    assert payment.status == PaymentStatus.FAILED
    assert payment.result_desc == "Bad Request - Invalid PhoneNumber"
    assert payment.result_code == "400.002.02"
    assert payment.in_flight_msisdn is None
    again = await request(payments, cashier)
    assert again.status == PaymentStatus.PENDING


async def test_outcome_unknown_keeps_the_request_in_flight_and_never_pushes_again(
    payments, daraja, cashier
):
    daraja.queue("stk_push", OutcomeUnknown("read timeout"))

    payment = await request(payments, cashier)

    assert payment.status == PaymentStatus.UNKNOWN
    assert payment.in_flight_msisdn == MSISDN
    with pytest.raises(Conflict):
        await request(payments, cashier)
    assert len(daraja.called("stk_push")) == 1


async def test_unreachable_daraja_fails_safely(payments, daraja, cashier):
    daraja.queue("stk_push", DarajaUnreachable("connect error"))

    payment = await request(payments, cashier)

    assert payment.status == PaymentStatus.FAILED
    assert payment.result_desc == UNREACHABLE
    assert payment.in_flight_msisdn is None


async def test_second_push_to_the_same_phone_is_refused_while_one_is_in_flight(
    payments, daraja, cashier
):
    first = await request(payments, cashier)

    with pytest.raises(Conflict) as caught:
        await request(payments, cashier, "+254708374149", amount="500")

    assert str(caught.value) == (
        f"A payment to 0708 374 149 is already waiting for the customer's PIN (#{first.id})."
    )
    assert len(daraja.called("stk_push")) == 1
    assert await Payment.all().count() == 1


async def test_second_push_for_the_same_order_is_refused_while_one_is_in_flight(
    payments, cashier, order
):
    first = await request(payments, cashier, order=order)

    with pytest.raises(Conflict, match=rf"Order HP7K2Q9XAB already has .*\(#{first.id}\)"):
        await request(payments, cashier, OTHER_PHONE, order=order)


async def test_paid_order_is_never_charged_again(payments, daraja, cashier, order):
    await Order.filter(id=order.id).update(status=OrderStatus.PAID, paid_receipt="UKK4Q7M2XB")

    with pytest.raises(Conflict, match=r"Order HP7K2Q9XAB is already paid \(receipt UKK4Q7M2XB\)"):
        await request(payments, cashier, order=order)

    assert daraja.called("stk_push") == []


async def test_retry_after_cancel_makes_attempt_two_for_the_same_order(payments, cashier, order):
    first = await request(payments, cashier, order=order)
    await payments.apply_stk_callback(stk_callback(first.checkout_request_id, result_code=1032))

    second = await payments.retry_payment(first.id, initiator=cashier, actor="tg:2002")

    assert second.id != first.id
    assert second.attempt == 2
    assert second.order_id == order.id
    assert second.msisdn == MSISDN
    assert second.status == PaymentStatus.PENDING


async def test_retry_of_a_pending_payment_is_refused(payments, cashier):
    first = await request(payments, cashier)

    with pytest.raises(Conflict, match="only a cancelled, failed or timed-out payment"):
        await payments.retry_payment(first.id, initiator=cashier, actor="tg:2002")


async def test_replay_unmatched_runs_after_the_checkout_id_is_stored(payments, cashier):
    seen = []

    async def replay(kind, key):
        stored = await Payment.filter(checkout_request_id=key).exists()
        seen.append((kind, key, stored))

    payments.replay_unmatched = replay

    payment = await request(payments, cashier)

    assert seen == [(CallbackKind.STK, payment.checkout_request_id, True)]


# -- callbacks ----------------------------------------------------------------------------------


async def test_success_callback_pays_payment_and_order_and_notifies_once(payments, cashier, order):
    payment = await request(payments, cashier, order=order)
    cb = stk_callback(payment.checkout_request_id)

    assert await payments.apply_stk_callback(cb) == ApplyOutcome.APPLIED

    paid = await Payment.get(id=payment.id)
    assert paid.status == PaymentStatus.PAID
    assert paid.receipt == "UKK4Q7M2XB"
    assert paid.paid_amount == 150
    assert paid.in_flight_msisdn is None
    assert paid.in_flight_order_id is None
    settled = await Order.get(id=order.id)
    assert settled.status == OrderStatus.PAID
    assert settled.paid_receipt == "UKK4Q7M2XB"
    expected = {
        (f"payment:{payment.id}:paid:chat:{CASHIER_TG}", "chat"),
        (f"payment:{payment.id}:paid:sms", "sms"),
    }
    assert await outbox() == expected

    assert await payments.apply_stk_callback(cb) == ApplyOutcome.DUPLICATE
    assert await outbox() == expected
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.PAID


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (1032, PaymentStatus.CANCELLED),
        (1, PaymentStatus.INSUFFICIENT_FUNDS),
        (1037, PaymentStatus.TIMED_OUT),
        (2001, PaymentStatus.WRONG_PIN),
        (1025, PaymentStatus.FAILED),
    ],
)
async def test_failure_callbacks_settle_with_the_right_status(payments, cashier, code, status):
    payment = await request(payments, cashier)

    outcome = await payments.apply_stk_callback(
        stk_callback(payment.checkout_request_id, result_code=code)
    )

    settled = await Payment.get(id=payment.id)
    assert outcome == ApplyOutcome.APPLIED
    assert settled.status == status
    assert settled.result_code == str(code)
    assert settled.in_flight_msisdn is None
    assert await outbox() == {(f"payment:{payment.id}:{status.value}:chat:{CASHIER_TG}", "chat")}


async def test_amount_mismatch_is_flagged_for_review_not_paid(payments, cashier, order):
    payment = await request(payments, cashier, order=order)

    outcome = await payments.apply_stk_callback(
        stk_callback(payment.checkout_request_id, amount=15)
    )

    flagged = await Payment.get(id=payment.id)
    assert outcome == ApplyOutcome.REVIEW
    assert flagged.status == PaymentStatus.REVIEW
    assert flagged.review_reason == "M-Pesa reported KES 15 but KES 150 was requested"
    assert (await Order.get(id=order.id)).status == OrderStatus.OPEN
    assert await admin_alerts() == [
        f"Payment #{payment.id} needs review: M-Pesa reported KES 15 but KES 150 was requested"
    ]


@pytest.mark.parametrize(
    ("reported", "status"),
    [
        ("254708***149", PaymentStatus.PAID),
        ("2547 ***** 149", PaymentStatus.PAID),
        (None, PaymentStatus.PAID),
        (254708374149, PaymentStatus.PAID),
        ("254708***430", PaymentStatus.REVIEW),
        (254712345678, PaymentStatus.REVIEW),
    ],
)
async def test_masked_or_missing_phone_is_never_a_mismatch(payments, cashier, reported, status):
    payment = await request(payments, cashier)

    await payments.apply_stk_callback(stk_callback(payment.checkout_request_id, phone=reported))

    assert (await Payment.get(id=payment.id)).status == status


async def test_unknown_checkout_id_is_unmatched(payments):
    outcome = await payments.apply_stk_callback(stk_callback("ws_CO_nobody"))

    assert outcome == ApplyOutcome.UNMATCHED
    assert await outbox() == set()


async def test_later_failure_on_a_paid_payment_is_drift_not_a_downgrade(payments, cashier):
    payment = await request(payments, cashier)
    await payments.apply_stk_callback(stk_callback(payment.checkout_request_id))

    outcome = await payments.apply_stk_callback(
        stk_callback(payment.checkout_request_id, result_code=1037)
    )

    assert outcome == ApplyOutcome.DUPLICATE
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.PAID
    alerts = await admin_alerts()
    assert len(alerts) == 1
    assert alerts[0].startswith(f"Payment #{payment.id} is recorded as paid (receipt UKK4Q7M2XB)")
    drift = await AuditEvent.get(action="payment.drift")
    assert drift.detail["reported_code"] == "1037"


@pytest.mark.parametrize(
    ("answer", "outcome", "status"),
    [
        pytest.param("0", ApplyOutcome.APPLIED, PaymentStatus.PAID, id="confirmed-paid"),
        pytest.param("1032", ApplyOutcome.REVIEW, PaymentStatus.REVIEW, id="contradicted-review"),
    ],
)
async def test_confirm_by_query_checks_a_success_before_believing_it(
    confirming: PaymentService, daraja, cashier, answer, outcome, status
):
    payment = await request(confirming, cashier)
    daraja.queue("stk_query", stk_query_answer(payment.checkout_request_id, answer))

    applied = await confirming.apply_stk_callback(stk_callback(payment.checkout_request_id))

    assert applied == outcome
    assert daraja.called("stk_query") == [{"checkout_request_id": payment.checkout_request_id}]
    assert (await Payment.get(id=payment.id)).status == status


async def test_confirm_by_query_holds_a_success_the_query_cannot_confirm_yet(
    confirming: PaymentService, daraja, clock, cashier
):
    payment = await request(confirming, cashier)  # the fake's query answers 4999 by default

    await confirming.apply_stk_callback(stk_callback(payment.checkout_request_id))

    held = await Payment.get(id=payment.id)
    assert held.status == PaymentStatus.PENDING
    assert held.receipt == "UKK4Q7M2XB"
    assert held.next_query_at == clock.now
    assert await outbox() == set()

    daraja.queue("stk_query", stk_query_answer(payment.checkout_request_id, "0"))
    await confirming.reconcile_pending()

    paid = await Payment.get(id=payment.id)
    assert paid.status == PaymentStatus.PAID
    assert paid.receipt == "UKK4Q7M2XB"


async def test_callback_after_a_query_settled_it_fills_in_the_receipt(
    payments, daraja, cashier, order
):
    payment = await request(payments, cashier, order=order)
    daraja.queue("stk_query", stk_query_answer(payment.checkout_request_id, "0"))
    await payments.refresh_status(f"#{payment.id}", actor="tg:2002")
    assert (await Payment.get(id=payment.id)).receipt is None

    outcome = await payments.apply_stk_callback(stk_callback(payment.checkout_request_id))

    assert outcome == ApplyOutcome.APPLIED
    assert (await Payment.get(id=payment.id)).receipt == "UKK4Q7M2XB"
    assert (await Order.get(id=order.id)).paid_receipt == "UKK4Q7M2XB"


# -- looking up ---------------------------------------------------------------------------------


async def test_status_finds_payments_and_orders_by_any_reference(payments, cashier, order):
    payment = await request(payments, cashier, order=order)
    await payments.apply_stk_callback(stk_callback(payment.checkout_request_id))

    for ref in (str(payment.id), f"#{payment.id}", "ukk4q7m2xb", payment.checkout_request_id):
        found = await payments.status(ref)
        assert isinstance(found, Payment)
        assert found.id == payment.id
    found = await payments.status("hp7k2q9xab")
    assert isinstance(found, Order)
    assert found.id == order.id
    with pytest.raises(NotFound):
        await payments.status("NOPE123")


async def test_refresh_status_applies_a_final_query_answer(payments, daraja, cashier):
    payment = await request(payments, cashier)
    daraja.queue("stk_query", stk_query_answer(payment.checkout_request_id, "1032"))

    refreshed = await payments.refresh_status(payment.checkout_request_id, actor="tg:2002")

    assert refreshed.status == PaymentStatus.CANCELLED
    assert await AuditEvent.filter(action="payment.refresh").count() == 1


async def test_set_status_message_remembers_the_live_message(payments, cashier):
    payment = await request(payments, cashier)

    await payments.set_status_message(payment.id, 77, 88)

    stored = await Payment.get(id=payment.id)
    assert (stored.chat_id, stored.message_id) == (77, 88)


async def test_a_reference_longer_than_any_we_store_is_refused_cleanly(db):
    from bot.services.errors import InvalidInput
    from bot.services.payment_lookup import find_payment_or_order

    with pytest.raises(InvalidInput) as caught:
        await find_payment_or_order("x" * 97)

    assert "too long (97 characters)" in str(caught.value)
