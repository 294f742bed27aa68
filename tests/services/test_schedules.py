"""Schedules: each occurrence runs once across restarts, midnights, clock jumps and two workers."""

from __future__ import annotations

import asyncio
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from types import SimpleNamespace

import pytest

from bot.notify.channels import RecordingChatChannel
from bot.services.calendar import Frequency
from bot.services.calendar import Recurrence
from bot.services.container import build_services
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotAllowed
from models import Notification
from models import NotificationChannel
from models import OccurrenceStatus
from models import Payment
from models import PaymentStatus
from models import Schedule
from models import ScheduleKind
from models import ScheduleOccurrence
from models import ScheduleStatus
from models import Staff
from models import StaffRole
from mpesa.security import NAIROBI
from tests.helpers.clock import Clock
from tests.helpers.fakes import FakeDaraja

ADMIN, CASHIER, SECOND_ADMIN = 1001, 2001, 1002


def nairobi(*args: int) -> datetime:
    return datetime(*args, tzinfo=NAIROBI).astimezone(UTC)


WEDNESDAY_NOON = nairobi(2026, 11, 25, 12, 0)


class World(SimpleNamespace):
    """One process: its services over the shared test database, a clock and a fake Daraja."""


def process(settings, clock: Clock, daraja: FakeDaraja) -> World:
    """A fresh set of services, as a restarted (or second) instance would build them."""
    sms = RecordingChatChannel()
    services = build_services(
        settings,
        daraja=daraja,
        channels={NotificationChannel.CHAT: RecordingChatChannel(), NotificationChannel.SMS: sms},
        clock=clock,
    )
    return World(services=services, schedules=services.schedules, sms=sms)


@pytest.fixture
async def world(db, settings) -> World:
    clock = Clock(WEDNESDAY_NOON)
    daraja = FakeDaraja()
    await Staff.create(telegram_id=CASHIER, role=StaffRole.CASHIER, name="Mary")
    await Staff.create(telegram_id=SECOND_ADMIN, role=StaffRole.ADMIN, name="Otieno")
    w = process(settings, clock, daraja)
    await w.services.staff.bootstrap_admins()
    w.clock, w.daraja, w.settings = clock, daraja, settings
    return w


async def rent_request(w: World, words: str, *, by: int = CASHIER) -> Schedule:
    """A scheduled STK payment request made in the chat and confirmed by its maker."""
    schedule = await w.schedules.create_in_chat(
        ScheduleKind.PAYMENT_REQUEST,
        "0708374149",
        "1500",
        words.split(),
        by_telegram_id=by,
        chat_id=by,
    )
    return await w.schedules.confirm(schedule.id, by_telegram_id=by)


async def settle_pushes(w: World) -> None:
    """The customers pay every open push (as their callbacks would report)."""
    await Payment.filter(status=PaymentStatus.PENDING).update(
        status=PaymentStatus.PAID, in_flight_msisdn=None, in_flight_order_id=None
    )


async def occurrences(schedule: Schedule) -> list[tuple[datetime, OccurrenceStatus, int | None]]:
    rows = await ScheduleOccurrence.filter(schedule_id=schedule.id).order_by("due_at")
    return [(o.due_at, OccurrenceStatus(o.status), o.payment_id) for o in rows]


async def test_a_weekly_schedule_across_a_restart_and_a_midnight_runs_each_occurrence_once(
    world: World,
) -> None:
    # Thursday and Friday at 00:00 Nairobi: each occurrence falls right on a midnight
    schedule = await rent_request(world, "weekly thu,fri 00:00 Rent")
    assert schedule.next_due_at == nairobi(2026, 11, 26, 0, 0)

    world.clock.now = nairobi(2026, 11, 25, 23, 59, 59)
    early = await world.schedules.run_due()
    assert (early.started, early.missed, early.notices) == (0, 0, 1)  # only the customer's SMS
    world.clock.now = nairobi(2026, 11, 26, 0, 0, 20)
    await world.schedules.run_due()
    await settle_pushes(world)

    # the process restarts (new services, same database) a few seconds later, then runs on
    restarted = process(world.settings, world.clock, world.daraja)
    for seconds in (30, 60, 3600):
        world.clock.now = nairobi(2026, 11, 26, 0, 0) + timedelta(seconds=seconds)
        await restarted.schedules.run_due()
    world.clock.now = nairobi(2026, 11, 27, 0, 0, 5)
    await restarted.schedules.run_due()
    await settle_pushes(world)
    await restarted.schedules.run_due()

    found = await occurrences(schedule)
    assert [(due, status) for due, status, _ in found] == [
        (nairobi(2026, 11, 26, 0, 0), OccurrenceStatus.SUCCEEDED),
        (nairobi(2026, 11, 27, 0, 0), OccurrenceStatus.SUCCEEDED),
    ]
    assert len(world.daraja.called("stk_push")) == 2
    assert len({payment for _, _, payment in found}) == 2
    assert (await Schedule.get(id=schedule.id)).next_due_at == nairobi(2026, 12, 3, 0, 0)


