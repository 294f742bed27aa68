"""find_payment_or_order: one indexed statement for every reference form, read back exactly."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest
from tortoise import connections

from bot.services.errors import NotFound
from bot.services.payment_lookup import _ANY_REFERENCE
from bot.services.payment_lookup import find_payment_or_order
from models import Customer
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import Provider
from models import Staff
from models import StaffRole

PAID_AT = datetime(2026, 11, 20, 11, 30, 41, tzinfo=UTC)


async def paid_payment(n: int, **fields) -> Payment:
    values = {
        "msisdn": f"25470837414{n}",
        "amount": 150 * n,
        "account_reference": "HP",
        "status": PaymentStatus.PAID,
        "checkout_request_id": f"ws_CO_{n}",
        "receipt": f"UKK4Q7M2X{n}",
        "paid_amount": 150 * n,
        "paid_at": PAID_AT,
    }
    return await Payment.create(**(values | fields))


async def test_each_form_finds_its_record_read_back_as_the_orm_reads_it(db) -> None:
    staff = await Staff.create(telegram_id=2002, name="Wanjiku", role=StaffRole.CASHIER)
    customer = await Customer.create(telegram_id=6001, chat_id=6001, name="Akinyi")
    order = await Order.create(code="HP7K2Q9XAB", amount=300, created_by=staff, customer=customer)
    payment = await paid_payment(
        2, order=order, customer=customer, initiated_by=staff, result_desc="Processed"
    )

    found = [
        await find_payment_or_order(ref)
        for ref in (f"#{payment.id}", str(payment.id), "ws_CO_2", "ukk4q7m2x2", " hp7k 2q9xab ")
    ]

    expected = await Payment.get(id=payment.id)
    fields = list(Payment._meta.fields_db_projection)
    for record in found[:4]:
        assert isinstance(record, Payment)
        assert {f: getattr(record, f) for f in fields} == {f: getattr(expected, f) for f in fields}
    stored_order = await Order.get(id=order.id)
    order_fields = list(Order._meta.fields_db_projection)
    assert isinstance(found[4], Order)
    assert {f: getattr(found[4], f) for f in order_fields} == {
        f: getattr(stored_order, f) for f in order_fields
    }
    assert found[4].status is OrderStatus.OPEN


async def test_an_airtel_payment_is_found_by_its_transaction_id_and_its_receipt_as_typed(db):
    payment = await paid_payment(
        3,
        provider=Provider.AIRTEL,
        checkout_request_id=None,
        transaction_id="C7QX2M4K9P0A1B2C3D4E",
        receipt="MP261120.1130.K00042",
    )

    found = [
        await find_payment_or_order(ref)
        for ref in ("C7QX2M4K9P0A1B2C3D4E", "MP261120.1130.K00042", "mp261120.1130.k00042")
    ]

    assert [record.id for record in found] == [payment.id, payment.id, payment.id]


async def test_when_references_collide_id_then_checkout_then_order_then_receipt_wins(db) -> None:
    first = await paid_payment(1)
    # payment 2's receipt is payment 1's id as text; its CheckoutRequestID is an order's code
    second = await paid_payment(2, receipt=str(first.id), checkout_request_id="HPCOLLIDE1")
    await Order.create(code="HPCOLLIDE1", amount=100)
    await paid_payment(3, receipt="HPORDER002")
    await Order.create(code="HPORDER002", amount=100)

    assert (await find_payment_or_order(str(first.id))).id == first.id
    assert (await find_payment_or_order("HPCOLLIDE1")).id == second.id
    by_code = await find_payment_or_order("HPORDER002")
    assert isinstance(by_code, Order)
    assert by_code.code == "HPORDER002"
    assert (await find_payment_or_order("UKK4Q7M2X1")).id == first.id


async def test_nothing_found_says_what_to_give(db) -> None:
    await paid_payment(1)

    with pytest.raises(NotFound) as caught:
        await find_payment_or_order("NOPE123")

    assert "give a payment number (#12), an order code" in str(caught.value)


async def test_the_lookup_uses_an_index_for_every_table(db) -> None:
    client = connections.get("default")
    sql = _ANY_REFERENCE.sql_for(client)
    params = [12, "ws_CO_1", "ws_CO_1", "UKK4Q7M2X1", "UKK4Q7M2X1", "UKK4Q7M2X1"]
    if client.capabilities.dialect == "postgres":
        # on a small table a scan is cheaper; forbid it to see whether an index CAN serve
        async with client._in_transaction() as tx:
            await tx.execute_script("SET LOCAL enable_seqscan = off")
            rows = await tx.execute_query_dict("EXPLAIN " + sql, params)
        plan = "\n".join(row["QUERY PLAN"] for row in rows)
        assert "Seq Scan on payment" not in plan
        assert "Seq Scan on orders" not in plan
    else:
        rows = await client.execute_query_dict("EXPLAIN QUERY PLAN " + sql, params)
        plan = "\n".join(row["detail"] for row in rows)
        assert "SCAN p" not in plan
        assert "SCAN o" not in plan
        assert "MULTI-INDEX OR" in plan
