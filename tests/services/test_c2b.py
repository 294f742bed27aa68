"""C2BService: validating payments to the paybill and recording confirmations once."""

from __future__ import annotations

import pytest

from bot.notify.notifier import Notifier
from bot.services.c2b import C2BService
from bot.services.outcome import ApplyOutcome
from models import AuditEvent
from models import C2BTransaction
from models import Notification
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import Staff
from models import StaffRole
from tests.helpers.stk import c2b_payment

ACCEPT = {"ResultCode": "0", "ResultDesc": "Accepted"}


@pytest.fixture
def c2b(db, settings) -> C2BService:
    notifier = Notifier(business_name=settings.business_name, admin_telegram_ids=[1001])
    return C2BService(notifier=notifier, settings=settings)


@pytest.fixture
async def order(db) -> Order:
    creator = await Staff.create(telegram_id=2002, role=StaffRole.CASHIER)
    return await Order.create(code="HP7K2Q9XAB", amount=150, created_by=creator)


async def alerts() -> list[str]:
    rows = await Notification.filter(recipient="1001").values_list("payload", flat=True)
    return [row["text"] for row in rows]


@pytest.mark.parametrize(
    ("bill_ref", "amount", "answer"),
    [
        ("HP7K2Q9XAB", "150.00", {**ACCEPT, "ThirdPartyTransID": "HP7K2Q9XAB"}),
        (" hp7k 2q9xab ", 150, {**ACCEPT, "ThirdPartyTransID": "HP7K2Q9XAB"}),
        ("HP7K2Q9XAB", "100.00", {"ResultCode": "C2B00013", "ResultDesc": "Rejected"}),
        ("HPNOSUCH", "150.00", {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}),
        ("hplanet", "999.00", ACCEPT),
        ("", "999.00", ACCEPT),
    ],
)
async def test_validate_accepts_or_rejects_by_rules(c2b, order, bill_ref, amount, answer):
    assert await c2b.validate(c2b_payment(bill_ref=bill_ref, amount=amount)) == answer
    assert await AuditEvent.filter(action="c2b.validate").count() == 1


async def test_validate_rejects_a_paid_order(c2b, order):
    await Order.filter(id=order.id).update(status=OrderStatus.PAID)

    answer = await c2b.validate(c2b_payment(bill_ref="HP7K2Q9XAB"))

    assert answer == {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}


async def test_confirm_records_once_and_settles_the_order(c2b, order):
    payment = c2b_payment(bill_ref="hp7k2q9xab")

    assert await c2b.confirm(payment) == ApplyOutcome.APPLIED
    assert await c2b.confirm(payment) == ApplyOutcome.DUPLICATE

    row = await C2BTransaction.get(trans_id="UKK2M8P4RS")
    assert (row.amount, row.order_id, row.msisdn, row.payer_name) == (
        150,
        order.id,
        "2547 ***** 149",
        "JOHN",
    )
    assert await C2BTransaction.all().count() == 1
    paid = await Order.get(id=order.id)
    assert (paid.status, paid.paid_receipt) == (OrderStatus.PAID, "UKK2M8P4RS")
    keys = await Notification.all().values_list("event_key", flat=True)
    assert keys == [f"order:{order.id}:paid:staff:2002"]


async def test_confirm_of_an_stk_payment_echo_is_linked_not_counted_twice(c2b, order):
    await Payment.create(
        order=order,
        msisdn="254708374149",
        amount=150,
        account_reference=order.code,
        status=PaymentStatus.PAID,
        receipt="UKK2M8P4RS",
    )

    outcome = await c2b.confirm(c2b_payment(bill_ref=order.code))

    assert outcome == ApplyOutcome.DUPLICATE
    assert (await C2BTransaction.get(trans_id="UKK2M8P4RS")).order_id == order.id
    assert (await Order.get(id=order.id)).status == OrderStatus.OPEN
    assert await Notification.all().count() == 0


async def test_confirm_with_a_wrong_amount_is_recorded_for_review(c2b, order):
    outcome = await c2b.confirm(c2b_payment(bill_ref=order.code, amount="100.00"))

    assert outcome == ApplyOutcome.REVIEW
    assert (await Order.get(id=order.id)).status == OrderStatus.OPEN
    assert await alerts() == [
        "C2B payment UKK2M8P4RS of KES 100 was for order HP7K2Q9XAB, which is KES 150; "
        "the order was not marked paid."
    ]


async def test_confirm_for_an_unknown_account_alerts_admins(c2b):
    outcome = await c2b.confirm(c2b_payment(bill_ref="WHO-KNOWS"))

    assert outcome == ApplyOutcome.REVIEW
    assert await C2BTransaction.all().count() == 1
    assert len(await alerts()) == 1


async def test_confirm_of_a_free_payment_is_applied_quietly(c2b):
    outcome = await c2b.confirm(c2b_payment(bill_ref="HPlanet"))

    assert outcome == ApplyOutcome.APPLIED
    assert await alerts() == []


async def test_second_payment_for_a_paid_order_alerts_admins(c2b, order):
    await c2b.confirm(c2b_payment(trans_id="UKK2M8P4RS", bill_ref=order.code))

    outcome = await c2b.confirm(c2b_payment(trans_id="UKK2M8P4ZZ", bill_ref=order.code))

    assert outcome == ApplyOutcome.REVIEW
    assert (await Order.get(id=order.id)).paid_receipt == "UKK2M8P4RS"
    assert "may have paid twice" in (await alerts())[0]