async def test_two_instances_running_at_once_start_each_occurrence_once(world: World) -> None:
    schedule = await rent_request(world, "daily 09:00 Rent")
    other = process(world.settings, world.clock, world.daraja)
    world.clock.now = nairobi(2026, 11, 26, 9, 0, 1)

    await asyncio.gather(
        world.schedules.run_due(), other.schedules.run_due(), world.schedules.run_due()
    )

    assert [status for _, status, _ in await occurrences(schedule)] == [OccurrenceStatus.RUNNING]
    assert len(world.daraja.called("stk_push")) == 1


async def test_the_clock_jumping_back_never_runs_an_occurrence_again(world: World) -> None:
    schedule = await rent_request(world, "daily 09:00 Rent")
    world.clock.now = nairobi(2026, 11, 26, 9, 0, 30)
    await world.schedules.run_due()
    await settle_pushes(world)

    world.clock.now = nairobi(2026, 11, 26, 8, 55)  # the host's clock is set back
    await world.schedules.run_due()
    world.clock.now = nairobi(2026, 11, 26, 9, 0, 30)
    await world.schedules.run_due()

    assert len(await occurrences(schedule)) == 1
    assert len(world.daraja.called("stk_push")) == 1


async def test_a_missed_occurrence_inside_the_grace_period_runs_when_the_service_is_back(
    world: World,
) -> None:
    schedule = await rent_request(world, "daily 09:00 Rent")

    world.clock.now = nairobi(2026, 11, 26, 9, 45)  # down from before 09:00 until 09:45
    await world.schedules.run_due()

    assert [status for _, status, _ in await occurrences(schedule)] == [OccurrenceStatus.RUNNING]
    assert len(world.daraja.called("stk_push")) == 1


async def test_a_missed_occurrence_outside_the_grace_period_is_reported_never_run(
    world: World,
) -> None:
    schedule = await rent_request(world, "daily 09:00 Rent")

    world.clock.now = nairobi(2026, 11, 28, 9, 30)  # down two days; today's is within grace
    await world.schedules.run_due()
    await world.schedules.run_due()

    found = await occurrences(schedule)
    assert [(due, status) for due, status, _ in found] == [
        (nairobi(2026, 11, 26, 9, 0), OccurrenceStatus.MISSED),
        (nairobi(2026, 11, 27, 9, 0), OccurrenceStatus.MISSED),
        (nairobi(2026, 11, 28, 9, 0), OccurrenceStatus.RUNNING),
    ]
    assert len(world.daraja.called("stk_push")) == 1
    missed = await ScheduleOccurrence.filter(status=OccurrenceStatus.MISSED).order_by("due_at")
    assert missed[0].note == "the service was not running at the time; found 2 days late"
    told = await Notification.filter(event_key__startswith=f"occurrence:{missed[0].id}:missed")
    assert sorted(n.recipient for n in told) == sorted(
        {str(CASHIER), str(ADMIN), str(SECOND_ADMIN)}
    )


