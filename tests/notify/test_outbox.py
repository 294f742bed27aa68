"""OutboxWorker: atomic claims, one delivery per event, exponential backoff, giving up."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.notify.channels import PermanentDeliveryError
from bot.notify.channels import RecordingChatChannel
from bot.notify.notifier import Notifier
from bot.notify.outbox import OutboxWorker
from models import Notification
from models import NotificationChannel
from models import NotificationStatus


@pytest.fixture
def chat() -> RecordingChatChannel:
    return RecordingChatChannel()


@pytest.fixture
def notifier() -> Notifier:
    return Notifier(business_name="Household Planet Kenya")


def worker(chat, clock, **kwargs) -> OutboxWorker:
    return OutboxWorker({NotificationChannel.CHAT: chat}, clock=clock, jitter=lambda: 0.0, **kwargs)


async def queue(notifier: Notifier, key: str, recipient: int = 42) -> None:
    await notifier.enqueue(
        event_key=key,
        channel=NotificationChannel.CHAT,
        recipient=recipient,
        payload={"event": "payment", "payment_id": 1},
    )


async def test_due_messages_are_delivered_once(db, chat, clock, notifier) -> None:
    await queue(notifier, "payment:1:paid:chat:42")
    await queue(notifier, "payment:2:paid:chat:42")
    w = worker(chat, clock)

    assert await w.run_once() == 2
    assert await w.run_once() == 0
    assert sorted(chat.event_keys) == ["payment:1:paid:chat:42", "payment:2:paid:chat:42"]
    rows = await Notification.all()
    assert [(r.status, r.attempts) for r in rows] == [(NotificationStatus.SENT, 1)] * 2
    assert all(r.sent_at is not None for r in rows)


async def test_same_event_queued_twice_is_sent_once(db, chat, clock, notifier) -> None:
    await queue(notifier, "payment:1:paid:chat:42")
    await queue(notifier, "payment:1:paid:chat:42")

    assert await worker(chat, clock).run_once() == 1
    assert chat.event_keys == ["payment:1:paid:chat:42"]


async def test_failing_twice_then_succeeding_backs_off_exponentially(
    db, chat, clock, notifier
) -> None:
    await queue(notifier, "payment:1:paid:chat:42")
    chat.fail_next(ConnectionError("telegram down"), TimeoutError("slow"))
    w = worker(chat, clock, base_delay_s=5)

    assert await w.run_once() == 0
    row = await Notification.get()
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
    assert row.next_attempt_at == clock.now + timedelta(seconds=5)
    assert "telegram down" in row.last_error

    clock.advance(4)
    assert await w.run_once() == 0  # not due yet
    clock.advance(1)
    assert await w.run_once() == 0
    row = await Notification.get()
    assert row.attempts == 2
    assert row.next_attempt_at == clock.now + timedelta(seconds=10)

    clock.advance(10)
    assert await w.run_once() == 1
    row = await Notification.get()
    assert (row.status, row.attempts, row.last_error) == (NotificationStatus.SENT, 3, None)
    assert chat.event_keys == ["payment:1:paid:chat:42"]
    assert w.failures == {"chat": 2}


async def test_gives_up_after_max_attempts(db, chat, clock, notifier) -> None:
    await queue(notifier, "k")
    chat.fail_next(*[ConnectionError(f"try {i}") for i in range(3)])
    w = worker(chat, clock, max_attempts=3, base_delay_s=1)

    for _ in range(3):
        await w.run_once()
        clock.advance(3600)

    row = await Notification.get()
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 3)
    assert "gave up after 3 attempts" in row.last_error
    assert await w.run_once() == 0
    assert chat.delivered == []


async def test_permanent_error_is_not_retried(db, chat, clock, notifier) -> None:
    await queue(notifier, "k")
    chat.fail_next(PermanentDeliveryError("user blocked the bot"))
    w = worker(chat, clock)

    await w.run_once()
    clock.advance(86400)

    assert await w.run_once() == 0
    row = await Notification.get()
    assert (row.status, row.attempts, row.last_error) == (
        NotificationStatus.FAILED,
        1,
        "user blocked the bot",
    )


@pytest.mark.parametrize(("attempts", "expected"), [(1, 5), (2, 10), (3, 20), (8, 640), (20, 3600)])
def test_backoff_doubles_and_is_capped(attempts, expected) -> None:
    w = OutboxWorker({}, base_delay_s=5, max_delay_s=3600, jitter=lambda: 0.0)

    assert w.backoff_s(attempts) == expected


def test_jitter_adds_at_most_half() -> None:
    w = OutboxWorker({}, base_delay_s=10, jitter=lambda: 1.0)

    assert w.backoff_s(1) == 15


async def test_two_workers_at_once_deliver_each_message_once(db, clock, notifier) -> None:
    for n in range(10):
        await queue(notifier, f"event:{n}")
    entered = asyncio.Event()
    release = asyncio.Event()

    class SlowChannel(RecordingChatChannel):
        async def deliver(self, notification: Notification) -> None:
            entered.set()
            await release.wait()  # hold the first claims while the other worker tries
            await super().deliver(notification)

    shared = SlowChannel()
    first = worker(shared, clock, batch=10)
    second = worker(shared, clock, batch=10)

    task = asyncio.create_task(first.run_once())
    await entered.wait()
    other = await second.run_once()  # everything is claimed by the first
    release.set()
    sent = await task

    assert (sent, other) == (10, 0)
    assert sorted(shared.event_keys) == sorted(f"event:{n}" for n in range(10))


async def test_concurrent_run_once_never_delivers_twice(db, clock, notifier) -> None:
    for n in range(20):
        await queue(notifier, f"event:{n}")
    shared = RecordingChatChannel()
    workers = [worker(shared, clock, batch=20) for _ in range(3)]

    results = await asyncio.gather(*(w.run_once() for w in workers))

    assert sum(results) == 20
    assert sorted(shared.event_keys) == sorted(f"event:{n}" for n in range(20))


async def test_stale_claim_of_a_crashed_worker_is_taken_over(db, chat, clock, notifier) -> None:
    await queue(notifier, "k")
    # a worker claimed it and died
    await Notification.filter(event_key="k").update(
        status=NotificationStatus.SENDING,
        attempts=1,
        claimed_until=clock.now + timedelta(seconds=60),
    )
    w = worker(chat, clock)

    assert await w.run_once() == 0
    clock.advance(61)
    assert await w.run_once() == 1
    assert (await Notification.get()).attempts == 2


async def test_channels_without_a_sender_are_left_alone(db, chat, clock, notifier) -> None:
    await notifier.enqueue(
        event_key="sms", channel=NotificationChannel.SMS, recipient="254708374149", payload={}
    )

    assert await worker(chat, clock).run_once() == 0
    assert (await Notification.get()).status == NotificationStatus.PENDING
