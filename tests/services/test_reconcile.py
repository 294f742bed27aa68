"""Reconciler: one pass over payments, payouts, waiting callbacks and the outbox."""

from __future__ import annotations

from types import SimpleNamespace

from bot.notify.channels import RecordingChatChannel
from bot.notify.notifier import Notifier
from bot.notify.outbox import OutboxWorker
from bot.services.reconcile import Reconciler, ReconcileReport
from models import NotificationChannel, PaymentStatus, PayoutStatus
from tests.helpers.stub_services import StubPayments, StubPayouts


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