async def test_a_crash_after_the_push_was_recorded_links_it_instead_of_pushing_again(
    world: World,
) -> None:
    schedule = await rent_request(world, "daily 09:00 Rent")
    world.daraja.queue("stk_push", RuntimeError("the process died here"))
    world.clock.now = nairobi(2026, 11, 26, 9, 0, 10)
    with pytest.raises(RuntimeError):
        await world.schedules.run_due()
    assert await Payment.all().count() == 1

    restarted = process(world.settings, world.clock, world.daraja)
    await restarted.schedules.run_due()  # the dead worker's lease still runs: nothing happens
    world.clock.advance(301)
    await restarted.schedules.run_due()

    found = await occurrences(schedule)
    payment = await Payment.get()
    assert [(status, payment_id) for _, status, payment_id in found] == [
        (OccurrenceStatus.RUNNING, payment.id)
    ]
    assert len(world.daraja.called("stk_push")) == 1


async def test_a_failed_request_is_reported_with_its_reason(world: World) -> None:
    schedule = await rent_request(world, "2026-11-26 09:00 Rent")
    world.clock.now = nairobi(2026, 11, 26, 9, 0, 10)
    await world.schedules.run_due()
    await Payment.filter().update(
        status=PaymentStatus.CANCELLED,
        result_desc="Request cancelled by user",
        in_flight_msisdn=None,
    )

    await world.schedules.run_due()

    occurrence = await ScheduleOccurrence.get(schedule_id=schedule.id)
    assert (occurrence.status, occurrence.note) == (
        OccurrenceStatus.FAILED,
        "Request cancelled by user",
    )
    assert (await Schedule.get(id=schedule.id)).status == ScheduleStatus.FINISHED
    keys = await Notification.filter(event_key__startswith=f"occurrence:{occurrence.id}:failed")
    assert len(keys) == 3  # the maker's chat and both admins


async def test_a_count_ends_the_schedule(world: World) -> None:
    schedule = await rent_request(world, "daily 09:00 2 times Lunch")

    for day in (26, 27, 28, 29):
        world.clock.now = nairobi(2026, 11, day, 9, 0, 5)
        await world.schedules.run_due()
        await settle_pushes(world)
        await world.schedules.run_due()

    assert len(await occurrences(schedule)) == 2
    finished = await Schedule.get(id=schedule.id)
    assert (finished.status, finished.next_due_at) == (ScheduleStatus.FINISHED, None)


async def test_pause_skips_what_falls_due_and_resume_runs_the_next(world: World) -> None:
    schedule = await rent_request(world, "daily 09:00 Rent")
    await world.schedules.pause(schedule.id, by_telegram_id=CASHIER)

    world.clock.now = nairobi(2026, 11, 27, 10, 0)
    await world.schedules.run_due()
    assert await occurrences(schedule) == []
    await world.schedules.resume(schedule.id, by_telegram_id=CASHIER)
    world.clock.now = nairobi(2026, 11, 28, 9, 0, 5)
    await world.schedules.run_due()

    found = await occurrences(schedule)
    assert [(due, status) for due, status, _ in found] == [
        (nairobi(2026, 11, 26, 9, 0), OccurrenceStatus.SKIPPED),
        (nairobi(2026, 11, 27, 9, 0), OccurrenceStatus.SKIPPED),
        (nairobi(2026, 11, 28, 9, 0), OccurrenceStatus.RUNNING),
    ]
    assert len(world.daraja.called("stk_push")) == 1


async def test_skip_next_and_cancel(world: World) -> None:
    schedule = await rent_request(world, "weekly fri 17:00 Rent")

    skipped = await world.schedules.skip_next(schedule.id, by_telegram_id=CASHIER)
    cancelled = await world.schedules.cancel(schedule.id, by_telegram_id=ADMIN)
    world.clock.now = nairobi(2026, 12, 4, 17, 0, 5)
    await world.schedules.run_due()

    assert (skipped.due_at, skipped.status) == (
        nairobi(2026, 11, 27, 17, 0),
        OccurrenceStatus.SKIPPED,
    )
    assert (cancelled.status, cancelled.next_due_at) == (ScheduleStatus.CANCELLED, None)
    assert world.daraja.called("stk_push") == []
    with pytest.raises(Conflict) as caught:
        await world.schedules.resume(schedule.id, by_telegram_id=CASHIER)
    assert str(caught.value) == f"S{schedule.id} is cancelled."


