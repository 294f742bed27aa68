"""Bulk payouts on the dashboard (admins, #14): upload a CSV or XLSX list, read its validation
report, follow the batch.

The page only hands the file to BulkService.create_from_file (the same reading and row checks
as a file sent to the bot: /send's phone and amount rules, duplicates, the same file again);
the batch's buttons call the same decisions as the chat's (BatchDecisions: Confirm reserves the
total, a second admin approves at or above the threshold, never the requester; Pause, Resume,
Cancel), so the rules, refusals and audit are the chat's.

Routes: ``GET|POST /bulk``, ``GET /bulk/{id}``, ``POST /bulk/{id}/{decision}``.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.services.audit import actor_for_telegram
from bot.services.errors import NotFound
from bot.services.errors import ServiceError
from bot.web.dashboard.auth import requires
from bot.web.dashboard.keys import CONTAINER_KEY
from bot.web.dashboard.keys import PREFIX
from bot.web.dashboard.render import render

log = logging.getLogger(__name__)

ROWS_SHOWN = 200
UPLOAD = "bulk_upload"  # the one form that may be as large as BULK_MAX_FILE_BYTES
RECENT = 20


async def _upload_page(
    request: web.Request, *, status: int = 200, refusal: str | None = None
) -> web.StreamResponse:
    services = request.app[CONTAINER_KEY]
    return render(
        request,
        "bulk.html",
        status=status,
        refusal=refusal,
        batches=await services.bulk.recent(limit=RECENT),
        max_rows=services.settings.bulk_max_rows,
        max_bytes=services.settings.bulk_max_file_bytes,
    )


@requires("admin")
async def bulk_form(request: web.Request) -> web.StreamResponse:
    """GET /bulk: the upload form and the latest batches."""
    return await _upload_page(request)


@requires("admin")
async def bulk_upload(request: web.Request) -> web.StreamResponse:
    """POST /bulk: read and check the file through the bulk service; its report follows."""
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return await _upload_page(request, status=422, refusal="Choose a CSV or XLSX file.")
    staff = request["staff"]
    try:
        summary = await request.app[CONTAINER_KEY].bulk.create_from_file(
            upload.file.read(),
            file_name=upload.filename,
            actor=actor_for_telegram(staff.telegram_id),
            created_by=staff,
            source="dashboard",
            description=str(form.get("description", ""))[:200],
        )
    except ServiceError as exc:
        return await _upload_page(request, status=422, refusal=str(exc))
    raise web.HTTPSeeOther(f"{PREFIX}/bulk/{summary.batch.id}")


@requires("admin")
async def bulk_batch(request: web.Request) -> web.StreamResponse:
    """GET /bulk/{id}: the batch's validation report and where its rows stand."""
    return await _batch_page(request)


async def _batch_page(
    request: web.Request, *, status: int = 200, refusal: str | None = None
) -> web.StreamResponse:
    bulk = request.app[CONTAINER_KEY].bulk
    try:
        batch = await bulk.find(request.match_info["id"])
    except (NotFound, ServiceError) as exc:
        return render(request, "message.html", status=404, title="No such batch", message=str(exc))
    rows = await bulk.rows(batch.id)
    return render(
        request,
        "bulk_batch.html",
        status=status,
        refusal=refusal,
        decisions=DECISIONS.get(str(batch.status), ()),
        batch=batch,
        counts=await bulk.counts(batch.id),
        rejected=[r for r in rows if r.status == "rejected"],
        warned=[r for r in rows if r.warning],
        rows=rows[:ROWS_SHOWN],
        more=max(len(rows) - ROWS_SHOWN, 0),
        threshold=request.app[CONTAINER_KEY].settings.payout_approval_threshold,
    )


# the buttons a batch in each status offers: (decision, label); the service has the last word
DECISIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "awaiting_confirmation": (("confirm", "Confirm"), ("cancel", "Cancel")),
    "awaiting_approval": (("approve", "Approve"), ("reject", "Reject")),
    "sending": (("pause", "Pause"), ("cancel", "Cancel")),
    "paused": (("resume", "Resume"), ("cancel", "Cancel")),
}
NAMES = {decision for offered in DECISIONS.values() for decision, _ in offered}


@requires("admin")
async def bulk_decide(request: web.Request) -> web.StreamResponse:
    """POST /bulk/{id}/{decision}: Confirm, Approve, Reject, Pause, Resume or Cancel a batch."""
    decision = request.match_info["decision"]
    if decision not in NAMES:
        raise web.HTTPNotFound()
    bulk = request.app[CONTAINER_KEY].bulk
    try:
        batch = await bulk.find(request.match_info["id"])
    except (NotFound, ServiceError) as exc:
        return render(request, "message.html", status=404, title="No such batch", message=str(exc))
    decide = getattr(request.app[CONTAINER_KEY].batches, decision)
    try:
        await decide(batch.id, by_telegram_id=request["staff"].telegram_id)
    except ServiceError as exc:
        return await _batch_page(request, status=409, refusal=str(exc))
    raise web.HTTPSeeOther(f"{PREFIX}/bulk/{batch.id}")


def add_routes(router: web.UrlDispatcher) -> None:
    """The bulk upload page, a batch's report and its decisions."""
    router.add_get("/bulk", bulk_form, name="bulk")
    router.add_post("/bulk", bulk_upload, name=UPLOAD)
    router.add_get(r"/bulk/{id}", bulk_batch, name="bulk_batch")
    router.add_post(r"/bulk/{id}/{decision}", bulk_decide)
