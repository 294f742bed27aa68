"""Sending confirmed batches: paced, one money intent per row, shared by every instance.

The pace lives in the database (``PayoutBatch.next_send_at``): a worker takes the next sending
slot with a conditional UPDATE on its old value, then claims the batch's next queued row in one
transaction that checks the batch is still sending, marks the row sent and moves its payout to
``submitting`` under this worker's lease. Only then is the payout POSTed, once, through the
payout path of /send (claim -> mark sending -> POST -> record; unknown -> Transaction Status).
Two instances never send one row; a crash leaves either a queued row (sent later, at the pace)
or a held payout the reconciler treats like any other (never sent: sent with the same id;
sending: unknown, asked about). A throttled POST (spike arrest, 429: refused before anything
happened) goes back to the queue and the batch slows down for Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.notify.notifier import Notifier
from bot.notify.notifier import OutboxRow
from bot.services.audit import audit
from bot.services.bulk import BatchCounts
from bot.services.bulk import batch_ref
from bot.services.bulk import counts_of_values
from bot.services.bulk_decisions import WAITING
from bot.services.bulk_decisions import progress_rows
from bot.services.bulk_rows import csv_document
from bot.services.errors import NotAllowed
from bot.services.errors import ServiceError
from bot.services.intents import Lease
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from bot.services.payout_rules import payout_route
from bot.services.payouts import PayoutService
from models import BatchRowStatus
from models import BatchStatus
from models import NotificationChannel
from models import OccurrenceStatus
from models import Payout
from models import PayoutBatch
from models import PayoutBatchRow
from models import PayoutStatus
from models import PostState
from models import Provider
from models import Schedule
from models import ScheduleOccurrence
from models import Staff
from mpesa.phone import mask_msisdn

log = logging.getLogger(__name__)

PASS_S = 20.0  # one sending pass claims slots this long, then waits for its rows in flight
MAX_IN_FLIGHT = 32  # rows of this process whose POST has not ended yet
PROGRESS_EVERY_S = 3.0  # the live message is edited at most this often per batch
SLOWEST_PER_S = 0.2  # a throttled batch never slows below one row every 5 s
RECOVERY = 1.1  # each row sent after a throttle brings the pace 10 % back up
ROW_TRIES = 5  # queued rows tried per slot when other instances took the first ones
SENDING = (BatchStatus.SENDING, BatchStatus.PAUSED, BatchStatus.CANCELLED)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class SendReport:
    """What one pass did: rows handed to the payout path, throttles, batches finished."""

    sent: int = 0
    throttled: int = 0
    finished: int = 0


class BulkSender:
    """Paces confirmed batches onto the payout path and tells how they are doing."""

    def __init__(
        self,
        *,
        payouts: PayoutService,
        notifier: Notifier,
        pace_per_s: float,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
        max_in_flight: int = MAX_IN_FLIGHT,
        progress_every_s: float = PROGRESS_EVERY_S,
    ) -> None:
        self._payouts = payouts
        self._notifier = notifier
        self._pace = pace_per_s
        self._clock = clock
        self._sleep = sleep
        self._max_in_flight = max_in_flight
        self._progress_every_s = progress_every_s
        self._shown_at: dict[int, float] = {}  # batch id -> when this process last showed it
        self._throttled = 0

    # -- the pass ---------------------------------------------------------------------------

    async def run_once(self, *, budget_s: float = PASS_S) -> SendReport:
        """Send rows of every sending batch at its pace for up to ``budget_s``, then wait for
        the rows in flight; finish batches whose rows all settled."""
        deadline = time.monotonic() + budget_s
        slots = asyncio.Semaphore(self._max_in_flight)
        sent = 0
        self._throttled = 0
        async with asyncio.TaskGroup() as group:
            while time.monotonic() < deadline:
                await self.report_progress()  # throttled per batch
                await slots.acquire()
                claimed = await self._claim_next()
                if isinstance(claimed, tuple):
                    payout, lease = claimed
                    sent += 1
                    group.create_task(self._send_row(payout, lease, slots))
                    continue
                slots.release()
                if claimed is None:
                    break  # nothing is sending anywhere
                await self._sleep(min(claimed, max(deadline - time.monotonic(), 0.0)))
        finished = await self.settle_batches()
        self._shown_at.clear()
        await self.report_progress()
        return SendReport(sent=sent, throttled=self._throttled, finished=finished)

    async def _send_row(self, payout: Payout, lease: Lease, slots: asyncio.Semaphore) -> None:
        try:
            if payout.provider == Provider.AIRTEL and self._payouts.airtel is not None:
                if not await self._airtel_recipient_ok(payout):
                    return
                payout = await Payout.get(id=payout.id)
            await self._payouts.send_held(payout, lease, rate_limited=self._requeue)
        except Exception:
            # the row stays held: once its lease lapses the reconciler settles it
            log.exception("bulk.row_failed payout=%s", payout.id)
        finally:
            slots.release()

    async def _airtel_recipient_ok(self, payout: Payout) -> bool:
        """Airtel's KYC before the disbursement: a number that cannot receive fails unsent."""
        airtel = self._payouts.airtel
        assert airtel is not None
        try:
            user = await airtel.recipient(payout.msisdn)
        except ServiceError as exc:
            await self._payouts.results.settle_failed(
                payout,
                code=None,
                desc=str(exc),
                actor="system",
                post={"claimed_by": None, "claimed_until": None},
            )
            return False
        if user.name:
            await Payout.filter(id=payout.id).update(receiver_name=user.name[:128])
        return True

    async def _claim_next(self) -> tuple[Payout, Lease] | float | None:
        """The next row whose turn has come (claimed), the seconds until one comes, or None."""
        now = self._clock()
        batches = (
            await PayoutBatch.filter(status=BatchStatus.SENDING)
            .order_by("next_send_at", "id")
            .limit(20)
        )
        if not batches:
            return None
        wait: float | None = None
        for batch in batches:
            if not await PayoutBatchRow.exists(batch_id=batch.id, status=BatchRowStatus.QUEUED):
                continue  # its last rows are in flight: settle_batches finishes it
            at = batch.next_send_at or now
            if at > now:
                seconds = (at - now).total_seconds()
                wait = seconds if wait is None else min(wait, seconds)
                continue
            if not await self._take_slot(batch, now):
                wait = 0.0  # another instance took this slot: look again at once
                continue
            claimed = await self._claim_row(batch, now)
            if claimed is not None:
                return claimed
            wait = 0.0  # other instances took the rows we tried: look again at once
        return wait

    async def _take_slot(self, batch: PayoutBatch, now: datetime) -> bool:
        """Move the batch's next sending moment on by one interval, if nobody else did."""
        pace = batch.pace_per_s or self._pace
        interval = timedelta(seconds=1.0 / pace)
        old = batch.next_send_at
        # a batch that waited (restart, pause) starts from now: no burst of missed slots
        base = max(old, now - interval) if old is not None else now
        query = PayoutBatch.filter(id=batch.id, status=BatchStatus.SENDING)
        query = (
            query.filter(next_send_at=old)
            if old is not None
            else query.filter(next_send_at__isnull=True)
        )
        recovered = min(pace * RECOVERY, self._pace) if batch.pace_per_s else None
        return bool(await query.update(next_send_at=base + interval, pace_per_s=recovered))

    async def _claim_row(self, batch: PayoutBatch, now: datetime) -> tuple[Payout, Lease] | None:
        """Claim the batch's first queued row and hold its payout for sending, both or neither."""
        for _ in range(ROW_TRIES):
            row = (
                await PayoutBatchRow.filter(batch_id=batch.id, status=BatchRowStatus.QUEUED)
                .order_by("line")
                .first()
            )
            if row is None or row.payout_id is None:
                return None
            holder = self._payouts.intents.new_holder()
            async with in_transaction():
                # the batch row first: a Cancel or Pause committing meanwhile stops this row
                still = await PayoutBatch.filter(id=batch.id, status=BatchStatus.SENDING).update(
                    updated_at=now
                )
                if not still:
                    return None
                took = await PayoutBatchRow.filter(id=row.id, status=BatchRowStatus.QUEUED).update(
                    status=BatchRowStatus.SENT
                )
                if took:
                    held = await Payout.filter(
                        id=row.payout_id, status=WAITING, post_state=PostState.NOT_SENT
                    ).update(
                        status=PayoutStatus.SUBMITTING,
                        **self._payouts.sending_fields(now, holder),
                    )
                    if held:
                        payout = await Payout.get(id=row.payout_id)
                        return payout, self._payouts.intents.lease_for(payout, holder)
                    # its payout was decided elsewhere (cancelled): the row is not sent
                    await PayoutBatchRow.filter(id=row.id).update(status=BatchRowStatus.CANCELLED)
        return None

    async def _requeue(self, payout: Payout, lease: Lease, retry_after_s: float) -> None:
        """Spike arrest / 429: the row goes back to the queue and its batch slows down."""
        self._throttled += 1
        now = self._clock()
        row = await PayoutBatchRow.get_or_none(payout_id=payout.id)
        async with in_transaction():
            back = await Payout.filter(
                id=payout.id, status=PayoutStatus.SUBMITTING, claimed_by=lease.holder
            ).update(status=WAITING, next_query_at=None, **self._payouts.intents.not_sent())
            if not back or row is None:
                return
            await PayoutBatchRow.filter(id=row.id, status=BatchRowStatus.SENT).update(
                status=BatchRowStatus.QUEUED
            )
            batch = await PayoutBatch.get(id=row.batch_id)
            pace = max((batch.pace_per_s or self._pace) / 2, SLOWEST_PER_S)
            resume_at = now + timedelta(seconds=retry_after_s)
            await PayoutBatch.filter(
                Q(next_send_at__isnull=True) | Q(next_send_at__lt=resume_at), id=batch.id
            ).update(next_send_at=resume_at)
            await PayoutBatch.filter(id=batch.id).update(pace_per_s=pace)
            await audit(
                "system",
                "bulk.throttled",
                subject=f"batch:{batch.id}",
                payout=payout.id,
                retry_after_s=retry_after_s,
                pace_per_s=pace,
            )
        log.warning(
            "bulk.throttled batch=%s payout=%s retry_after_s=%s pace_per_s=%.2f",
            row.batch_id,
            payout.id,
            retry_after_s,
            pace,
        )

    # -- telling and finishing --------------------------------------------------------------

    async def report_progress(self) -> int:
        """Edit the live message of every unsettled batch whose counts changed, at most every
        ``progress_every_s`` per batch in this process (the text is read when delivered)."""
        shown = 0
        batches = await PayoutBatch.filter(
            status__in=list(SENDING), settled_at__isnull=True, chat_id__isnull=False
        )
        for batch in batches:
            last = self._shown_at.get(batch.id)
            if last is not None and time.monotonic() - last < self._progress_every_s:
                continue
            self._shown_at[batch.id] = time.monotonic()
            counts = await batch_counts(batch.id)
            key = counts.key()
            if key == batch.progress_key:
                continue
            async with in_transaction():
                won = await PayoutBatch.filter(id=batch.id, progress_key=batch.progress_key).update(
                    progress_key=key
                )
                if won:
                    await self._notifier.write(progress_rows(batch, key))
                    shown += 1
        return shown

    async def settle_batches(self) -> int:
        """Batches whose rows all reached a final state: completed, told, webhook sent."""
        finished = 0
        batches = await PayoutBatch.filter(status__in=list(SENDING), settled_at__isnull=True)
        for batch in batches:
            counts = await batch_counts(batch.id)
            done = counts.queued == 0 and counts.sending + counts.submitted + counts.unknown == 0
            if BatchStatus(batch.status) is BatchStatus.PAUSED or not done:
                continue
            status = (
                BatchStatus.COMPLETED
                if BatchStatus(batch.status) is BatchStatus.SENDING
                else BatchStatus(batch.status)
            )
            async with in_transaction():
                won = await PayoutBatch.filter(
                    id=batch.id, status=batch.status, settled_at__isnull=True
                ).update(status=status, settled_at=self._clock(), progress_key=counts.key())
                if not won:
                    continue
                batch = await PayoutBatch.get(id=batch.id)
                await audit(
                    "system",
                    "bulk.completed",
                    subject=f"batch:{batch.id}",
                    completed=counts.completed,
                    failed=counts.failed,
                    paid=counts.paid_amount,
                )
                await self._notifier.write(self._finished_rows(batch, counts))
            finished += 1
            log.info(
                "bulk.completed batch=%s completed=%d failed=%d paid=%d",
                batch.id,
                counts.completed,
                counts.failed,
                counts.paid_amount,
            )
        return finished

    def _finished_rows(self, batch: PayoutBatch, counts: BatchCounts) -> list[OutboxRow]:
        rows = progress_rows(batch, "done")
        if batch.chat_id is not None:
            rows.append(
                OutboxRow(
                    f"batch:{batch.id}:done:chat:{batch.chat_id}",
                    NotificationChannel.CHAT,
                    str(batch.chat_id),
                    {"event": "batch_done", "batch_id": batch.id},
                )
            )
        rows += self._notifier.webhook_rows(
            f"batch:{batch.id}:completed",
            "payout_batch.completed",
            {
                "batchId": batch.id,
                "status": BatchStatus(batch.status).value,
                "description": batch.description,
                "counts": counts_json(counts),
                "totalAmount": batch.total_amount,
                "paidAmount": counts.paid_amount,
            },
        )
        return rows

    # -- scheduled payouts ------------------------------------------------------------------

    async def start_scheduled_payout(
        self, schedule: Schedule, occurrence: ScheduleOccurrence
    ) -> Payout:
        """A scheduled payout's occurrence: reserve the day's limit, record, then send once.

        The payout and the occurrence's link to it are written in one transaction, so a crash
        after it leaves a held payout the reconciler sends (never sent) or asks about.
        """
        staff_id = schedule.confirmed_by_id or schedule.created_by_id
        staff = await Staff.get_or_none(id=staff_id) if staff_id else None
        if staff is None or not staff.active:
            raise NotAllowed("The admin who confirmed this schedule is no longer on the staff.")
        now = self._clock()
        holder = self._payouts.intents.new_holder()
        provider = _provider_of(self._payouts, schedule.msisdn)
        async with in_transaction():
            await Staff.select_for_update().get(id=staff.id)
            await self._payouts.check_daily_limit(
                staff, schedule.amount, now, what=f"Scheduled payout S{schedule.id}"
            )
            payout = await Payout.create(
                provider=provider,
                originator_conversation_id=self._payouts.new_key(provider),
                msisdn=schedule.msisdn,
                amount=schedule.amount,
                remarks=schedule.description[:100] or "Scheduled payout",
                receiver_name=schedule.name or None,
                status=PayoutStatus.SUBMITTING,
                initiated_by_id=staff.id,
                confirmed_by_id=schedule.confirmed_by_id,
                approved_by_id=schedule.approved_by_id,
                confirmed_at=now,
                needs_approval=schedule.needs_approval,
                created_at=now,
                **self._payouts.sending_fields(now, holder),
            )
            linked = await ScheduleOccurrence.filter(
                id=occurrence.id, status=OccurrenceStatus.DUE
            ).update(
                status=OccurrenceStatus.RUNNING,
                payout_id=payout.id,
                started_at=now,
                claimed_until=None,
            )
            if not linked:
                raise _Taken
            await audit(
                f"schedule:{schedule.id}",
                "payout.create",
                subject=f"payout:{payout.id}",
                amount=payout.amount,
                msisdn=mask_msisdn(payout.msisdn),
                occurrence=occurrence.id,
            )
        lease = self._payouts.intents.lease_for(payout, holder)
        airtel = provider is Provider.AIRTEL and self._payouts.airtel is not None
        if airtel and not await self._airtel_recipient_ok(payout):
            return await Payout.get(id=payout.id)
        return await self._payouts.send_held(payout, lease)


