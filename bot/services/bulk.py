"""Bulk payouts: one service for the chat, the API and the dashboard.

A batch is read and checked before anything is sent (the validation report), waits for an admin's
Confirm, a second admin's approval at or above PAYOUT_APPROVAL_THRESHOLD, and is then sent row by
row through the payout path of /send (bot/services/bulk_sender.py paces it).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta
from typing import Any

from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.notify.notifier import OutboxRow
from bot.services.audit import actor_for_telegram
from bot.services.audit import audit
from bot.services.bulk_files import BulkFile
from bot.services.bulk_files import read_bulk_file
from bot.services.bulk_rows import CheckedRow
from bot.services.bulk_rows import check_rows
from bot.services.bulk_rows import json_rows_hash
from bot.services.bulk_rows import rows_from_json
from bot.services.errors import InvalidInput
from bot.services.errors import NotFound
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from bot.services.payout_rules import REMARKS_MAX
from bot.services.staff import StaffService
from models import BatchRowStatus
from models import BatchStatus
from models import BulkUploadWait
from models import NotificationChannel
from models import PayoutBatch
from models import PayoutBatchRow
from models import PayoutStatus
from models import Staff
from models import StaffRole

log = logging.getLogger(__name__)

UPLOAD_WAIT_S = 600.0  # after /bulk, the admin's next document is the file for this long
DESCRIPTION_DEFAULT = "Bulk payout"
INSERT_CHUNK = 500


@dataclass(frozen=True)
class BatchSummary:
    """A new batch and what its validation found: valid rows, rejected rows, warnings."""

    batch: PayoutBatch
    rejected: list[CheckedRow]
    warned: list[CheckedRow]
    same_file: PayoutBatch | None = None  # an earlier batch with the same content
    notes: tuple[str, ...] = ()
    threshold: int = 0

    @property
    def can_confirm(self) -> bool:
        """True when there is something to pay and nobody has decided yet."""
        return BatchStatus(self.batch.status) is BatchStatus.AWAITING_CONFIRMATION


@dataclass(frozen=True)
class BatchCounts:
    """Where a batch's rows stand (whole shillings for the amounts)."""

    total_rows: int = 0
    rejected: int = 0
    queued: int = 0
    cancelled: int = 0
    sending: int = 0  # handed over, no answer yet
    submitted: int = 0  # accepted by M-Pesa, result pending
    completed: int = 0
    failed: int = 0
    unknown: int = 0
    paid_amount: int = 0
    failed_amount: int = 0
    by_payout_status: dict[str, int] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        """Rows whose payout has left (or is leaving)."""
        return self.sending + self.submitted + self.completed + self.failed + self.unknown

    @property
    def settled(self) -> int:
        """Rows that reached a final state."""
        return self.completed + self.failed + self.rejected + self.cancelled

    @property
    def valid(self) -> int:
        """Rows that passed validation."""
        return self.total_rows - self.rejected

    def key(self) -> str:
        """A compact form of the counts, to tell whether anything changed since last shown."""
        return (
            f"q{self.queued}s{self.sending}b{self.submitted}c{self.completed}"
            f"f{self.failed}u{self.unknown}x{self.cancelled}"
        )


