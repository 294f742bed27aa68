"""Reconciler: one pass over payments, payouts, waiting callbacks and the outbox."""

from __future__ import annotations

from types import SimpleNamespace

from bot.notify.channels import RecordingChatChannel
from bot.notify.notifier import Notifier
from bot.notify.outbox import OutboxWorker
from bot.services.reconcile import Reconciler
from bot.services.reconcile import ReconcileReport
from models import NotificationChannel
from models import PaymentStatus
from models import PayoutStatus
from tests.helpers.stub_services import StubPayments
from tests.helpers.stub_services import StubPayouts


class StubCallbacks:
    def __init__(self, replayed: int = 0) -> None:
        self.replayed = replayed

    async def replay_pending(self) -> int:
        return self.replayed


class BrokenPayments(StubPayments):
    async def reconcile_pending(self, *, limit: int = 50) -> list:
        raise RuntimeError("daraja is down")


async def test_one_pass_reports_what_it_did(db) -> None:
    payments = StubPayments(
        pending=[
            SimpleNamespace(status=PaymentStatus.PAID),
            SimpleNamespace(status=PaymentStatus.CANCELLED),
            SimpleNamespace(status=PaymentStatus.PENDING),
        ]
    )
    payouts = StubPayouts(
        pending=[SimpleNamespace(status=PayoutStatus.UNKNOWN)],
    )
    chat = RecordingChatChannel()
    await Notifier(business_name="Shop").enqueue(
        event_key="payment:1:paid:chat:7",
        channel=NotificationChannel.CHAT,
        recipient=7,
        payload={"event": "payment", "payment_id": 1},
    )
    outbox = OutboxWorker({NotificationChannel.CHAT: chat})

    report = await Reconciler(payments, payouts, outbox, callbacks=StubCallbacks(2)).run_once()

    assert report == ReconcileReport(
        payments_settled=2,
        payments_waiting=1,
        payouts_settled=0,
        payouts_waiting=1,
        callbacks_replayed=2,
        notifications_delivered=1,
    )
    assert chat.event_keys == ["payment:1:paid:chat:7"]


async def test_a_failing_step_does_not_stop_the_others(db) -> None:
    chat = RecordingChatChannel()
    await Notifier(business_name="Shop").enqueue(
        event_key="k", channel=NotificationChannel.CHAT, recipient=7, payload={}
    )
    reconciler = Reconciler(
        BrokenPayments(), StubPayouts(), OutboxWorker({NotificationChannel.CHAT: chat})
    )

    report = await reconciler.run_once()

    assert report.errors == ("payments: RuntimeError: daraja is down",)
    assert report.notifications_delivered == 1


async def test_idempotency_records_past_their_day_are_purged(db):
    from datetime import UTC
    from datetime import datetime
    from datetime import timedelta

    from bot.services.api_keys import ApiKeyService
    from bot.services.idempotency import purge_idempotency_records
    from models import IdempotencyRecord

    key, _ = await ApiKeyService().create("webshop")
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    old = await IdempotencyRecord.create(api_key=key, key="old", request_hash="a" * 64)
    fresh = await IdempotencyRecord.create(api_key=key, key="fresh", request_hash="b" * 64)
    await IdempotencyRecord.filter(id=old.id).update(created_at=now - timedelta(hours=25))
    await IdempotencyRecord.filter(id=fresh.id).update(created_at=now - timedelta(hours=23))

    purged = await purge_idempotency_records(now)

    assert purged == 1
    assert await IdempotencyRecord.all().values_list("key", flat=True) == ["fresh"]


async def test_a_pass_ends_with_housekeeping_and_survives_its_failure(db) -> None:
    calls: list[str] = []

    async def housekeeping() -> int:
        calls.append("ran")
        raise RuntimeError("disk full")

    outbox = OutboxWorker({})
    reconciler = Reconciler(StubPayments(), StubPayouts(), outbox, housekeeping=housekeeping)

    report = await reconciler.run_once()

    assert calls == ["ran"]
    assert report.errors == ("housekeeping: RuntimeError: disk full",)
