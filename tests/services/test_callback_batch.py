"""IngestBatcher: a batch of STK callbacks ends exactly as the same callbacks one by one."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from tortoise import connections

from bot.callback_paths import CALLBACK_ROUTES
from bot.config import Settings
from bot.services.callback_batch import IngestBatcher
from bot.services.callback_batch import read_payments
from bot.services.container import Services
from bot.services.container import build_services
from bot.web.app import create_app
from models import AuditEvent
from models import CallbackInbox
from models import CallbackKind
from models import Customer
from models import InboxStatus
from models import Notification
from models import NotificationChannel
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import Staff
from models import StaffRole
from mpesa.callbacks import ACK
from tests.helpers.db_faults import first_insert_fails
from tests.helpers.stk import stk_callback_body

NOW = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
REMOTE = "196.201.214.200"
STAFF_CHAT = 5_001
CASHIER_CHAT = 5_002
CUSTOMER_CHAT = 6_001
# TransactionDate 20261120143041 in Nairobi time, as the ORM reads it back
PAID_AT = datetime(2026, 11, 20, 11, 30, 41, tzinfo=UTC)


class NoDaraja:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a callback with confirm-by-query off must not call Daraja ({name})")


@pytest.fixture
def services(db, settings: Settings) -> Services:
    settings = settings.model_copy(
        update={"mpesa_confirm_by_query": False, "shop_webhook_url": "https://shop.test/hook"}
    )
    return build_services(
        settings, daraja=NoDaraja(), channels={NotificationChannel.SMS: object()}, clock=lambda: NOW
    )


def batcher_for(services: Services) -> IngestBatcher:
    return IngestBatcher(services.callbacks, notifier=services.notifier, confirm_by_query=False)


def body(checkout: str, **kwargs: Any) -> bytes:
    return json.dumps(stk_callback_body(checkout, **kwargs)).encode()


async def seed() -> None:
    """Pending payments: plain, with an order (creator + customer), and one per edge case."""
    cashier = await Staff.create(telegram_id=CASHIER_CHAT, name="Cashier", role=StaffRole.CASHIER)
    customer = await Customer.create(
        telegram_id=CUSTOMER_CHAT, chat_id=CUSTOMER_CHAT, name="Wanjiru"
    )
    order = await Order.create(
        code="HP-1", amount=150, reference="shop-1", customer=customer, created_by=cashier
    )
    for n in range(1, 10):
        await Payment.create(
            msisdn=f"2547083741{n:02d}",
            in_flight_msisdn=f"2547083741{n:02d}",
            amount=150,
            account_reference="HP",
            description=f"cup {n}",
            status=PaymentStatus.PENDING,
            checkout_request_id=f"ws_CO_{n}",
            chat_id=STAFF_CHAT,
            order=order if n == 2 else None,
            in_flight_order_id=order.id if n == 2 else None,
            customer=customer if n == 2 else None,
        )


def mixed_batch() -> list[bytes]:
    return [
        body("ws_CO_1", receipt="RCPT001", phone=254708374101),  # fast
        body("ws_CO_2", receipt="RCPT002", phone=254708374102),  # fast, with an order
        body("ws_CO_3", result_code=1032),  # cancelled
        body("ws_CO_unknown", receipt="RCPT009"),  # unmatched, replayed later
        body("ws_CO_4", receipt="RCPT004", phone=254708374104),  # twice in the batch
        body("ws_CO_4", receipt="RCPT004", phone=254708374104),
        body("ws_CO_5", receipt="RCPT005", amount=15, phone=254708374105),  # review
        body("ws_CO_6", receipt="RCPTSAME", phone=254708374106),  # one receipt, two payments
        body("ws_CO_7", receipt="RCPTSAME", phone=254708374107),
        b"{not json",  # 400
        body("ws_CO_8", receipt="RCPT008", phone="2547****108"),  # fast, masked phone
    ]


async def wipe() -> None:
    """Empty every table and restart the ids, so a second run gets the same ids."""
    db = connections.get("default")
    tables = ["notification", "audit_event", "callback_inbox", "payment", "orders"]
    tables += ["customer", "staff"]
    if db.capabilities.dialect == "postgres":
        await db.execute_script(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        return
    for table in tables:
        await db.execute_script(f"DELETE FROM {table}")  # noqa: S608 - our own table names
    await db.execute_script("DELETE FROM sqlite_sequence")


async def snapshot() -> dict[str, Any]:
    """Everything the callbacks can change, read through the ORM and as stored."""
    db = connections.get("default")
    payments = await Payment.all().order_by("id").values()
    orders = await Order.all().order_by("id").values()
    for row in [*payments, *orders]:
        del row["created_at"], row["updated_at"]
    inbox = await CallbackInbox.all().order_by("id").values()
    for row in inbox:
        del row["received_at"]
    outbox = []
    for row in await Notification.all().values():
        del row["id"], row["created_at"]
        row["payload"].pop("id", None)  # a webhook's id is drawn at random
        outbox.append(row)
    audit = [
        (a.actor, a.action, a.subject, a.outcome, a.detail)
        for a in await AuditEvent.filter(action__startswith="payment.")
    ]
    stored = await db.execute_query_dict(
        "SELECT id, paid_at, receipt, paid_phone FROM payment ORDER BY id"
    )
    due = await db.execute_query_dict("SELECT event_key, next_attempt_at FROM notification")
    return {
        "payments": payments,
        "orders": orders,
        "inbox": inbox,
        "outbox": sorted(outbox, key=lambda r: r["event_key"]),
        "audit": sorted(audit, key=repr),
        "stored": [dict(r) for r in stored],
        "stored_due": sorted((r["event_key"], r["next_attempt_at"]) for r in due),
    }


async def submit_as_one_batch(batcher: IngestBatcher, bodies: list[bytes]) -> list[Any]:
    """Queue every body before the writer runs, so they form one batch."""
    await batcher.start()
    tasks = [asyncio.create_task(batcher.submit(b, REMOTE)) for b in bodies]
    answers = await asyncio.gather(*tasks)
    await batcher.close()
    return answers


async def replay_unknown(services: Services) -> int:
    await Payment.create(
        msisdn="254708374149",
        amount=150,
        account_reference="HP",
        status=PaymentStatus.PENDING,
        checkout_request_id="ws_CO_unknown",
    )
    return await services.callbacks.replay(CallbackKind.STK, "ws_CO_unknown")


async def test_a_mixed_batch_ends_exactly_as_one_by_one(services) -> None:
    bodies = mixed_batch()
    await seed()
    lone = [await services.callbacks.ingest(CallbackKind.STK, b, REMOTE) for b in bodies]
    lone_replayed = await replay_unknown(services)
    expected, expected_counts = await snapshot(), dict(services.callbacks.counts)
    await wipe()
    services.callbacks.counts.clear()
    await seed()
    batcher = batcher_for(services)

    answers = await submit_as_one_batch(batcher, bodies)
    replayed = await replay_unknown(services)

    assert (batcher.batches, batcher.settled) == (1, 3)
    assert answers == lone
    assert answers[-2][0] == 400
    assert replayed == lone_replayed == 1
    assert dict(services.callbacks.counts) == expected_counts
    actual = await snapshot()
    for part in expected:
        assert actual[part] == expected[part], part
    statuses = {p["checkout_request_id"]: p["status"] for p in actual["payments"]}
    assert statuses == {
        "ws_CO_1": "paid",
        "ws_CO_2": "paid",
        "ws_CO_3": "cancelled",
        "ws_CO_4": "paid",
        "ws_CO_5": "review",
        "ws_CO_6": "paid",
        "ws_CO_7": "pending",  # its receipt is taken: the lone path leaves it for a person
        "ws_CO_8": "paid",
        "ws_CO_9": "pending",
        "ws_CO_unknown": "paid",
    }
    order = await Order.get(code="HP-1")
    assert (order.status, order.paid_receipt) == (OrderStatus.PAID, "RCPT002")


async def test_payments_read_by_the_batch_are_the_ones_the_orm_reads(services) -> None:
    await seed()
    # every kind of column filled somewhere: dates, enums, foreign keys, NULLs, a settled one
    await Payment.filter(checkout_request_id="ws_CO_3").update(
        status=PaymentStatus.PAID, receipt="RCPT003", paid_amount=150, paid_at=PAID_AT
    )
    db = connections.get("default")

    _, rows = await db.execute_query("SELECT * FROM payment ORDER BY id")
    ours = read_payments(rows)

    orm = await Payment.all().order_by("id")
    assert [vars(p) for p in ours] == [vars(p) for p in orm]
    assert [{k: type(v) for k, v in vars(p).items()} for p in ours] == [
        {k: type(v) for k, v in vars(p).items()} for p in orm
    ]
    assert ours[1].order_id is not None
    assert (await ours[1].order).code == "HP-1"
    ours[0].description = "saved through the ORM"
    await ours[0].save(update_fields=["description"])
    assert (await Payment.get(id=ours[0].id)).description == "saved through the ORM"


async def test_rows_written_by_the_batch_read_back_like_the_orm_writes_them(services) -> None:
    await seed()

    answers = await submit_as_one_batch(
        batcher_for(services), [body("ws_CO_2", receipt="RCPT002", phone=254708374102)]
    )

    assert answers == [(200, ACK)]
    payment = await Payment.get(checkout_request_id="ws_CO_2")
    assert (payment.status, payment.receipt, payment.paid_amount) == (
        PaymentStatus.PAID,
        "RCPT002",
        150,
    )
    assert payment.paid_at == PAID_AT
    assert payment.paid_at.utcoffset() == timedelta(0)
    assert (payment.in_flight_msisdn, payment.in_flight_order_id) == (None, None)
    event = await AuditEvent.get(action="payment.paid")
    assert event.detail == {"source": "callback", "receipt": "RCPT002", "amount": 150}
    assert event.created_at.utcoffset() == timedelta(0)
    rows = {n.event_key: n for n in await Notification.all()}
    assert sorted(rows) == [
        "order:1:paid:staff:5002",
        "order:1:paid:webhook",
        f"payment:{payment.id}:paid:chat:{STAFF_CHAT}",
        f"payment:{payment.id}:paid:customer:{CUSTOMER_CHAT}",
        f"payment:{payment.id}:paid:sms",
    ]
    webhook = rows["order:1:paid:webhook"].payload
    assert (webhook["type"], webhook["data"]) == (
        "order.paid",
        {
            "orderId": "HP-1",
            "reference": "shop-1",
            "amount": 150,
            "receipt": "RCPT002",
            "paymentId": payment.id,
            "paymentMethod": "MPESA",
        },
    )
    assert rows[f"payment:{payment.id}:paid:sms"].payload == {
        "text": "Household Planet Kenya: we received KES 150 for order HP-1. "
        "M-Pesa receipt RCPT002. Thank you."
    }
    assert all(n.next_attempt_at == NOW for n in rows.values())
    inbox = await CallbackInbox.get()
    assert (inbox.status, inbox.match_key, inbox.processed_at) == (
        InboxStatus.PROCESSED,
        "ws_CO_2",
        NOW,
    )
    assert inbox.received_at.utcoffset() == timedelta(0)


async def test_a_failure_inside_the_batch_rolls_back_and_applies_one_by_one(services) -> None:
    await seed()
    batcher = batcher_for(services)
    bodies = [body(f"ws_CO_{n}", receipt=f"RCPT00{n}", phone=f"2547083741{n:02d}") for n in (1, 8)]

    # the database refuses the batch's first audit row, after its payment updates were written
    async with first_insert_fails("audit_event"):
        answers = await submit_as_one_batch(batcher, bodies)

    assert answers == [(200, ACK), (200, ACK)]
    assert batcher.settled == 0
    paid = (
        await Payment.filter(status=PaymentStatus.PAID)
        .order_by("id")
        .values_list("checkout_request_id", flat=True)
    )
    assert paid == ["ws_CO_1", "ws_CO_8"]
    assert await AuditEvent.filter(action="payment.paid").count() == 2
    assert [row.status for row in await CallbackInbox.all().order_by("id")] == [
        InboxStatus.PROCESSED,
        InboxStatus.PROCESSED,
    ]
    assert await Notification.filter(event_key__endswith=":sms").count() == 2


async def test_shutdown_drains_what_is_queued_and_later_callbacks_go_inline(services) -> None:
    await seed()
    batcher = batcher_for(services)
    await batcher.start()
    handed_over = asyncio.Event()
    submitted: list[int] = []

    async def request(n: int) -> Any:
        submitted.append(n)
        if len(submitted) == 4:
            handed_over.set()
        # submit() queues the callback before its first await, so once every request has
        # started, all four are queued or already being written
        return await batcher.submit(body(f"ws_CO_{n}", receipt=f"R{n}", phone=None), REMOTE)

    tasks = [asyncio.create_task(request(n)) for n in range(1, 5)]
    await handed_over.wait()

    await batcher.close()
    drained = await CallbackInbox.filter(status=InboxStatus.PROCESSED).count()
    late = await batcher.submit(body("ws_CO_8", receipt="R8", phone=None), REMOTE)

    assert drained == 4
    assert await asyncio.gather(*tasks) == [(200, ACK)] * 4
    assert late == (200, ACK)
    assert await Payment.filter(status=PaymentStatus.PAID).count() == 5
    assert await CallbackInbox.filter(status=InboxStatus.PROCESSED).count() == 5


async def test_two_concurrent_batches_never_pay_twice(services) -> None:
    await seed()
    first, second = batcher_for(services), batcher_for(services)
    await first.start()
    await second.start()
    same = body("ws_CO_1", receipt="RCPT001", phone=254708374101)

    answers = await asyncio.gather(first.submit(same, REMOTE), second.submit(same, REMOTE))
    await first.close()
    await second.close()

    assert answers == [(200, ACK), (200, ACK)]
    assert first.settled + second.settled == 1
    assert await AuditEvent.filter(action="payment.paid").count() == 1
    assert await Notification.filter(event_key__startswith="payment:").count() == 2
    assert sorted(row.status for row in await CallbackInbox.all()) == [
        InboxStatus.DUPLICATE,
        InboxStatus.PROCESSED,
    ]


async def test_the_callback_route_answers_through_the_batcher(services, aiohttp_client) -> None:
    await seed()
    client = await aiohttp_client(create_app(services, settings=services.settings))
    url = (
        f"/hooks/{services.settings.resolved_callback_secret()}/{CALLBACK_ROUTES[CallbackKind.STK]}"
    )

    ok, bad = await asyncio.gather(
        client.post(url, data=body("ws_CO_1", receipt="RCPT001", phone=254708374101)),
        client.post(url, data=b"{not json"),
    )

    assert (ok.status, await ok.json()) == (200, ACK)
    assert bad.status == 400
    assert (await bad.json())["ResultCode"] == 1
    assert (await Payment.get(checkout_request_id="ws_CO_1")).status == PaymentStatus.PAID
    assert sorted(row.status for row in await CallbackInbox.all()) == [
        InboxStatus.PROCESSED,
        InboxStatus.REJECTED,
    ]
