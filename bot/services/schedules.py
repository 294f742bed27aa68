"""Scheduled payouts and payment requests: created, confirmed, approved, paused... and run once.

Execution lives in the database. A due occurrence becomes a row keyed by (schedule, due time) in
the same transaction that moves the schedule's ``next_due_at`` on, by a conditional UPDATE on the
old value: whichever worker wins owns the occurrence, so it runs exactly once across restarts,
clock jumps and several instances. An occurrence found more than SCHEDULE_GRACE_S late (the
service was down) is recorded as missed and reported, never run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.notify.notifier import OutboxRow
from bot.services.audit import actor_for_telegram
from bot.services.audit import audit
from bot.services.calendar import CalendarError
from bot.services.calendar import Frequency
from bot.services.calendar import Recurrence
from bot.services.calendar import nairobi
from bot.services.calendar import parse_rule
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotAllowed
from bot.services.errors import NotFound
from bot.services.errors import ServiceError
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from bot.services.payout_rules import REMARKS_MAX
from bot.services.payout_rules import payout_route
from bot.services.payout_rules import payout_terms
from bot.services.payout_rules import request_amount
from bot.services.staff import StaffService
from models import NotificationChannel
from models import OccurrenceStatus
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import Schedule
from models import ScheduleKind
from models import ScheduleOccurrence
from models import ScheduleStatus
from models import Staff
from models import StaffRole
from mpesa.amounts import format_kes
from mpesa.phone import mask_msisdn

log = logging.getLogger(__name__)

LEASE_S = 300.0  # a worker starting an occurrence owns it this long (outlasts one Daraja call)
HISTORY_LIMIT = 20
SKIP_LIMIT = 1000  # occurrences recorded in one go after a long pause (daily for ~3 years)
ADMIN_ONLY = "Scheduled payouts are for admins."
PAYMENT_DONE = (PaymentStatus.PAID,)
# a payment under review is not settled until a person decides
PAYMENT_WAITING = (
    PaymentStatus.CREATED,
    PaymentStatus.PENDING,
    PaymentStatus.UNKNOWN,
    PaymentStatus.REVIEW,
)

# starts a scheduled payout: queues it (reserving today's limit) and sends it; returns the payout
StartPayout = Callable[[Schedule, ScheduleOccurrence], Awaitable[Payout]]


@dataclass(frozen=True)
class RunReport:
    """What one pass of the scheduler did."""

    started: int = 0
    missed: int = 0
    skipped: int = 0
    finished: int = 0
    notices: int = 0
    reminders: int = 0
    failed_to_start: int = 0

    def __bool__(self) -> bool:
        return any(vars(self).values())


def recurrence_of(schedule: Schedule) -> Recurrence:
    """The calendar rule a schedule row stores."""
    days = tuple(int(d) for d in schedule.weekdays.split(",") if d.strip())
    return Recurrence(
        Frequency(schedule.frequency),
        start=schedule.start_on,
        at=time(schedule.at_minute // 60, schedule.at_minute % 60),
        weekdays=days,
        month_day=schedule.month_day,
        until=schedule.until_on,
        count=schedule.max_count,
    )


def schedule_ref(schedule: Schedule | int) -> str:
    """How people name a schedule: "S7"."""
    return f"S{schedule if isinstance(schedule, int) else schedule.id}"


class ScheduleService:
    """Schedules on a calendar: the people's side (create, decide, change) and the runner."""

    def __init__(
        self,
        *,
        payments: Any,
        staff: StaffService,
        notifier: Notifier,
        settings: Settings,
        start_payout: StartPayout | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._payments = payments
        self._staff = staff
        self._notifier = notifier
        self._settings = settings
        self._clock = clock
        # set by the container (the payout path lives with bulk sending)
        self.start_payout = start_payout

    # -- creating ---------------------------------------------------------------------------

    async def create_in_chat(
        self,
        kind: ScheduleKind,
        raw_phone: str,
        raw_amount: str,
        words: list[str],
        *,
        by_telegram_id: int,
        chat_id: int | None,
    ) -> Schedule:
        """/schedule pay|request <phone> <amount> <when> [reason]: record it for confirmation."""
        staff = await self._require(by_telegram_id, kind, "schedule.create")
        actor = actor_for_telegram(by_telegram_id)
        try:
            parsed = parse_rule(words, now=self._clock())
        except CalendarError as exc:
            refusal = InvalidInput(str(exc), field="when")
            await audit(actor, "schedule.create", outcome="refused", reason=str(refusal))
            raise refusal from None
        return await self.create(
            kind,
            raw_phone,
            raw_amount,
            parsed.recurrence,
            description=" ".join(parsed.rest),
            actor=actor,
            created_by=staff,
            created_via="chat",
            chat_id=chat_id,
        )

    async def create(
        self,
        kind: ScheduleKind,
        raw_phone: str,
        raw_amount: str | int,
        recurrence: Recurrence,
        *,
        description: str = "",
        name: str = "",
        actor: str,
        created_by: Staff | None,
        created_via: str,
        chat_id: int | None = None,
    ) -> Schedule:
        """Record a schedule after the /send (or /request) rules; it waits for a Confirm.

        A payment request made through the API starts at once (no money leaves the shop).
        """
        try:
            msisdn, amount, description = self._terms(kind, raw_phone, raw_amount, description)
            first = recurrence.first_at_or_after(self._clock())
            if first is None:
                raise InvalidInput(_no_occurrence(recurrence), field="when")
        except ServiceError as exc:
            await audit(actor, "schedule.create", outcome="refused", reason=str(exc))
            raise
        start_now = kind is ScheduleKind.PAYMENT_REQUEST and created_by is None
        async with in_transaction():
            schedule = await Schedule.create(
                kind=kind,
                status=ScheduleStatus.ACTIVE if start_now else ScheduleStatus.AWAITING_CONFIRMATION,
                msisdn=msisdn,
                amount=amount,
                name=" ".join(name.split())[:128],
                description=description,
                frequency=recurrence.frequency,
                start_on=recurrence.start,
                at_minute=recurrence.at.hour * 60 + recurrence.at.minute,
                weekdays=",".join(str(d) for d in recurrence.weekdays),
                month_day=recurrence.month_day,
                until_on=recurrence.until,
                max_count=recurrence.count,
                next_due_at=first if start_now else None,
                created_by=created_by,
                created_via=created_via,
                needs_approval=self._needs_approval(kind, amount),
                chat_id=chat_id,
            )
            await audit(
                actor,
                "schedule.create",
                subject=f"schedule:{schedule.id}",
                kind=kind.value,
                amount=amount,
                msisdn=mask_msisdn(msisdn),
                rule=recurrence.describe(),
            )
            if not start_now and created_by is None:
                # an API key never releases money: an admin confirms in the chat
                await self._notifier.write(await self._event_rows(schedule, "schedule_review"))
        log.info(
            "schedule.created schedule=%s kind=%s amount=%s first=%s",
            schedule.id,
            kind.value,
            amount,
            first.isoformat(),
        )
        return schedule

    def _terms(
        self, kind: ScheduleKind, raw_phone: str, raw_amount: str | int, description: str
    ) -> tuple[str, int, str]:
        if kind is ScheduleKind.PAYOUT:
            terms = payout_terms(raw_phone, raw_amount, description, settings=self._settings)
            return terms.msisdn, terms.amount, terms.remarks
        routed = payout_route(raw_phone, settings=self._settings)
        msisdn = routed.msisdn
        amount = request_amount(raw_amount, settings=self._settings, provider=routed.provider)
        text = " ".join((description or "").split())
        if len(text) > REMARKS_MAX:
            raise InvalidInput(
                f"The description is longer than {REMARKS_MAX} characters.", field="description"
            )
        return msisdn, amount, text or "Scheduled payment"

    def _needs_approval(self, kind: ScheduleKind, amount: int) -> bool:
        # the rule of /send, applied to the amount each occurrence pays
        return kind is ScheduleKind.PAYOUT and amount > self._settings.payout_approval_threshold

    # -- deciding ---------------------------------------------------------------------------

    async def confirm(self, schedule_id: int, *, by_telegram_id: int) -> Schedule:
        """The creator's Confirm (any admin's for one made through the API)."""
        schedule = await self.get(schedule_id)
        staff = await self._require(by_telegram_id, schedule.kind, "schedule.confirm")
        actor = actor_for_telegram(by_telegram_id)
        subject = f"schedule:{schedule.id}"
        if schedule.created_by_id is not None and schedule.created_by_id != staff.id:
            raise await _refused(
                actor,
                "schedule.confirm",
                subject,
                NotAllowed("Only the person who made this schedule can confirm it."),
            )
        if schedule.needs_approval:
            async with in_transaction():
                won = await Schedule.filter(
                    id=schedule.id,
                    status=ScheduleStatus.AWAITING_CONFIRMATION,
                    version=schedule.version,
                ).update(status=ScheduleStatus.AWAITING_APPROVAL, confirmed_by_id=staff.id)
                if not won:
                    raise await _refused(
                        actor, "schedule.confirm", subject, Conflict(await self._state(schedule.id))
                    )
                await audit(actor, "schedule.confirm", subject=subject, status="awaiting_approval")
                schedule = await Schedule.get(id=schedule.id)
                await self._notifier.write(
                    await self._event_rows(schedule, "schedule_approval", skip=(staff.telegram_id,))
                )
            return schedule
        return await self._activate(
            schedule,
            source=ScheduleStatus.AWAITING_CONFIRMATION,
            actor=actor,
            action="schedule.confirm",
            changes={"confirmed_by_id": staff.id},
        )

    # confirm, approve, reject, pause and cancel look alike on purpose: each names its states and
    # who it records; the conditional move itself is _activate's or _move's
    async def approve(self, schedule_id: int, *, by_telegram_id: int) -> Schedule:
        """A second admin approves a schedule whose payouts are above the threshold."""
        schedule = await self.get(schedule_id)
        staff = await self._staff.require(
            by_telegram_id, StaffRole.ADMIN, action="schedule.approve"
        )
        actor = actor_for_telegram(by_telegram_id)
        if staff.id in (schedule.created_by_id, schedule.confirmed_by_id):
            raise await _refused(
                actor,
                "schedule.approve",
                f"schedule:{schedule.id}",
                NotAllowed("You asked for this schedule; another admin must approve it."),
            )
        return await self._activate(
            schedule,
            source=ScheduleStatus.AWAITING_APPROVAL,
            actor=actor,
            action="schedule.approve",
            changes={"approved_by_id": staff.id},
        )

    async def reject(self, schedule_id: int, *, by_telegram_id: int) -> Schedule:
        """An admin refuses a schedule waiting for approval; nothing will run."""
        schedule = await self.get(schedule_id)
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="schedule.reject")
        return await self._move(
            schedule,
            sources=(ScheduleStatus.AWAITING_APPROVAL,),
            wanted=ScheduleStatus.REJECTED,
            actor=actor_for_telegram(by_telegram_id),
            action="schedule.reject",
            changes={"rejected_by_id": staff.id, "next_due_at": None},
        )

    async def pause(self, schedule_id: int, *, by_telegram_id: int) -> Schedule:
        """No occurrence runs until resumed (those that fall due meanwhile are skipped)."""
        schedule = await self.get(schedule_id)
        await self._require(by_telegram_id, schedule.kind, "schedule.pause")
        return await self._move(
            schedule,
            sources=(ScheduleStatus.ACTIVE,),
            wanted=ScheduleStatus.PAUSED,
            actor=actor_for_telegram(by_telegram_id),
            action="schedule.pause",
        )

    async def resume(self, schedule_id: int, *, by_telegram_id: int) -> Schedule:
        """Run again from the next due time; occurrences that fell due while paused are skipped."""
        schedule = await self.get(schedule_id)
        await self._require(by_telegram_id, schedule.kind, "schedule.resume")
        actor = actor_for_telegram(by_telegram_id)
        won = await Schedule.filter(id=schedule.id, status=ScheduleStatus.PAUSED).update(
            status=ScheduleStatus.ACTIVE
        )
        if not won:
            raise await _refused(
                actor,
                "schedule.resume",
                f"schedule:{schedule.id}",
                Conflict(await self._state(schedule.id)),
            )
        await self._skip_through(schedule.id, self._clock(), note="paused at the time")
        await audit(actor, "schedule.resume", subject=f"schedule:{schedule.id}")
        return await Schedule.get(id=schedule.id)

    async def skip_next(self, schedule_id: int, *, by_telegram_id: int) -> ScheduleOccurrence:
        """Skip the next occurrence (recorded as skipped); the one after runs as usual."""
        schedule = await self.get(schedule_id)
        await self._require(by_telegram_id, schedule.kind, "schedule.skip")
        actor = actor_for_telegram(by_telegram_id)
        subject = f"schedule:{schedule.id}"
        if ScheduleStatus(schedule.status) not in (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED):
            raise await _refused(
                actor, "schedule.skip", subject, Conflict(await self._state(schedule.id))
            )
        if schedule.next_due_at is None:
            raise await _refused(
                actor,
                "schedule.skip",
                subject,
                Conflict(f"{schedule_ref(schedule)} has no next time."),
            )
        occurrence = await self._occur(
            schedule, schedule.next_due_at, OccurrenceStatus.SKIPPED, note=f"skipped by {actor}"
        )
        if occurrence is None:
            raise await _refused(
                actor,
                "schedule.skip",
                subject,
                Conflict("That occurrence has just started; nothing was skipped."),
            )
        await audit(actor, "schedule.skip", subject=subject, due_at=occurrence.due_at.isoformat())
        return occurrence

    async def cancel(self, schedule_id: int, *, by_telegram_id: int) -> Schedule:
        """Stop the schedule for good (an occurrence already started still settles)."""
        schedule = await self.get(schedule_id)
        staff = await self._require(by_telegram_id, schedule.kind, "schedule.cancel")
        return await self._cancel(
            schedule, actor=actor_for_telegram(by_telegram_id), cancelled_by_id=staff.id
        )

    async def cancel_from_api(self, schedule_id: int, *, actor: str) -> Schedule:
        """An API key stops a schedule made through the API, as /schedule cancel does.

        One made (or changed) in the chat belongs to its admin or cashier: an API key may not
        stop someone's wages, as a cashier may not in the chat.
        """
        schedule = await self.get(schedule_id)
        if schedule.created_by_id is not None:
            ref = schedule_ref(schedule)
            raise await _refused(
                actor,
                "schedule.cancel",
                f"schedule:{schedule.id}",
                NotAllowed(f"{ref} was made in the chat; cancel it there: /schedule cancel {ref}"),
            )
        return await self._cancel(schedule, actor=actor, cancelled_by_id=None)

    async def _cancel(
        self, schedule: Schedule, *, actor: str, cancelled_by_id: int | None
    ) -> Schedule:
        """Cancel a schedule that is not over yet; Conflict (its state) when it is."""
        won = await Schedule.filter(
            id=schedule.id, status__not_in=[s.value for s in _FINAL]
        ).update(status=ScheduleStatus.CANCELLED, cancelled_by_id=cancelled_by_id, next_due_at=None)
        subject = f"schedule:{schedule.id}"
        if not won:
            state = (await self._state(schedule.id)).removesuffix(".")
            refusal = Conflict(f"{state}; there is nothing left to cancel.")
            raise await _refused(actor, "schedule.cancel", subject, refusal)
        await audit(actor, "schedule.cancel", subject=subject)
        log.info("schedule.cancelled schedule=%s by=%s", schedule.id, actor)
        return await Schedule.get(id=schedule.id)

    async def change_amount(
        self, schedule_id: int, raw_amount: str | int, *, by_telegram_id: int
    ) -> Schedule:
        """A new amount: the schedule waits for a Confirm (and approval) again before running."""
        schedule = await self.get(schedule_id)
        staff = await self._require(by_telegram_id, schedule.kind, "schedule.change")
        actor = actor_for_telegram(by_telegram_id)
        subject = f"schedule:{schedule.id}"
        try:
            _, amount, _ = self._terms(
                ScheduleKind(schedule.kind), schedule.msisdn, raw_amount, schedule.description
            )
        except ServiceError as exc:
            raise await _refused(actor, "schedule.change", subject, exc) from None
        won = await Schedule.filter(
            id=schedule.id,
            version=schedule.version,
            status__in=[
                ScheduleStatus.AWAITING_CONFIRMATION,
                ScheduleStatus.AWAITING_APPROVAL,
                ScheduleStatus.ACTIVE,
                ScheduleStatus.PAUSED,
            ],
        ).update(
            amount=amount,
            status=ScheduleStatus.AWAITING_CONFIRMATION,
            version=schedule.version + 1,
            needs_approval=self._needs_approval(ScheduleKind(schedule.kind), amount),
            next_due_at=None,
            created_by_id=staff.id,
            confirmed_by_id=None,
            approved_by_id=None,
        )
        if not won:
            raise await _refused(
                actor, "schedule.change", subject, Conflict(await self._state(schedule.id))
            )
        await audit(actor, "schedule.change", subject=subject, old=schedule.amount, new=amount)
        return await Schedule.get(id=schedule.id)

    # -- reading ----------------------------------------------------------------------------

    async def get(self, schedule_id: int) -> Schedule:
        """The schedule, or NotFound."""
        schedule = await Schedule.get_or_none(id=schedule_id)
        if schedule is None:
            raise NotFound(f"There is no schedule {schedule_ref(schedule_id)}.")
        return schedule

    async def find(self, ref: str) -> Schedule:
        """A schedule by "7", "#7" or "S7"."""
        text = (ref or "").strip().lstrip("#").upper().removeprefix("S")
        if not text.isdigit() or len(text) > 9:
            raise InvalidInput(f"{(ref or '').strip() or 'Nothing'} is not a schedule, e.g. S7.")
        return await self.get(int(text))

    async def history(
        self, schedule_id: int, *, limit: int = HISTORY_LIMIT
    ) -> list[ScheduleOccurrence]:
        """The latest occurrences, newest first, with their payouts and payments."""
        query = ScheduleOccurrence.filter(schedule_id=schedule_id).order_by("-due_at").limit(limit)
        return await query.prefetch_related("payout", "payment")

    async def active(self, *, limit: int = 30) -> list[Schedule]:
        """Schedules that are running, paused or waiting for a decision, next due first."""
        return (
            await Schedule.filter(status__not_in=[s.value for s in _FINAL])
            .order_by("next_due_at", "id")
            .limit(limit)
        )

    # -- running ----------------------------------------------------------------------------

    async def run_due(self, *, limit: int = 50) -> RunReport:
        """One pass: record due occurrences, start them, settle finished ones, send notices."""
        now = self._clock()
        missed, made = await self._advance(now, limit=limit)
        started, failed, late = await self._start_due(now, limit=limit)
        missed += late
        finished = await self._finish(limit=limit)
        notices, reminders = await self._look_ahead(now, limit=limit)
        report = RunReport(
            started=started,
            missed=missed,
            finished=finished,
            notices=notices,
            reminders=reminders,
            failed_to_start=failed,
        )
        if report:
            log.info("schedule.pass %s made=%d", report, made)
        return report

    async def _advance(self, now: datetime, *, limit: int) -> tuple[int, int]:
        """Record an occurrence for every due time up to now: due (within grace) or missed."""
        grace = timedelta(seconds=self._settings.schedule_grace_s)
        due_ids = (
            await Schedule.filter(status=ScheduleStatus.ACTIVE, next_due_at__lte=now)
            .order_by("next_due_at")
            .limit(limit)
            .values_list("id", flat=True)
        )
        missed = made = 0
        for schedule_id in due_ids:
            for _ in range(SKIP_LIMIT):
                schedule = await Schedule.get(id=schedule_id)
                if schedule.status != ScheduleStatus.ACTIVE or schedule.next_due_at is None:
                    break
                due = schedule.next_due_at
                if due > now:
                    break
                if now - due > grace:
                    occurrence = await self._occur(
                        schedule, due, OccurrenceStatus.MISSED, note=_missed_note(now - due)
                    )
                    missed += occurrence is not None
                else:
                    occurrence = await self._occur(schedule, due, OccurrenceStatus.DUE)
                made += occurrence is not None
        return missed, made

    async def _occur(
        self, schedule: Schedule, due: datetime, status: OccurrenceStatus, *, note: str = ""
    ) -> ScheduleOccurrence | None:
        """Record the occurrence at ``due`` and move the calendar on, both or neither.

        None when another worker did it first (its conditional update or insert won).
        """
        rule = recurrence_of(schedule)
        number = schedule.occurrence_count + 1
        following = None if rule.is_last(number) else rule.next_after(due)
        changes: dict[str, Any] = {"next_due_at": following, "occurrence_count": number}
        if following is None:
            changes["status"] = ScheduleStatus.FINISHED
        try:
            async with in_transaction():
                won = await Schedule.filter(
                    id=schedule.id,
                    next_due_at=due,
                    status__in=[ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED],
                ).update(**changes)
                if not won:
                    raise _Lost
                occurrence = await ScheduleOccurrence.create(
                    schedule_id=schedule.id,
                    due_at=due,
                    number=number,
                    status=status,
                    note=note[:255],
                    finished_at=self._clock() if status.is_final else None,
                )
                await audit(
                    "system",
                    f"schedule.{status.value}",
                    subject=f"schedule:{schedule.id}",
                    occurrence=occurrence.id,
                    due_at=due.isoformat(),
                )
                if status is OccurrenceStatus.MISSED:
                    await self._notifier.write(await self._occurrence_rows(schedule, occurrence))
        except (_Lost, IntegrityError):
            log.info("schedule.occurrence_taken schedule=%s due=%s", schedule.id, due.isoformat())
            return None
        log.info(
            "schedule.occurrence schedule=%s due=%s status=%s",
            schedule.id,
            due.isoformat(),
            status.value,
        )
        return occurrence

    async def _skip_through(self, schedule_id: int, now: datetime, *, note: str) -> int:
        """Record every occurrence due up to ``now`` as skipped (after a pause or a change)."""
        skipped = 0
        for _ in range(SKIP_LIMIT):
            schedule = await Schedule.get(id=schedule_id)
            if schedule.next_due_at is None or schedule.next_due_at > now:
                break
            done = await self._occur(
                schedule, schedule.next_due_at, OccurrenceStatus.SKIPPED, note=note
            )
            skipped += done is not None
        return skipped

    async def _start_due(self, now: datetime, *, limit: int) -> tuple[int, int, int]:
        """Start every due occurrence nobody else is starting: (started, failed, missed).

        One recorded in time but not started then (the process died) and found beyond the grace
        period is missed like the rest, never run late.
        """
        grace = timedelta(seconds=self._settings.schedule_grace_s)
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        candidates = (
            await ScheduleOccurrence.filter(free, status=OccurrenceStatus.DUE)
            .order_by("due_at")
            .limit(limit)
            .values_list("id", flat=True)
        )
        started = failed = missed = 0
        for occurrence_id in candidates:
            won = await ScheduleOccurrence.filter(
                free, id=occurrence_id, status=OccurrenceStatus.DUE
            ).update(claimed_until=now + timedelta(seconds=LEASE_S))
            if not won:
                continue  # another worker holds it
            occurrence = await ScheduleOccurrence.get(id=occurrence_id)
            schedule = await Schedule.get(id=occurrence.schedule_id)
            if now - occurrence.due_at > grace and not await self._push_recorded(
                schedule, occurrence
            ):
                missed += await self._miss(schedule, occurrence, now - occurrence.due_at)
                continue
            try:
                if ScheduleKind(schedule.kind) is ScheduleKind.PAYOUT:
                    await self._start_payout(schedule, occurrence)
                else:
                    await self._start_payment(schedule, occurrence)
                started += 1
            except ServiceError as exc:
                failed += 1
                await self._fail(schedule, occurrence, str(exc))
        return started, failed, missed

    async def _push_recorded(self, schedule: Schedule, occurrence: ScheduleOccurrence) -> bool:
        """Whether a payment request's push was recorded before a crash (it is linked, not lost).

        A scheduled payout is written with its link to the occurrence in one transaction, so a
        due occurrence of a payout never has one.
        """
        if ScheduleKind(schedule.kind) is ScheduleKind.PAYOUT:
            return False
        via = f"schedule:{schedule.id}:{occurrence.id}"
        return await Payment.filter(initiated_via=via).exists()

    async def _miss(
        self, schedule: Schedule, occurrence: ScheduleOccurrence, late: timedelta
    ) -> bool:
        """A due occurrence found beyond the grace period: recorded missed and reported."""
        note = _missed_note(late)
        async with in_transaction():
            won = await ScheduleOccurrence.filter(
                id=occurrence.id, status=OccurrenceStatus.DUE
            ).update(
                status=OccurrenceStatus.MISSED,
                note=note,
                finished_at=self._clock(),
                claimed_until=None,
            )
            if not won:
                return False
            occurrence = await ScheduleOccurrence.get(id=occurrence.id)
            await audit(
                "system",
                "schedule.missed",
                subject=f"schedule:{schedule.id}",
                occurrence=occurrence.id,
                due_at=occurrence.due_at.isoformat(),
            )
            await self._notifier.write(await self._occurrence_rows(schedule, occurrence))
        log.warning(
            "schedule.missed_late schedule=%s occurrence=%s late_s=%d",
            schedule.id,
            occurrence.id,
            late.total_seconds(),
        )
        return True

    async def _start_payment(self, schedule: Schedule, occurrence: ScheduleOccurrence) -> None:
        """The STK Push of a scheduled payment request (found again if we crashed after it)."""
        via = f"schedule:{schedule.id}:{occurrence.id}"
        payment = await Payment.filter(initiated_via=via).first()
        if payment is None:
            creator = (
                await Staff.get_or_none(id=schedule.created_by_id)
                if schedule.created_by_id
                else None
            )
            payment = await self._payments.request_payment(
                schedule.msisdn,
                schedule.amount,
                initiator=creator,
                actor=f"schedule:{schedule.id}",
                description=schedule.description,
                chat_id=schedule.chat_id,
                via=via,
            )
        await ScheduleOccurrence.filter(id=occurrence.id, status=OccurrenceStatus.DUE).update(
            status=OccurrenceStatus.RUNNING,
            payment_id=payment.id,
            started_at=self._clock(),
            claimed_until=None,
        )

    async def _start_payout(self, schedule: Schedule, occurrence: ScheduleOccurrence) -> None:
        """The payout of a scheduled payout, through the payout path (limit reserved today)."""
        if self.start_payout is None:
            raise RuntimeError("scheduled payouts need the payout path (start_payout) wired")
        await self.start_payout(schedule, occurrence)

    # the conditional-update idiom (won, re-read, audit, notify), like BulkSender's batch close:
    # other rows, other rules
    async def _fail(self, schedule: Schedule, occurrence: ScheduleOccurrence, reason: str) -> None:
        """An occurrence that could not start (limit, busy phone, bad settings): reported."""
        async with in_transaction():
            won = await ScheduleOccurrence.filter(
                id=occurrence.id, status=OccurrenceStatus.DUE
            ).update(
                status=OccurrenceStatus.FAILED,
                note=reason[:255],
                finished_at=self._clock(),
                claimed_until=None,
            )
            if not won:
                return
            occurrence = await ScheduleOccurrence.get(id=occurrence.id)
            await audit(
                "system",
                "schedule.failed",
                subject=f"schedule:{schedule.id}",
                occurrence=occurrence.id,
                reason=reason,
            )
            await self._notifier.write(await self._occurrence_rows(schedule, occurrence))
        log.warning(
            "schedule.start_failed schedule=%s occurrence=%s reason=%s",
            schedule.id,
            occurrence.id,
            reason,
        )

    async def _finish(self, *, limit: int) -> int:
        """Running occurrences whose payout or payment settled: succeeded or failed, reported."""
        running = (
            await ScheduleOccurrence.filter(status=OccurrenceStatus.RUNNING)
            .order_by("due_at")
            .limit(limit * 4)
            .prefetch_related("payout", "payment")
        )
        finished = 0
        for occurrence in running:
            outcome = _outcome(occurrence)
            if outcome is None:
                continue
            status, note = outcome
            async with in_transaction():
                won = await ScheduleOccurrence.filter(
                    id=occurrence.id, status=OccurrenceStatus.RUNNING
                ).update(status=status, note=note[:255], finished_at=self._clock())
                if not won:
                    continue
                occurrence = await ScheduleOccurrence.get(id=occurrence.id)
                schedule = await Schedule.get(id=occurrence.schedule_id)
                await audit(
                    "system",
                    f"schedule.{status.value}",
                    subject=f"schedule:{schedule.id}",
                    occurrence=occurrence.id,
                )
                await self._notifier.write(await self._occurrence_rows(schedule, occurrence))
            finished += 1
        return finished

    async def _look_ahead(self, now: datetime, *, limit: int) -> tuple[int, int]:
        """The customer's SMS before a payment request; the admins' reminder before large ones."""
        notices = reminders = 0
        notice_by = now + timedelta(seconds=self._settings.schedule_notice_before_s)
        remind_by = now + timedelta(seconds=self._settings.schedule_reminder_before_s)
        horizon = max(notice_by, remind_by)
        upcoming = (
            await Schedule.filter(
                status=ScheduleStatus.ACTIVE, next_due_at__gt=now, next_due_at__lte=horizon
            )
            .order_by("next_due_at")
            .limit(limit)
        )
        for schedule in upcoming:
            due = schedule.next_due_at
            assert due is not None
            sms_due = (
                schedule.kind == ScheduleKind.PAYMENT_REQUEST
                and due <= notice_by
                and self._notifier.sms_enabled
                and (schedule.noticed_due_at is None or schedule.noticed_due_at < due)
            )
            if sms_due:
                async with in_transaction():
                    won = await Schedule.filter(
                        Q(noticed_due_at__isnull=True) | Q(noticed_due_at__lt=due),
                        id=schedule.id,
                        next_due_at=due,
                    ).update(noticed_due_at=due)
                    if won:
                        await self._notifier.write([self._notice_row(schedule, due)])
                        notices += 1
            large = schedule.amount >= self._settings.schedule_reminder_min_amount
            remind = (
                large
                and due <= remind_by
                and (schedule.reminded_due_at is None or schedule.reminded_due_at < due)
            )
            if remind:
                async with in_transaction():
                    won = await Schedule.filter(
                        Q(reminded_due_at__isnull=True) | Q(reminded_due_at__lt=due),
                        id=schedule.id,
                        next_due_at=due,
                    ).update(reminded_due_at=due)
                    if won:
                        await self._notifier.write(
                            await self._event_rows(schedule, "schedule_reminder", due=due)
                        )
                        reminders += 1
        return notices, reminders

    # -- helpers ----------------------------------------------------------------------------

    async def _activate(
        self,
        schedule: Schedule,
        *,
        source: ScheduleStatus,
        actor: str,
        action: str,
        changes: dict[str, Any],
    ) -> Schedule:
        """Start the calendar from now: the next due time at or after this moment."""
        subject = f"schedule:{schedule.id}"
        rule = recurrence_of(schedule)
        now = self._clock()
        first = rule.first_at_or_after(now)
        if schedule.occurrence_count and first is not None:
            # a changed schedule continues after its last occurrence, never repeats it
            last = (
                await ScheduleOccurrence.filter(schedule_id=schedule.id).order_by("-due_at").first()
            )
            if last is not None and first <= last.due_at:
                first = rule.next_after(last.due_at)
        if first is None or (
            schedule.max_count is not None and schedule.occurrence_count >= schedule.max_count
        ):
            raise await _refused(
                actor,
                action,
                subject,
                Conflict(
                    f"{schedule_ref(schedule)} has no time left to run: {_no_occurrence(rule)}"
                ),
            )
        async with in_transaction():
            won = await Schedule.filter(
                id=schedule.id, status=source, version=schedule.version
            ).update(status=ScheduleStatus.ACTIVE, next_due_at=first, **changes)
            if not won:
                raise await _refused(
                    actor, action, subject, Conflict(await self._state(schedule.id))
                )
            await audit(actor, action, subject=subject, status="active", first=first.isoformat())
        log.info("schedule.active schedule=%s next=%s", schedule.id, first.isoformat())
        return await Schedule.get(id=schedule.id)

    async def _move(
        self,
        schedule: Schedule,
        *,
        sources: tuple[ScheduleStatus, ...],
        wanted: ScheduleStatus,
        actor: str,
        action: str,
        changes: dict[str, Any] | None = None,
    ) -> Schedule:
        won = await Schedule.filter(id=schedule.id, status__in=list(sources)).update(
            status=wanted, **(changes or {})
        )
        subject = f"schedule:{schedule.id}"
        if not won:
            raise await _refused(actor, action, subject, Conflict(await self._state(schedule.id)))
        await audit(actor, action, subject=subject)
        return await Schedule.get(id=schedule.id)

    async def _require(self, telegram_id: int, kind: ScheduleKind | str, action: str) -> Staff:
        if ScheduleKind(kind) is ScheduleKind.PAYOUT:
            staff = await self._staff.require(
                telegram_id, StaffRole.ADMIN, StaffRole.CASHIER, action=action
            )
            if staff.role is not StaffRole.ADMIN:
                await audit(
                    actor_for_telegram(telegram_id),
                    "access.refused",
                    subject=action,
                    outcome="refused",
                )
                raise NotAllowed(ADMIN_ONLY)
            return staff
        return await self._staff.require(
            telegram_id, StaffRole.ADMIN, StaffRole.CASHIER, action=action
        )

    async def _state(self, schedule_id: int) -> str:
        schedule = await Schedule.get(id=schedule_id)
        status = ScheduleStatus(schedule.status).value.replace("_", " ")
        return f"{schedule_ref(schedule)} is {status}."

    async def _event_rows(
        self,
        schedule: Schedule,
        event: str,
        *,
        skip: tuple[int, ...] = (),
        due: datetime | None = None,
    ) -> list[OutboxRow]:
        """One chat event per active admin about this schedule (approvals, reviews, reminders)."""
        extra = f":{int(due.timestamp())}" if due is not None else ""
        payload: dict[str, Any] = {"event": event, "schedule_id": schedule.id}
        if due is not None:
            payload["due_at"] = due.isoformat()
        return [
            OutboxRow(
                f"schedule:{schedule.id}:v{schedule.version}:{event}{extra}:admin:{admin_id}",
                NotificationChannel.CHAT,
                str(admin_id),
                payload,
            )
            for admin_id in await self._notifier.admin_ids()
            if admin_id not in skip
        ]

    async def _occurrence_rows(
        self, schedule: Schedule, occurrence: ScheduleOccurrence
    ) -> list[OutboxRow]:
        """The summary after an occurrence: to the schedule's chat and to every admin."""
        recipients = dict.fromkeys(
            [*([schedule.chat_id] if schedule.chat_id else []), *await self._notifier.admin_ids()]
        )
        payload = {"event": "schedule_occurrence", "occurrence_id": occurrence.id}
        status = OccurrenceStatus(occurrence.status).value
        rows = [
            OutboxRow(
                f"occurrence:{occurrence.id}:{status}:chat:{chat}",
                NotificationChannel.CHAT,
                str(chat),
                payload,
            )
            for chat in recipients
        ]
        rows += self._notifier.webhook_rows(
            f"occurrence:{occurrence.id}:{status}",
            f"schedule.occurrence.{status}",
            {
                "scheduleId": schedule.id,
                "occurrenceId": occurrence.id,
                "kind": ScheduleKind(schedule.kind).value,
                "dueAt": occurrence.due_at.isoformat(),
                "status": status,
                "amount": schedule.amount,
                "phoneNumber": mask_msisdn(schedule.msisdn),
                "payoutId": occurrence.payout_id,
                "paymentId": occurrence.payment_id,
                "note": occurrence.note,
            },
        )
        return rows

    def _notice_row(self, schedule: Schedule, due: datetime) -> OutboxRow:
        text = (
            f"{self._settings.business_name}: on {nairobi(due)} your phone will ask you to pay "
            f"{format_kes(schedule.amount)} for {schedule.description} by M-Pesa. Enter your PIN "
            "when asked."
        )
        return OutboxRow(
            f"schedule:{schedule.id}:notice:{int(due.timestamp())}:sms",
            NotificationChannel.SMS,
            schedule.msisdn,
            {"text": text},
        )