class _Taken(ServiceError):
    """Another worker started this occurrence first."""


def _provider_of(payouts: PayoutService, msisdn: str) -> Provider:
    return payout_route(msisdn, settings=payouts.settings).provider


async def batch_counts(batch_id: int) -> BatchCounts:
    """Where a batch's rows stand, counted in the database (no rows loaded)."""
    values = await PayoutBatchRow.filter(batch_id=batch_id).values(
        "status", "payout__status", "payout__amount"
    )
    return counts_of_values(values)


def counts_json(counts: BatchCounts) -> dict[str, int]:
    """The API's (and webhook's) counts object."""
    return {
        "rows": counts.total_rows,
        "valid": counts.valid,
        "rejected": counts.rejected,
        "queued": counts.queued,
        "sending": counts.sending,
        "submitted": counts.submitted,
        "completed": counts.completed,
        "failed": counts.failed,
        "unknown": counts.unknown,
        "cancelled": counts.cancelled,
        "paidAmount": counts.paid_amount,
    }


def result_csv_rows(rows: list[PayoutBatchRow]) -> bytes:
    """The result file: every row with its status, receipt, the name M-Pesa reports (flagged
    when it does not match the file's) and the result text."""
    header = (
        "line",
        "phone",
        "amount",
        "name",
        "reference",
        "status",
        "receipt",
        "recipient_name",
        "name_check",
        "result",
        "payout",
    )
    out = []
    for row in rows:
        payout: Payout | None = row.payout
        status = row_status(row)
        reported = payout.receiver_name if payout is not None else None
        check = name_check(row.name, reported) if payout is not None else ""
        result = row.error or (payout.result_desc if payout is not None else "") or ""
        out.append(
            (
                row.line,
                row.raw_phone,
                row.amount if row.amount is not None else row.raw_amount,
                row.name,
                row.reference,
                status,
                payout.receipt if payout is not None else "",
                reported or "",
                check,
                result,
                f"P{payout.id}" if payout is not None else "",
            )
        )
    return csv_document(header, out)


def row_status(row: PayoutBatchRow) -> str:
    """A row's state in one word: rejected, queued, cancelled, or its payout's status."""
    status = BatchRowStatus(row.status)
    payout: Payout | None = row.payout
    if status is BatchRowStatus.SENT and payout is not None:
        value = PayoutStatus(payout.status)
        return "sending" if value is PayoutStatus.SUBMITTING else value.value
    return status.value


def name_check(file_name: str, reported: str | None) -> str:
    """ "ok" when the name M-Pesa reports shares a word with the file's, "differs" when not,
    "" when either is missing."""
    mine = _words(file_name)
    theirs = _words(reported or "")
    if not mine or not theirs:
        return ""
    return "ok" if mine & theirs else "differs"


def _words(text: str) -> set[str]:
    cleaned = "".join(ch if ch.isalpha() else " " for ch in text.casefold())
    return {word for word in cleaned.split() if len(word) >= 2}


__all__ = ["BulkSender", "SendReport", "batch_counts", "batch_ref", "result_csv_rows"]