async def test_the_customer_is_told_by_sms_the_day_before_once(world: World) -> None:
    schedule = await rent_request(world, "monthly 1 09:00 Rent")

    world.clock.now = nairobi(2026, 11, 30, 9, 30)
    await world.schedules.run_due()
    await world.schedules.run_due()

    sms = await Notification.filter(channel=NotificationChannel.SMS)
    assert [(n.recipient, n.payload["text"]) for n in sms] == [
        (
            "254708374149",
            "Household Planet Kenya: on Tue 1 Dec 2026 09:00 your phone will ask you to pay "
            "KES 1,500 for Rent by M-Pesa. Enter your PIN when asked.",
        )
    ]
    assert (await Schedule.get(id=schedule.id)).noticed_due_at == nairobi(2026, 12, 1, 9, 0)


@pytest.mark.parametrize(
    ("kind", "raw_phone", "when", "error", "reason"),
    [
        pytest.param(
            ScheduleKind.PAYMENT_REQUEST,
            "0733123456",
            ["daily", "09:00"],
            InvalidInput,
            "0733123456 is an Airtel number; M-Pesa needs Safaricom",
            id="request-to-an-airtel-number",  # the rules of /request
        ),
        pytest.param(
            ScheduleKind.PAYMENT_REQUEST,
            "0708374149",
            ["2026-11-01", "09:00"],
            InvalidInput,
            "once, on 1 Nov 2026 at 09:00 is already past; pick a time in the future.",
            id="request-in-the-past",
        ),
        pytest.param(
            ScheduleKind.PAYOUT,
            "0708374149",
            ["daily", "09:00"],
            NotAllowed,
            "Scheduled payouts are for admins.",
            id="payout-by-a-cashier",
        ),
    ],
)
async def test_a_cashiers_schedule_is_refused_with_its_reason(
    world: World, kind, raw_phone, when, error, reason
) -> None:
    with pytest.raises(error) as caught:
        await world.schedules.create_in_chat(
            kind, raw_phone, "100", when, by_telegram_id=CASHIER, chat_id=CASHIER
        )

    assert str(caught.value) == reason


async def test_a_large_payout_schedule_needs_a_second_admin_and_never_the_requester(
    world: World,
) -> None:
    schedule = await world.schedules.create(
        ScheduleKind.PAYOUT,
        "0708374149",
        20_000,
        Recurrence(Frequency.WEEKLY, start=date(2026, 11, 25), at=time(17, 0), weekdays=(4,)),
        description="Wages",
        actor="tg:1001",
        created_by=await Staff.get(telegram_id=ADMIN),
        created_via="chat",
        chat_id=ADMIN,
    )

    waiting = await world.schedules.confirm(schedule.id, by_telegram_id=ADMIN)
    with pytest.raises(NotAllowed):
        await world.schedules.approve(schedule.id, by_telegram_id=ADMIN)
    active = await world.schedules.approve(schedule.id, by_telegram_id=SECOND_ADMIN)
    changed = await world.schedules.change_amount(schedule.id, "25,000", by_telegram_id=ADMIN)

    assert waiting.status == ScheduleStatus.AWAITING_APPROVAL
    assert (active.status, active.next_due_at) == (
        ScheduleStatus.ACTIVE,
        nairobi(2026, 11, 27, 17, 0),
    )
    assert (changed.status, changed.amount, changed.next_due_at, changed.version) == (
        ScheduleStatus.AWAITING_CONFIRMATION,
        25_000,
        None,
        2,
    )
    approvals = await Notification.filter(event_key__contains=":schedule_approval:")
    assert [n.recipient for n in approvals] == [str(SECOND_ADMIN)]


async def test_a_push_recorded_before_a_crash_is_linked_even_when_found_past_the_grace_period(
    world: World,
) -> None:
    schedule = await rent_request(world, "2026-11-26 09:00 Rent")
    world.daraja.queue("stk_push", RuntimeError("the process died here"))
    world.clock.now = nairobi(2026, 11, 26, 9, 0, 10)
    with pytest.raises(RuntimeError):
        await world.schedules.run_due()

    restarted = process(world.settings, world.clock, world.daraja)
    world.clock.now = nairobi(2026, 11, 28, 9, 30)  # back two days later
    await restarted.schedules.run_due()

    payment = await Payment.get()
    assert [(status, payment_id) for _, status, payment_id in await occurrences(schedule)] == [
        (OccurrenceStatus.RUNNING, payment.id)
    ]
    assert len(world.daraja.called("stk_push")) == 1
