"""Chat texts (HTML) of bulk payouts and schedules: summaries, progress, approvals, results."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from bot.i18n import staff_when as when
from bot.services.bulk import BatchCounts
from bot.services.bulk import BatchSummary
from bot.services.bulk import batch_ref
from bot.services.calendar import nairobi
from bot.services.schedules import recurrence_of
from bot.services.schedules import schedule_ref
from bot.telegram.texts import kes
from bot.telegram.texts import phone
from models import BatchStatus
from models import OccurrenceStatus
from models import PayoutBatch
from models import PayoutBatchRow
from models import Schedule
from models import ScheduleKind
from models import ScheduleOccurrence
from models import ScheduleStatus

SHOWN_REJECTED = 10  # rejected rows listed in the message; all of them are in the CSV
BAR_WIDTH = 10

USAGE_BULK = escape(
    "Usage: send a CSV or XLSX file with the caption /bulk, or type /bulk and then send the file.\n"
    "Columns: phone, amount, and optionally name and reference (header names matched loosely)."
)
BULK_WAITING = (
    "📎 Send the CSV or XLSX file now (within 10 minutes).\n"
    "Columns: <b>phone</b>, <b>amount</b>, and optionally <b>name</b> and <b>reference</b>."
)
USAGE_SCHEDULE = escape(
    "Usage: /schedule pay|request <phone> <amount> <when> [reason]\n"
    "When: once 2026-12-24 17:00 | daily 08:00 | weekly fri 17:00 | monthly 1 09:00, "
    "optionally 'until 2027-06-30' or 'times 6'\n"
    "Example: /schedule pay 0708374149 1500 weekly fri 17:00 Wages\n"
    "Also: /schedule list, /schedule pause|resume|skip|cancel|show S7"
)

BATCH_HEADLINE = {
    BatchStatus.AWAITING_CONFIRMATION: "Please check and confirm.",
    BatchStatus.AWAITING_APPROVAL: "⏳ Waiting for a second admin to approve…",
    BatchStatus.SENDING: "📤 Sending…",
    BatchStatus.PAUSED: "⏸ Paused: no new row leaves; rows in flight finish.",
    BatchStatus.CANCELLED: "✖️ Cancelled: rows not sent yet were dropped.",
    BatchStatus.REJECTED: "✖️ Rejected: nothing was sent.",
    BatchStatus.COMPLETED: "✅ Done",
}


def batch_title(batch: PayoutBatch) -> str:
    """📦 Batch B12 · Wages (wages.csv)."""
    name = f" ({escape(batch.file_name)})" if batch.file_name else ""
    return f"📦 <b>Batch {batch_ref(batch)}</b> · {escape(batch.description)}{name}"


def summary(result: BatchSummary) -> str:
    """What an upload found: valid rows and total, rejected rows with lines and reasons."""
    batch = result.batch
    lines = [batch_title(batch)]
    lines.append(f"<b>{batch.valid_count:,}</b> valid rows, <b>{kes(batch.total_amount)}</b>")
    if result.rejected:
        lines.append(f"<b>{len(result.rejected):,}</b> rejected (not paid):")
        for row in result.rejected[:SHOWN_REJECTED]:
            lines.append(f"• line {row.line}: {escape(row.error or '')}")
        if len(result.rejected) > SHOWN_REJECTED:
            lines.append(f"… and {len(result.rejected) - SHOWN_REJECTED} more in the file below.")
    for row in result.warned[:5]:
        lines.append(f"⚠️ line {row.line}: {escape(row.warning or '')}")
    if result.same_file is not None:
        earlier = result.same_file
        lines.append(
            f"⚠️ The same list was uploaded before as batch {batch_ref(earlier)} "
            f"({when(earlier.created_at)}, {BatchStatus(earlier.status).value.replace('_', ' ')})."
        )
    for note in result.notes:
        lines.append(f"<i>{escape(note)}</i>")
    if not result.can_confirm:
        lines.append("Nothing in this file can be paid; fix it and send it again.")
    elif batch.needs_approval:
        lines.append(
            f"At or above {kes(result.threshold)}: a second admin approves after you confirm."
        )
    if result.can_confirm:
        lines.append("Confirm reserves the total against your daily payout limit.")
    return "\n".join(lines)


def progress_bar(done: int, total: int) -> str:
    """▓▓▓▓▓░░░░░ 50%."""
    if total <= 0:
        return ""
    filled = round(BAR_WIDTH * done / total)
    return f"{'▓' * filled}{'░' * (BAR_WIDTH - filled)} {100 * done // total}%"


def batch_card(batch: PayoutBatch, counts: BatchCounts) -> str:
    """The batch's live message: where it stands, a progress bar, KES so far."""
    status = BatchStatus(batch.status)
    lines = [batch_title(batch), BATCH_HEADLINE[status]]
    valid = batch.valid_count
    lines.append(f"{valid:,} rows · {kes(batch.total_amount)}")
    if status not in (BatchStatus.AWAITING_CONFIRMATION, BatchStatus.AWAITING_APPROVAL):
        finished = counts.completed + counts.failed + counts.cancelled
        lines.append(progress_bar(finished, valid))
        lines.append(
            f"Sent {counts.sent:,} · ✅ {counts.completed:,} completed · ✖️ {counts.failed:,} "
            f"failed · ❔ {counts.unknown:,} unknown"
            + (f" · ⏳ {counts.queued:,} to go" if counts.queued else "")
            + (f" · {counts.cancelled:,} dropped" if counts.cancelled else "")
        )
        lines.append(f"Paid so far: <b>{kes(counts.paid_amount)}</b>")
        if counts.unknown:
            lines.append("❔ Unknown rows are asked about with M-Pesa; they are never sent again.")
    if batch.rejected_count:
        lines.append(f"{batch.rejected_count:,} rows rejected at upload (not paid).")
    return "\n".join(lines)