class _Lost(Exception):
    """Another worker moved the schedule first."""


_FINAL = (ScheduleStatus.FINISHED, ScheduleStatus.CANCELLED, ScheduleStatus.REJECTED)


def _outcome(occurrence: ScheduleOccurrence) -> tuple[OccurrenceStatus, str] | None:
    """How a running occurrence ended, or None while its money is still on its way."""
    payout: Payout | None = occurrence.payout
    payment: Payment | None = occurrence.payment
    if payout is not None:
        status = PayoutStatus(payout.status)
        if status is PayoutStatus.COMPLETED:
            return OccurrenceStatus.SUCCEEDED, f"paid, receipt {payout.receipt or '-'}"
        if status.is_final:
            return OccurrenceStatus.FAILED, payout.result_desc or status.value
        return None
    if payment is not None:
        status = PaymentStatus(payment.status)
        if status in PAYMENT_DONE:
            return OccurrenceStatus.SUCCEEDED, f"paid, receipt {payment.receipt or '-'}"
        if status in PAYMENT_WAITING:
            return None
        return OccurrenceStatus.FAILED, payment.result_desc or status.value.replace("_", " ")
    return None


def _no_occurrence(rule: Recurrence) -> str:
    if rule.frequency is Frequency.ONCE:
        return f"{rule.describe()} is already past; pick a time in the future."
    return f"{rule.describe()} has no occurrence left."


def _missed_note(late: timedelta) -> str:
    """Why an occurrence found ``late`` beyond the grace period was missed, never run."""
    return f"the service was not running at the time; found {_duration(late)} late"


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"


async def _refused(actor: str, action: str, subject: str, exc: ServiceError) -> ServiceError:
    await audit(actor, action, subject=subject, outcome="refused", reason=str(exc))
    return exc
