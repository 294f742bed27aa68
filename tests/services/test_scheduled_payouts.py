"""Scheduled payouts: through the payout path, each occurrence paid once, limits of its own day."""

from __future__ import annotations

import asyncio
from datetime import time
from datetime import timedelta

import pytest

from bot.services.calendar import Frequency
from bot.services.calendar import Recurrence
from models import Notification
from models import NotificationChannel
from models import OccurrenceStatus
from models import Payout
from models import PayoutStatus
from models import ScheduleKind
from models import ScheduleOccurrence
from models import ScheduleStatus
from models import Staff
from models import StaffRole
from tests.helpers.clock import Clock
from tests.helpers.fakes import FakeDaraja
from tests.services.test_schedules import ADMIN
from tests.services.test_schedules import SECOND_ADMIN
from tests.services.test_schedules import WEDNESDAY_NOON
from tests.services.test_schedules import World
from tests.services.test_schedules import nairobi
from tests.services.test_schedules import process


@pytest.fixture
async def world(db, settings) -> World:
    clock = Clock(WEDNESDAY_NOON)
    daraja = FakeDaraja()
    await Staff.create(telegram_id=SECOND_ADMIN, role=StaffRole.ADMIN, name="Otieno")
    w = process(settings, clock, daraja)
    await w.services.staff.bootstrap_admins()
    w.clock, w.daraja, w.settings = clock, daraja, settings
    return w


async def wages(w: World, words: str, amount: str = "1500"):
    schedule = await w.schedules.create_in_chat(
        ScheduleKind.PAYOUT,
        "0708374149",
        amount,
        words.split(),
        by_telegram_id=ADMIN,
        chat_id=ADMIN,
    )
    return await w.schedules.confirm(schedule.id, by_telegram_id=ADMIN)


async def test_a_weekly_payout_across_a_restart_and_a_midnight_pays_each_occurrence_once(
    world: World,
) -> None:
    schedule = await wages(world, "weekly thu,fri 00:00 Wages")
    assert schedule.status == ScheduleStatus.ACTIVE

    world.clock.now = nairobi(2026, 11, 26, 0, 0, 20)
    await world.schedules.run_due()
    restarted = process(world.settings, world.clock, world.daraja)
    for seconds in (30, 60, 3600):
        world.clock.now = nairobi(2026, 11, 26, 0, 0) + timedelta(seconds=seconds)
        await restarted.schedules.run_due()
    world.clock.now = nairobi(2026, 11, 27, 0, 0, 5)
    await asyncio.gather(restarted.schedules.run_due(), world.schedules.run_due())

    payouts = await Payout.all().order_by("id")
    assert len(world.daraja.called("b2c_payment")) == 2
    assert [(p.amount, p.status) for p in payouts] == [(1500, PayoutStatus.SUBMITTED)] * 2
    # each reserved the limit of the day it ran
    assert [p.confirmed_at for p in payouts] == [
        nairobi(2026, 11, 26, 0, 0, 20),
        nairobi(2026, 11, 27, 0, 0, 5),
    ]
    rows = await ScheduleOccurrence.filter(schedule_id=schedule.id).order_by("due_at")
    assert [(o.status, o.payout_id) for o in rows] == [
        (OccurrenceStatus.RUNNING, payouts[0].id),
        (OccurrenceStatus.RUNNING, payouts[1].id),
    ]


async def test_an_occurrence_over_the_day_limit_fails_and_is_reported(world: World) -> None:
    limited = world.settings.model_copy(update={"staff_daily_payout_limit": 1000})
    w = process(limited, world.clock, world.daraja)
    schedule = await wages(w, "daily 13:00 Wages", amount="1500")

    world.clock.now = world.clock.now + timedelta(hours=1, seconds=5)
    report = await w.schedules.run_due()

    assert report.failed_to_start == 1
    occurrence = await ScheduleOccurrence.get(schedule_id=schedule.id)
    assert occurrence.status == OccurrenceStatus.FAILED
    assert "daily limit" in occurrence.note
    assert world.daraja.called("b2c_payment") == []


