"""The API's bulk payouts and schedules: /api/v1/payout-batches and /api/v1/schedules.

An API key never releases money: a batch (or a payout schedule) made here waits for an admin's
Confirm in the chat, where the bot posts its summary, then the usual approval. routes.py mounts
these handlers; they read the request, call BulkService / ScheduleService, render resources.
"""

from __future__ import annotations

from datetime import date
from datetime import time
from typing import Any

from aiohttp import web

from bot.services.bulk import BatchCounts
from bot.services.bulk import BatchSummary
from bot.services.bulk_sender import batch_counts
from bot.services.bulk_sender import counts_json
from bot.services.bulk_sender import name_check
from bot.services.bulk_sender import row_status
from bot.services.calendar import WEEKDAY_NAMES
from bot.services.calendar import CalendarError
from bot.services.calendar import Frequency
from bot.services.calendar import Recurrence
from bot.services.errors import InvalidInput
from bot.web.api.errors import ApiError
from bot.web.api.resources import invalid
from bot.web.api.resources import whole_shillings
from models import PayoutBatch
from models import PayoutBatchRow
from models import Schedule
from models import ScheduleKind
from models import ScheduleOccurrence
from mpesa.phone import mask_msisdn

DESCRIPTION_LIMIT = 100
NAME_LIMIT = 128
MULTIPART = "multipart/form-data"


# -- batches --------------------------------------------------------------------------------


async def create_batch(
    request: web.Request, services: Any, actor: str, body: dict[str, Any] | None
) -> tuple[PayoutBatch, web.Response]:
    """POST /payout-batches: JSON rows, or a multipart ``file``; 201 with the validation."""
    if body is None:
        summary = await _from_multipart(request, services, actor)
    else:
        unknown = sorted(set(body) - {"rows", "description"})
        if unknown:
            raise invalid(f"Unknown field {unknown[0]}.", field=unknown[0])
        if "rows" not in body:
            raise invalid("rows is required: a list of {phone, amount, name, reference}.", "rows")
        description = _description(body.get("description"))
        summary = await services.bulk.create_from_rows(
            body["rows"], actor=actor, source=actor, description=description
        )
    counts = await batch_counts(summary.batch.id)
    return summary.batch, web.json_response(_created(summary, counts), status=201)


def is_multipart(request: web.Request) -> bool:
    """True when the body is multipart/form-data (a file upload)."""
    return request.content_type == MULTIPART


async def _from_multipart(request: web.Request, services: Any, actor: str) -> BatchSummary:
    form = await request.post()
    unknown = sorted(set(form) - {"file", "description"})
    if unknown:
        raise invalid(f"Unknown field {unknown[0]}.", field=unknown[0])
    upload = form.get("file")
    if upload is None or isinstance(upload, str | bytes | bytearray):
        raise invalid("file is required: the CSV or XLSX list as a file part.", field="file")
    content = upload.file.read()
    description = form.get("description")
    return await services.bulk.create_from_file(
        content,
        file_name=upload.filename,
        actor=actor,
        created_by=None,
        source=actor,
        description=_description(description if isinstance(description, str) else None),
    )


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid("description must be a string.", field="description")
    return value


async def batch_status(services: Any, raw_id: str) -> tuple[PayoutBatch, web.Response]:
    """GET /payout-batches/{batchId}: status, counts and every row's state."""
    if not raw_id.isdigit() or len(raw_id) > 9:
        raise ApiError(404, "not_found", f"There is no payout batch {raw_id[:20]}.")
    try:
        batch = await services.bulk.get(int(raw_id))
    except InvalidInput:
        raise
    rows = await services.bulk.rows(batch.id)
    counts = await batch_counts(batch.id)
    resource = batch_resource(batch, counts)
    resource["rows"] = [row_resource(row) for row in rows]
    return batch, web.json_response(resource)


def batch_resource(batch: PayoutBatch, counts: BatchCounts) -> dict[str, Any]:
    """A batch in the API's words."""
    return {
        "batchId": batch.id,
        "status": batch.status.value if hasattr(batch.status, "value") else str(batch.status),
        "description": batch.description,
        "source": batch.source,
        "totalAmount": batch.total_amount,
        "needsApproval": batch.needs_approval,
        "counts": counts_json(counts),
        "createdAt": batch.created_at.isoformat() if batch.created_at else None,
        "confirmedAt": batch.confirmed_at.isoformat() if batch.confirmed_at else None,
        "settledAt": batch.settled_at.isoformat() if batch.settled_at else None,
    }


def _created(summary: BatchSummary, counts: BatchCounts) -> dict[str, Any]:
    resource = batch_resource(summary.batch, counts)
    resource["rejected"] = [
        {
            "line": row.line,
            "phone": row.raw_phone,
            "amount": row.raw_amount,
            "name": row.name,
            "reference": row.reference,
            "reason": row.error,
        }
        for row in summary.rejected
    ]
    resource["sameAsBatchId"] = summary.same_file.id if summary.same_file is not None else None
    return resource


def row_resource(row: PayoutBatchRow) -> dict[str, Any]:
    """One row: as given, its state, and what M-Pesa said."""
    payout = row.payout
    return {
        "line": row.line,
        "phoneNumber": mask_msisdn(row.msisdn) if row.msisdn else None,
        "amount": row.amount,
        "name": row.name,
        "reference": row.reference,
        "status": row_status(row),
        "error": row.error,
        "payoutId": payout.id if payout is not None else None,
        "receipt": payout.receipt if payout is not None else None,
        "recipientName": payout.receiver_name if payout is not None else None,
        "nameCheck": name_check(row.name, payout.receiver_name) if payout is not None else "",
        "resultDesc": payout.result_desc if payout is not None else None,
    }


