"""What people decide about a bulk batch: Confirm, Approve, Reject, Pause, Resume, Cancel, Retry.

Confirm reserves the whole batch against the confirming admin's daily limit in one transaction
(their staff row locked, like /send): each valid row becomes a payout there and then, counted on
that Nairobi day, waiting for its turn (``awaiting_approval`` until the pacer claims it). A batch
at or above PAYOUT_APPROVAL_THRESHOLD then waits for a second admin, never the requester.
Cancelling frees the rows not sent yet (their reservation with them); rows in flight finish.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tortoise.transactions import in_transaction

from bot.notify.notifier import Notifier
from bot.notify.notifier import OutboxRow
from bot.services.audit import actor_for_telegram
from bot.services.audit import audit
from bot.services.bulk import BatchSummary
from bot.services.bulk import BulkService
from bot.services.bulk import batch_event_rows
from bot.services.bulk import batch_ref
from bot.services.bulk_files import BulkFile
from bot.services.bulk_files import RawRow
from bot.services.bulk_rows import check_rows
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import LimitExceeded
from bot.services.errors import NotAllowed
from bot.services.errors import ServiceError
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from bot.services.payout_rules import payout_route
from bot.services.payouts import PayoutService
from bot.services.staff import StaffService
from models import BatchRowStatus
from models import BatchStatus
from models import NotificationChannel
from models import Payout
from models import PayoutBatch
from models import PayoutBatchRow
from models import PayoutStatus
from models import PostState
from models import Staff
from models import StaffRole
from mpesa.amounts import format_kes

log = logging.getLogger(__name__)

# a row's payout before its turn: reserved (counted on the confirmation day), not sendable
WAITING = PayoutStatus.AWAITING_APPROVAL
OPEN = (
    BatchStatus.AWAITING_CONFIRMATION,
    BatchStatus.AWAITING_APPROVAL,
    BatchStatus.SENDING,
    BatchStatus.PAUSED,
)


class BatchDecisions:
    """Confirm, approve, reject, pause, resume, cancel and retry batches; one rule set for the
    chat, the API and the dashboard."""

    def __init__(
        self,
        *,
        bulk: BulkService,
        payouts: PayoutService,
        staff: StaffService,
        notifier: Notifier,
        clock: Clock = utcnow,
    ) -> None:
        self._bulk = bulk
        self._payouts = payouts
        self._staff = staff
        self._notifier = notifier
        self._clock = clock

    async def confirm(self, batch_id: int, *, by_telegram_id: int) -> PayoutBatch:
        """The requester's Confirm (any admin's for an API batch): reserves the total, then
        waits for approval or starts sending."""
        actor = actor_for_telegram(by_telegram_id)
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="bulk.confirm")
        batch = await self._bulk.get(batch_id)
        subject = f"batch:{batch.id}"
        if batch.created_by_id is not None and batch.created_by_id != staff.id:
            raise await _refused(
                actor,
                "bulk.confirm",
                subject,
                NotAllowed("Only the admin who uploaded this batch can confirm it."),
            )
        wanted = BatchStatus.AWAITING_APPROVAL if batch.needs_approval else BatchStatus.SENDING
        now = self._clock()
        try:
            async with in_transaction():
                # the staff row lock serialises this admin's reservations (like /send's Confirm)
                await Staff.select_for_update().get(id=staff.id)
                await self._payouts.check_daily_limit(
                    staff, batch.total_amount, now, what=f"Batch {batch_ref(batch)}"
                )
                won = await PayoutBatch.filter(
                    id=batch.id, status=BatchStatus.AWAITING_CONFIRMATION
                ).update(
                    status=wanted,
                    confirmed_by_id=staff.id,
                    confirmed_at=now,
                    next_send_at=now if wanted is BatchStatus.SENDING else None,
                )
                if not won:
                    raise Conflict(await self.state_sentence(batch.id))
                await self._reserve_rows(batch, staff, now)
                await audit(
                    actor,
                    "bulk.confirm",
                    subject=subject,
                    status=wanted.value,
                    total=batch.total_amount,
                    rows=batch.valid_count,
                )
                batch = await PayoutBatch.get(id=batch.id)
                if wanted is BatchStatus.AWAITING_APPROVAL:
                    await self._notifier.write(
                        await batch_event_rows(
                            self._notifier, batch, "batch_approval", skip=(staff.telegram_id,)
                        )
                    )
                await self._notifier.write(progress_rows(batch, "confirmed"))
        except (Conflict, LimitExceeded) as exc:
            raise await _refused(actor, "bulk.confirm", subject, exc) from None
        log.info("bulk.confirmed batch=%s status=%s", batch.id, wanted.value)
        return batch

    async def _reserve_rows(self, batch: PayoutBatch, staff: Staff, now) -> None:
        """One payout per queued row, each with its own idempotency key, waiting its turn."""
        settings = self._bulk.settings
        rows = await PayoutBatchRow.filter(batch_id=batch.id, status=BatchRowStatus.QUEUED)
        keyed: list[tuple[PayoutBatchRow, Payout]] = []
        for row in rows:
            assert row.msisdn is not None and row.amount is not None
            provider = payout_route(row.msisdn, settings=settings).provider
            payout = Payout(
                provider=provider,
                originator_conversation_id=self._payouts.new_key(provider),
                msisdn=row.msisdn,
                amount=row.amount,
                remarks=(row.reference or batch.description)[:100],
                status=WAITING,
                initiated_by_id=staff.id,
                confirmed_by_id=staff.id,
                confirmed_at=now,
                needs_approval=batch.needs_approval,
                receiver_name=None,
                created_at=now,
            )
            keyed.append((row, payout))
        await Payout.bulk_create([p for _, p in keyed], batch_size=500)
        ids = dict(
            await Payout.filter(
                originator_conversation_id__in=[p.originator_conversation_id for _, p in keyed]
            ).values_list("originator_conversation_id", "id")
        )
        for row, payout in keyed:
            await PayoutBatchRow.filter(id=row.id).update(
                payout_id=ids[payout.originator_conversation_id]
            )

    async def approve(self, batch_id: int, *, by_telegram_id: int) -> PayoutBatch:
        """A second admin's approval (never the requester's): the batch starts sending."""
        actor = actor_for_telegram(by_telegram_id)
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="bulk.approve")
        batch = await self._bulk.get(batch_id)
        subject = f"batch:{batch.id}"
        if staff.id in (batch.created_by_id, batch.confirmed_by_id):
            raise await _refused(
                actor,
                "bulk.approve",
                subject,
                NotAllowed("You asked for this batch; another admin must approve it."),
            )
        now = self._clock()
        async with in_transaction():
            won = await PayoutBatch.filter(
                id=batch.id, status=BatchStatus.AWAITING_APPROVAL
            ).update(status=BatchStatus.SENDING, approved_by_id=staff.id, next_send_at=now)
            if not won:
                raise await _refused(
                    actor, "bulk.approve", subject, Conflict(await self.state_sentence(batch.id))
                )
            await Payout.filter(
                id__in=await _row_payout_ids(batch.id, BatchRowStatus.QUEUED), status=WAITING
            ).update(approved_by_id=staff.id)
            await audit(actor, "bulk.approve", subject=subject)
            batch = await PayoutBatch.get(id=batch.id)
            await self._notifier.write(progress_rows(batch, "approved"))
        return batch

    async def reject(self, batch_id: int, *, by_telegram_id: int) -> PayoutBatch:
        """An admin refuses a batch waiting for approval: nothing is sent, the limit is freed."""
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="bulk.reject")
        return await self._close(
            batch_id,
            by_telegram_id,
            sources=(BatchStatus.AWAITING_APPROVAL,),
            wanted=BatchStatus.REJECTED,
            action="bulk.reject",
            changes={"rejected_by_id": staff.id},
            payout_status=PayoutStatus.REJECTED,
        )

    async def cancel(self, batch_id: int, *, by_telegram_id: int) -> PayoutBatch:
        """Stop the batch: rows not sent yet are cancelled (and freed); rows in flight finish."""
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="bulk.cancel")
        return await self._close(
            batch_id,
            by_telegram_id,
            sources=OPEN,
            wanted=BatchStatus.CANCELLED,
            action="bulk.cancel",
            changes={"cancelled_by_id": staff.id, "next_send_at": None},
            payout_status=PayoutStatus.CANCELLED,
        )

    async def pause(self, batch_id: int, *, by_telegram_id: int) -> PayoutBatch:
        """No new row leaves until resumed; rows in flight finish."""
        return await self._move(
            batch_id,
            by_telegram_id,
            source=BatchStatus.SENDING,
            wanted=BatchStatus.PAUSED,
            action="bulk.pause",
        )

    # pause and resume alike on purpose: one _move each, naming its states
    async def resume(self, batch_id: int, *, by_telegram_id: int) -> PayoutBatch:
        """Rows leave again, from where the batch stopped."""
        return await self._move(
            batch_id,
            by_telegram_id,
            source=BatchStatus.PAUSED,
            wanted=BatchStatus.SENDING,
            action="bulk.resume",
            changes={"next_send_at": self._clock()},
        )

    async def retry_failed(
        self, batch_id: int, *, by_telegram_id: int, chat_id: int | None = None
    ) -> BatchSummary:
        """A new batch of this batch's definitely failed rows (never unknown ones, until
        resolved); it goes through Confirm and approval like any other."""
        actor = actor_for_telegram(by_telegram_id)
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="bulk.retry")
        batch = await self._bulk.get(batch_id)
        rows = await self._bulk.rows(batch.id)
        failed = [
            row
            for row in rows
            if row.payout is not None and PayoutStatus(row.payout.status) is PayoutStatus.FAILED
        ]
        unknown = sum(
            1
            for row in rows
            if row.payout is not None and not PayoutStatus(row.payout.status).is_final
        )
        if not failed:
            why = (
                f" {unknown} row(s) are not settled yet: they are asked about, never resent."
                if unknown
                else ""
            )
            raise await _refused(
                actor,
                "bulk.retry",
                f"batch:{batch.id}",
                InvalidInput(f"Batch {batch_ref(batch)} has no failed rows to retry.{why}"),
            )
        raw = [
            RawRow(
                line=row.line,
                phone=row.msisdn or row.raw_phone,
                amount=row.amount or 0,
                name=row.name,
                reference=row.reference,
            )
            for row in failed
        ]
        checked = check_rows(raw, settings=self._bulk.settings, description=batch.description)
        parsed = BulkFile(
            rows=raw,
            file_format=batch.file_format,
            content_hash=f"retry:{batch.id}:{len(raw)}:{self._clock().timestamp():.0f}",
        )
        return await self._bulk.record(
            checked,
            parsed=parsed,
            actor=actor,
            created_by=staff,
            source=batch.source if batch.source.startswith("chat") else "chat",
            description=batch.description,
            file_name=f"retry-of-{batch_ref(batch)}.csv",
            chat_id=chat_id or batch.chat_id,
            retry_of=batch,
        )

    # -- helpers ----------------------------------------------------------------------------

    async def _close(
        self,
        batch_id: int,
        by_telegram_id: int,
        *,
        sources: Sequence[BatchStatus],
        wanted: BatchStatus,
        action: str,
        changes: dict,
        payout_status: PayoutStatus,
    ) -> PayoutBatch:
        actor = actor_for_telegram(by_telegram_id)
        batch = await self._bulk.get(batch_id)
        subject = f"batch:{batch.id}"
        async with in_transaction():
            # the batch row is updated first: a pacer claiming a row waits for this to commit
            # and then finds the batch no longer sending
            won = await PayoutBatch.filter(id=batch.id, status__in=list(sources)).update(
                status=wanted, **changes
            )
            if not won:
                raise await _refused(
                    actor, action, subject, Conflict(await self.state_sentence(batch.id))
                )
            payout_ids = await _row_payout_ids(batch.id, BatchRowStatus.QUEUED)
            stopped = await PayoutBatchRow.filter(
                batch_id=batch.id, status=BatchRowStatus.QUEUED
            ).update(status=BatchRowStatus.CANCELLED)
            if payout_ids:
                await Payout.filter(
                    id__in=payout_ids, status=WAITING, post_state=PostState.NOT_SENT
                ).update(status=payout_status)
            await audit(actor, action, subject=subject, rows_stopped=stopped)
            batch = await PayoutBatch.get(id=batch.id)
            await self._notifier.write(progress_rows(batch, wanted.value))
        log.info("bulk.%s batch=%s rows_stopped=%d", wanted.value, batch.id, stopped)
        return batch

    async def _move(
        self,
        batch_id: int,
        by_telegram_id: int,
        *,
        source: BatchStatus,
        wanted: BatchStatus,
        action: str,
        changes: dict | None = None,
    ) -> PayoutBatch:
        actor = actor_for_telegram(by_telegram_id)
        await self._staff.require(by_telegram_id, StaffRole.ADMIN, action=action)
        batch = await self._bulk.get(batch_id)
        subject = f"batch:{batch.id}"
        async with in_transaction():
            won = await PayoutBatch.filter(id=batch.id, status=source).update(
                status=wanted, **(changes or {})
            )
            if not won:
                raise await _refused(
                    actor, action, subject, Conflict(await self.state_sentence(batch.id))
                )
            await audit(actor, action, subject=subject)
            batch = await PayoutBatch.get(id=batch.id)
            await self._notifier.write(progress_rows(batch, wanted.value))
        return batch

    async def state_sentence(self, batch_id: int) -> str:
        """Why a batch cannot take this step now, in words."""
        batch = await PayoutBatch.get(id=batch_id)
        status = BatchStatus(batch.status)
        words = {
            BatchStatus.AWAITING_CONFIRMATION: "has not been confirmed yet",
            BatchStatus.AWAITING_APPROVAL: "was confirmed and is waiting for a second admin",
            BatchStatus.SENDING: "is already sending",
            BatchStatus.PAUSED: "is paused",
            BatchStatus.CANCELLED: "was cancelled",
            BatchStatus.REJECTED: "was rejected",
            BatchStatus.COMPLETED: "is complete",
        }
        return f"Batch {batch_ref(batch)} {words[status]} ({format_kes(batch.total_amount)})."


async def _row_payout_ids(batch_id: int, status: BatchRowStatus) -> list[int]:
    return [
        pid
        for pid in await PayoutBatchRow.filter(batch_id=batch_id, status=status).values_list(
            "payout_id", flat=True
        )
        if pid is not None
    ]


def progress_rows(batch: PayoutBatch, key: str) -> list[OutboxRow]:
    """The batch's live message (summary, then progress), edited in its chat, once per key."""
    if batch.chat_id is None:
        return []
    return [
        OutboxRow(
            f"batch:{batch.id}:progress:{key}:chat:{batch.chat_id}"[:128],
            NotificationChannel.CHAT,
            str(batch.chat_id),
            {"event": "batch_progress", "batch_id": batch.id},
        )
    ]


async def _refused(actor: str, action: str, subject: str, exc: ServiceError) -> ServiceError:
    await audit(actor, action, subject=subject, outcome="refused", reason=str(exc))
    return exc