async def test_a_large_payout_schedule_is_approved_by_another_admin_then_pays(world: World) -> None:
    schedule = await world.schedules.create(
        ScheduleKind.PAYOUT,
        "0708374149",
        20_000,
        Recurrence(
            Frequency.ONCE,
            start=nairobi(2026, 11, 25, 15, 0).date(),
            at=time(15, 0),
        ),
        description="Supplier",
        actor="telegram:1001",
        created_by=await world.services.staff.require(ADMIN),
        created_via="chat",
    )
    waiting = await world.schedules.confirm(schedule.id, by_telegram_id=ADMIN)
    assert waiting.status == ScheduleStatus.AWAITING_APPROVAL
    await world.schedules.approve(schedule.id, by_telegram_id=SECOND_ADMIN)

    world.clock.now = nairobi(2026, 11, 25, 15, 0, 10)
    await world.schedules.run_due()

    payout = await Payout.get()
    assert (payout.amount, payout.approved_by_id) == (
        20_000,
        (await world.services.staff.require(SECOND_ADMIN)).id,
    )
    assert len(world.daraja.called("b2c_payment")) == 1


async def test_a_missed_payout_inside_the_grace_period_pays_once_when_the_service_is_back(
    world: World,
) -> None:
    schedule = await wages(world, "daily 09:00 Wages")

    world.clock.now = nairobi(2026, 11, 26, 9, 45)  # down from before 09:00 until 09:45
    await world.schedules.run_due()
    await world.schedules.run_due()

    payout = await Payout.get()
    rows = await ScheduleOccurrence.filter(schedule_id=schedule.id)
    assert [(o.status, o.payout_id) for o in rows] == [(OccurrenceStatus.RUNNING, payout.id)]
    assert len(world.daraja.called("b2c_payment")) == 1


async def test_a_missed_payout_outside_the_grace_period_never_sends_money_and_admins_are_told(
    world: World,
) -> None:
    schedule = await wages(world, "daily 09:00 Wages")

    world.clock.now = nairobi(2026, 11, 28, 9, 30)  # down two days; today's is within grace
    await world.schedules.run_due()
    await world.schedules.run_due()

    rows = await ScheduleOccurrence.filter(schedule_id=schedule.id).order_by("due_at")
    payout = await Payout.get()
    assert [(o.due_at, o.status, o.payout_id) for o in rows] == [
        (nairobi(2026, 11, 26, 9, 0), OccurrenceStatus.MISSED, None),
        (nairobi(2026, 11, 27, 9, 0), OccurrenceStatus.MISSED, None),
        (nairobi(2026, 11, 28, 9, 0), OccurrenceStatus.RUNNING, payout.id),
    ]
    assert len(world.daraja.called("b2c_payment")) == 1
    assert rows[0].note == "the service was not running at the time; found 2 days late"
    for missed in rows[:2]:
        told = await Notification.filter(event_key__startswith=f"occurrence:{missed.id}:missed")
        assert sorted(n.recipient for n in told if n.channel == NotificationChannel.CHAT) == [
            str(ADMIN),
            str(SECOND_ADMIN),
        ]


async def test_a_payout_recorded_due_but_never_started_is_missed_after_the_grace_period(
    world: World,
) -> None:
    schedule = await wages(world, "2026-11-26 09:00 Wages")
    world.clock.now = nairobi(2026, 11, 26, 9, 0, 10)
    # the occurrence is recorded, then the process dies before it starts the payout
    world.schedules.start_payout = None
    with pytest.raises(RuntimeError):
        await world.schedules.run_due()
    occurrence = await ScheduleOccurrence.get(schedule_id=schedule.id)
    assert occurrence.status == OccurrenceStatus.DUE

    restarted = process(world.settings, world.clock, world.daraja)
    world.clock.now = nairobi(2026, 11, 28, 9, 30)  # back two days later
    report = await restarted.schedules.run_due()

    occurrence = await ScheduleOccurrence.get(id=occurrence.id)
    assert (report.started, report.missed) == (0, 1)
    assert (occurrence.status, occurrence.payout_id) == (OccurrenceStatus.MISSED, None)
    assert occurrence.note == "the service was not running at the time; found 2 days late"
    assert world.daraja.called("b2c_payment") == []
    assert await Payout.all().count() == 0
    told = await Notification.filter(event_key__startswith=f"occurrence:{occurrence.id}:missed")
    assert sorted(n.recipient for n in told if n.channel == NotificationChannel.CHAT) == [
        str(ADMIN),
        str(SECOND_ADMIN),
    ]