def approval_card(batch: PayoutBatch, counts: BatchCounts, requester: str) -> str:
    """What a second admin reads before approving a batch."""
    return (
        f"🔔 <b>Approval needed</b> (asked by {escape(requester)})\n\n{batch_card(batch, counts)}"
    )


def review_card(batch: PayoutBatch, counts: BatchCounts) -> str:
    """An API batch posted to the admins: it waits for one of them to confirm."""
    source = escape(batch.source)
    return (
        f"🧾 <b>A payout batch arrived through the API</b> ({source}); nothing is sent until an "
        f"admin confirms it.\n\n{batch_card(batch, counts)}"
    )


def done_caption(batch: PayoutBatch, counts: BatchCounts, *, differing: int) -> str:
    """The caption of the result file."""
    lines = [
        f"{batch_title(batch)}: result of every row",
        f"✅ {counts.completed:,} completed ({kes(counts.paid_amount)}) · ✖️ {counts.failed:,} "
        f"failed · {counts.cancelled:,} dropped · {counts.rejected:,} rejected",
    ]
    if differing:
        lines.append(f"⚠️ {differing} recipient name(s) differ from the file's (name_check).")
    if counts.failed:
        lines.append("[Retry failed rows] makes a new batch of the failed rows only.")
    return "\n".join(lines)


def rejected_caption(count: int) -> str:
    """The caption of the rejected rows' CSV."""
    return f"{count:,} rejected rows with their reasons: fix them and upload them again."


# -- schedules ------------------------------------------------------------------------------

SCHEDULE_HEADLINE = {
    ScheduleStatus.AWAITING_CONFIRMATION: "Please check and confirm.",
    ScheduleStatus.AWAITING_APPROVAL: "⏳ Waiting for a second admin to approve…",
    ScheduleStatus.ACTIVE: "🗓 Active",
    ScheduleStatus.PAUSED: "⏸ Paused",
    ScheduleStatus.FINISHED: "✅ Finished",
    ScheduleStatus.CANCELLED: "✖️ Cancelled",
    ScheduleStatus.REJECTED: "✖️ Rejected",
}
OCCURRENCE_WORDS = {
    OccurrenceStatus.DUE: "⏳ starting",
    OccurrenceStatus.RUNNING: "📤 running",
    OccurrenceStatus.SUCCEEDED: "✅ succeeded",
    OccurrenceStatus.FAILED: "✖️ failed",
    OccurrenceStatus.SKIPPED: "⏭ skipped",
    OccurrenceStatus.MISSED: "⚠️ missed",
}