class BulkService:
    """Creates batches from files or API rows and reports on them."""

    def __init__(
        self,
        *,
        notifier: Notifier,
        staff: StaffService,
        settings: Settings,
        clock: Clock = utcnow,
    ) -> None:
        self._notifier = notifier
        self._staff = staff
        self._settings = settings
        self._clock = clock

    @property
    def settings(self) -> Settings:
        """The settings batches are checked against (limits, threshold, pace)."""
        return self._settings

    # -- ways in ----------------------------------------------------------------------------

    async def upload(
        self,
        content: bytes,
        *,
        file_name: str | None,
        by_telegram_id: int,
        chat_id: int | None = None,
        description: str = "",
    ) -> BatchSummary:
        """An admin's file from the chat: read, check and record it; it waits for Confirm."""
        actor = actor_for_telegram(by_telegram_id)
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="bulk.upload")
        await BulkUploadWait.filter(telegram_id=by_telegram_id).delete()
        return await self.create_from_file(
            content,
            file_name=file_name,
            actor=actor,
            created_by=staff,
            source="chat",
            description=description,
            chat_id=chat_id,
        )

    async def create_from_file(
        self,
        content: bytes,
        *,
        file_name: str | None,
        actor: str,
        created_by: Staff | None,
        source: str,
        description: str = "",
        chat_id: int | None = None,
    ) -> BatchSummary:
        """A CSV or XLSX list from any way in (chat, API multipart, dashboard)."""
        try:
            parsed = read_bulk_file(
                content,
                file_name=file_name,
                max_bytes=self._settings.bulk_max_file_bytes,
                max_rows=self._settings.bulk_max_rows,
            )
        except InvalidInput as exc:
            await audit(actor, "bulk.create", outcome="refused", reason=str(exc))
            raise
        return await self._create(
            parsed,
            actor=actor,
            created_by=created_by,
            source=source,
            description=description,
            file_name=file_name,
            chat_id=chat_id,
        )

    async def create_from_rows(
        self, items: Any, *, actor: str, source: str, description: str = ""
    ) -> BatchSummary:
        """The API's JSON rows (``[{"phone", "amount", "name", "reference"}]``)."""
        try:
            rows = rows_from_json(items)
            if not rows:
                raise InvalidInput("rows is empty: give at least one row.", field="rows")
            if len(rows) > self._settings.bulk_max_rows:
                raise InvalidInput(
                    f"{len(rows):,} rows; at most {self._settings.bulk_max_rows:,} per batch "
                    "(BULK_MAX_ROWS). Split them into smaller batches.",
                    field="rows",
                )
        except InvalidInput as exc:
            await audit(actor, "bulk.create", outcome="refused", reason=str(exc))
            raise
        parsed = BulkFile(rows=rows, file_format="json", content_hash=json_rows_hash(rows))
        return await self._create(
            parsed,
            actor=actor,
            created_by=None,
            source=source,
            description=description,
            file_name=None,
            chat_id=None,
        )

    async def expect_file(self, by_telegram_id: int) -> None:
        """/bulk without a file: the admin's next document (within 10 minutes) is the list."""
        await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="bulk.upload")
        until = self._clock() + timedelta(seconds=UPLOAD_WAIT_S)
        updated = await BulkUploadWait.filter(telegram_id=by_telegram_id).update(expires_at=until)
        if not updated:
            await BulkUploadWait.get_or_create(
                telegram_id=by_telegram_id, defaults={"expires_at": until}
            )

    async def awaits_file(self, telegram_id: int) -> bool:
        """True when this person typed /bulk in the last 10 minutes and sent no file since."""
        return await BulkUploadWait.filter(
            telegram_id=telegram_id, expires_at__gt=self._clock()
        ).exists()

    async def set_status_message(self, batch_id: int, chat_id: int, message_id: int) -> None:
        """Remember the batch's live message (summary, then progress) so any instance edits it."""
        await PayoutBatch.filter(id=batch_id).update(chat_id=chat_id, message_id=message_id)

    # -- reading ----------------------------------------------------------------------------

    async def get(self, batch_id: int) -> PayoutBatch:
        """The batch, or NotFound."""
        batch = await PayoutBatch.get_or_none(id=batch_id)
        if batch is None:
            raise NotFound(f"There is no batch #{batch_id}.")
        return batch

    async def find(self, ref: str) -> PayoutBatch:
        """A batch by "12", "#12" or "B12"."""
        text = (ref or "").strip().lstrip("#").upper().removeprefix("B")
        if not text.isdigit() or len(text) > 9:
            raise InvalidInput(f"{ref.strip() or 'Nothing'} is not a batch number, e.g. B12.")
        return await self.get(int(text))

    async def rows(self, batch_id: int) -> list[PayoutBatchRow]:
        """Every row of the batch in file order, with its payout loaded."""
        query = PayoutBatchRow.filter(batch_id=batch_id).order_by("line")
        return await query.prefetch_related("payout")

    async def rejected_rows(self, batch_id: int) -> list[PayoutBatchRow]:
        """The rows validation refused, in file order."""
        return await PayoutBatchRow.filter(
            batch_id=batch_id, status=BatchRowStatus.REJECTED
        ).order_by("line")

    async def counts(self, batch_id: int) -> BatchCounts:
        """Where the batch's rows stand now."""
        return counts_of(await self.rows(batch_id))

    async def recent(self, *, limit: int = 10) -> list[PayoutBatch]:
        """The latest batches, newest first."""
        return await PayoutBatch.all().order_by("-id").limit(limit)

    # -- creating ---------------------------------------------------------------------------

    async def _create(
        self,
        parsed: BulkFile,
        *,
        actor: str,
        created_by: Staff | None,
        source: str,
        description: str,
        file_name: str | None,
        chat_id: int | None,
    ) -> BatchSummary:
        description = " ".join((description or "").split())[:REMARKS_MAX]
        checked = check_rows(
            parsed.rows, settings=self._settings, description=description or DESCRIPTION_DEFAULT
        )
        return await self.record(
            checked,
            parsed=parsed,
            actor=actor,
            created_by=created_by,
            source=source,
            description=description or DESCRIPTION_DEFAULT,
            file_name=file_name,
            chat_id=chat_id,
        )

    # the same keywords as _create on purpose: retry_failed records rows checked elsewhere
    async def record(
        self,
        checked: Sequence[CheckedRow],
        *,
        parsed: BulkFile,
        actor: str,
        created_by: Staff | None,
        source: str,
        description: str,
        file_name: str | None,
        chat_id: int | None,
        retry_of: PayoutBatch | None = None,
    ) -> BatchSummary:
        """Store a checked batch and its rows; nothing is sent until it is confirmed."""
        valid = [r for r in checked if r.valid]
        total = sum(r.amount or 0 for r in valid)
        same_file = (
            await PayoutBatch.filter(content_hash=parsed.content_hash).order_by("-id").first()
        )
        threshold = self._settings.payout_approval_threshold
        async with in_transaction():
            batch = await PayoutBatch.create(
                status=BatchStatus.AWAITING_CONFIRMATION if valid else BatchStatus.CANCELLED,
                description=description,
                source=source,
                file_name=(file_name or None) and file_name[:255],
                file_format=parsed.file_format,
                content_hash=parsed.content_hash,
                created_by=created_by,
                needs_approval=total >= threshold,
                row_count=len(checked),
                valid_count=len(valid),
                rejected_count=len(checked) - len(valid),
                total_amount=total,
                retry_of=retry_of,
                chat_id=chat_id,
                created_at=self._clock(),
            )
            await PayoutBatchRow.bulk_create(
                [
                    PayoutBatchRow(
                        batch_id=batch.id,
                        line=row.line,
                        raw_phone=row.raw_phone,
                        raw_amount=row.raw_amount,
                        msisdn=row.msisdn,
                        amount=row.amount,
                        name=row.name,
                        reference=row.reference,
                        status=BatchRowStatus.QUEUED if row.valid else BatchRowStatus.REJECTED,
                        error=row.error[:255] if row.error else None,
                        warning=row.warning[:255] if row.warning else None,
                    )
                    for row in checked
                ],
                batch_size=INSERT_CHUNK,
            )
            await audit(
                actor,
                "bulk.create",
                subject=f"batch:{batch.id}",
                rows=len(checked),
                valid=len(valid),
                rejected=len(checked) - len(valid),
                total=total,
                source=source,
                same_file_as=same_file.id if same_file else None,
            )
            if created_by is None and valid:
                # an API key never releases money: the admins confirm it in the chat
                await self._notifier.write(
                    await batch_event_rows(self._notifier, batch, "batch_review")
                )
        log.info(
            "bulk.created batch=%s rows=%d valid=%d total=%d source=%s",
            batch.id,
            len(checked),
            len(valid),
            total,
            source,
        )
        return BatchSummary(
            batch=batch,
            rejected=[r for r in checked if not r.valid],
            warned=[r for r in checked if r.valid and r.warning],
            same_file=same_file,
            notes=parsed.notes + _ignored_note(parsed),
            threshold=threshold,
        )