# -- schedules ------------------------------------------------------------------------------

SCHEDULE_FIELDS = {
    "kind",
    "phoneNumber",
    "amount",
    "description",
    "name",
    "frequency",
    "start",
    "at",
    "weekdays",
    "monthDay",
    "until",
    "count",
}
KINDS = {"payout": ScheduleKind.PAYOUT, "payment_request": ScheduleKind.PAYMENT_REQUEST}


async def create_schedule(services: Any, actor: str, body: dict[str, Any]) -> Schedule:
    """POST /schedules: a payout waits for an admin's Confirm; a payment request starts."""
    unknown = sorted(set(body) - SCHEDULE_FIELDS)
    if unknown:
        raise invalid(f"Unknown field {unknown[0]}.", field=unknown[0])
    kind = KINDS.get(body.get("kind"))  # type: ignore[arg-type]
    if kind is None:
        raise invalid("kind must be payout or payment_request.", field="kind")
    phone = body.get("phoneNumber")
    if not isinstance(phone, str) or not phone:
        raise invalid("phoneNumber is required, e.g. 0712345678.", field="phoneNumber")
    amount = whole_shillings(body.get("amount"))
    recurrence = _recurrence(body)
    description = _text(body, "description", DESCRIPTION_LIMIT)
    name = _text(body, "name", NAME_LIMIT)
    return await services.schedules.create(
        kind,
        phone,
        amount,
        recurrence,
        description=description,
        name=name,
        actor=actor,
        created_by=None,
        created_via=actor,
    )


def _text(body: dict[str, Any], field: str, limit: int) -> str:
    value = body.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"{field} must be a string.", field=field)
    if len(value) > limit:
        raise invalid(f"{field} is longer than {limit} characters.", field=field)
    return value


def _recurrence(body: dict[str, Any]) -> Recurrence:
    raw = body.get("frequency")
    try:
        frequency = Frequency(raw)
    except ValueError:
        known = ", ".join(f.value for f in Frequency)
        raise invalid(f"frequency must be one of {known}.", field="frequency") from None
    start = _date(body.get("start"), "start")
    at = _time(body.get("at"))
    weekdays: tuple[int, ...] = ()
    if "weekdays" in body:
        days = body["weekdays"]
        if not isinstance(days, list) or not all(d in WEEKDAY_NAMES for d in days):
            raise invalid(f"weekdays is a list of {', '.join(WEEKDAY_NAMES)}.", field="weekdays")
        weekdays = tuple(WEEKDAY_NAMES.index(d) for d in days)
    month_day = body.get("monthDay")
    if month_day is not None and (isinstance(month_day, bool) or not isinstance(month_day, int)):
        raise invalid("monthDay must be an integer from 1 to 31.", field="monthDay")
    until = _date(body["until"], "until") if body.get("until") is not None else None
    count = body.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        raise invalid("count must be an integer.", field="count")
    try:
        return Recurrence(
            frequency,
            start=start,
            at=at,
            weekdays=weekdays,
            month_day=month_day,
            until=until,
            count=count,
        )
    except CalendarError as exc:
        raise invalid(str(exc), field="frequency") from None


def _date(value: Any, field: str) -> date:
    if not isinstance(value, str):
        raise invalid(f"{field} must be a date, e.g. 2026-12-01.", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid(f"{field} must be a date, e.g. 2026-12-01.", field=field) from None


def _time(value: Any) -> time:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise invalid("at must be a Nairobi time of day, e.g. 17:00.", field="at")
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise invalid("at must be a Nairobi time of day, e.g. 17:00.", field="at") from None


def schedule_resource(
    schedule: Schedule, occurrences: list[ScheduleOccurrence] | None = None
) -> dict[str, Any]:
    """A schedule in the API's words (with its latest occurrences when given)."""
    rule = recurrence_of_safe(schedule)
    resource: dict[str, Any] = {
        "scheduleId": schedule.id,
        "kind": ScheduleKind(schedule.kind).value,
        "status": str(getattr(schedule.status, "value", schedule.status)),
        "phoneNumber": mask_msisdn(schedule.msisdn),
        "amount": schedule.amount,
        "description": schedule.description,
        "name": schedule.name,
        "rule": rule,
        "nextDueAt": schedule.next_due_at.isoformat() if schedule.next_due_at else None,
        "occurrenceCount": schedule.occurrence_count,
        "needsApproval": schedule.needs_approval,
    }
    if occurrences is not None:
        resource["occurrences"] = [
            {
                "occurrenceId": o.id,
                "dueAt": o.due_at.isoformat(),
                "number": o.number,
                "status": str(getattr(o.status, "value", o.status)),
                "payoutId": o.payout_id,
                "paymentId": o.payment_id,
                "note": o.note,
            }
            for o in occurrences
        ]
    return resource


def recurrence_of_safe(schedule: Schedule) -> str:
    """The rule in words, e.g. "every Friday at 17:00"."""
    from bot.services.schedules import recurrence_of

    return recurrence_of(schedule).describe()


def schedule_id(raw: str) -> int:
    """A {scheduleId} path segment; 404 when it cannot be one."""
    if not raw.isdigit() or len(raw) > 9:
        raise ApiError(404, "not_found", f"There is no schedule {raw[:20]}.")
    return int(raw)