def schedule_card(schedule: Schedule) -> str:
    """A schedule: what, to whom, when, and its next time."""
    payout = ScheduleKind(schedule.kind) is ScheduleKind.PAYOUT
    what = "Payout to" if payout else "Payment request to"
    lines = [
        f"🗓 <b>Schedule {schedule_ref(schedule)}</b> · "
        f"{SCHEDULE_HEADLINE[ScheduleStatus(schedule.status)]}",
        f"{what} {phone(schedule.msisdn)}"
        + (f" ({escape(schedule.name)})" if schedule.name else "")
        + f": <b>{kes(schedule.amount)}</b>",
        f"For: {escape(schedule.description)}",
        f"When: {escape(recurrence_of(schedule).describe())} (Nairobi time)",
    ]
    if schedule.next_due_at is not None:
        lines.append(f"Next: {nairobi(schedule.next_due_at)}")
    if schedule.occurrence_count:
        lines.append(f"Occurrences so far: {schedule.occurrence_count}")
    if payout and schedule.needs_approval:
        lines.append("Above the approval threshold: a second admin approves it.")
    return "\n".join(lines)


def schedule_list(schedules: Sequence[Schedule]) -> str:
    """/schedule list."""
    if not schedules:
        return "No schedules. Make one with /schedule pay|request …"
    lines = ["🗓 <b>Schedules</b>"]
    for s in schedules:
        next_at = nairobi(s.next_due_at) if s.next_due_at else "-"
        kind = "pay" if ScheduleKind(s.kind) is ScheduleKind.PAYOUT else "request"
        lines.append(
            f"{schedule_ref(s)} · {kind} {kes(s.amount)} {phone(s.msisdn)} · "
            f"{ScheduleStatus(s.status).value.replace('_', ' ')} · next {next_at}"
        )
    return "\n".join(lines)


def schedule_history(schedule: Schedule, occurrences: Sequence[ScheduleOccurrence]) -> str:
    """A schedule and its latest occurrences."""
    lines = [schedule_card(schedule)]
    if occurrences:
        lines.append("")
        lines.append("<b>Latest occurrences</b>")
    for o in occurrences:
        ref = f" P{o.payout_id}" if o.payout_id else f" #{o.payment_id}" if o.payment_id else ""
        note = f": {escape(o.note)}" if o.note else ""
        lines.append(
            f"{nairobi(o.due_at)} · {OCCURRENCE_WORDS[OccurrenceStatus(o.status)]}{ref}{note}"
        )
    return "\n".join(lines)


def schedule_reminder(schedule: Schedule, due_text: str) -> str:
    """The admins' reminder before a large occurrence."""
    return (
        f"⏰ <b>Reminder</b>: {schedule_ref(schedule)} runs at {due_text}.\n\n"
        f"{schedule_card(schedule)}\n\nTo skip it: /schedule skip {schedule_ref(schedule)}"
    )


def occurrence_summary(schedule: Schedule, occurrence: ScheduleOccurrence) -> str:
    """What an occurrence came to (after it ran, failed or was missed)."""
    status = OccurrenceStatus(occurrence.status)
    lines = [
        f"🗓 {schedule_ref(schedule)} · {nairobi(occurrence.due_at)}: {OCCURRENCE_WORDS[status]}",
        f"{kes(schedule.amount)} · {phone(schedule.msisdn)} · {escape(schedule.description)}",
    ]
    if occurrence.note:
        lines.append(escape(occurrence.note))
    if status is OccurrenceStatus.MISSED:
        lines.append("It was not run (outside SCHEDULE_GRACE_S); run it by hand if it is owed.")
    if (
        status is OccurrenceStatus.FAILED
        and ScheduleKind(schedule.kind) is ScheduleKind.PAYMENT_REQUEST
    ):
        lines.append("Use [Retry] on the payment card, or /request the customer again.")
    return "\n".join(lines)


def rows_summary_line(rows: Sequence[PayoutBatchRow]) -> str:
    """How many rows, for logs and captions."""
    return f"{len(rows):,} rows"