def counts_of(rows: Sequence[PayoutBatchRow]) -> BatchCounts:
    """Count rows by where they stand (a sent row by its payout's status)."""
    return counts_of_values(
        {
            "status": row.status,
            "payout__status": row.payout.status if row.payout is not None else None,
            "payout__amount": row.payout.amount if row.payout is not None else None,
        }
        for row in rows
    )


def counts_of_values(rows: Iterable[dict[str, Any]]) -> BatchCounts:
    """Count rows given as ``{"status", "payout__status", "payout__amount"}``."""
    tally: Counter[str] = Counter()
    payouts: Counter[str] = Counter()
    paid = failed_amount = total = 0
    for row in rows:
        total += 1
        status = BatchRowStatus(row["status"])
        if status is not BatchRowStatus.SENT or row["payout__status"] is None:
            tally[status.value] += 1
            continue
        payout_status = PayoutStatus(row["payout__status"])
        amount = row["payout__amount"] or 0
        payouts[payout_status.value] += 1
        if payout_status is PayoutStatus.COMPLETED:
            tally["completed"] += 1
            paid += amount
        elif payout_status in (PayoutStatus.FAILED, PayoutStatus.CANCELLED, PayoutStatus.REJECTED):
            tally["failed"] += 1
            failed_amount += amount
        elif payout_status is PayoutStatus.UNKNOWN:
            tally["unknown"] += 1
        elif payout_status is PayoutStatus.SUBMITTED:
            tally["submitted"] += 1
        else:
            tally["sending"] += 1
    return BatchCounts(
        total_rows=total,
        rejected=tally["rejected"],
        queued=tally["queued"],
        cancelled=tally["cancelled"],
        sending=tally["sending"],
        submitted=tally["submitted"],
        completed=tally["completed"],
        failed=tally["failed"],
        unknown=tally["unknown"],
        paid_amount=paid,
        failed_amount=failed_amount,
        by_payout_status=dict(payouts),
    )


def batch_ref(batch: PayoutBatch | int) -> str:
    """How people name a batch: "B12"."""
    return f"B{batch if isinstance(batch, int) else batch.id}"


def _ignored_note(parsed: BulkFile) -> tuple[str, ...]:
    if not parsed.ignored_headers:
        return ()
    return (f"columns ignored: {', '.join(parsed.ignored_headers)}",)


async def batch_event_rows(
    notifier: Notifier, batch: PayoutBatch, event: str, *, skip: tuple[int, ...] = ()
) -> list[OutboxRow]:
    """One chat event per active admin about this batch (its review, its approval)."""
    return [
        OutboxRow(
            f"batch:{batch.id}:{event}:admin:{admin_id}",
            NotificationChannel.CHAT,
            str(admin_id),
            {"event": event, "batch_id": batch.id},
        )
        for admin_id in await notifier.admin_ids()
        if admin_id not in skip
    ]
