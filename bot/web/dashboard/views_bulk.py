"""Bulk payouts on the dashboard (admins, #14): upload a CSV or XLSX list, read its validation
report, follow the batch.

The page only hands the file to BulkService.create_from_file (the same reading and row checks
as a file sent to the bot: /send's phone and amount rules, duplicates, the same file again);
nothing is sent from here. Confirming, approving and sending a batch are the bulk service's.

Routes: ``GET|POST /bulk``, ``GET /bulk/{id}``.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.services.audit import actor_for_telegram
from bot.services.errors import NotFound, ServiceError
from bot.web.dashboard.auth import requires
from bot.web.dashboard.keys import CONTAINER_KEY, PREFIX
from bot.web.dashboard.render import render

log = logging.getLogger(__name__)

ROWS_SHOWN = 200
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
    bulk = request.app[CONTAINER_KEY].bulk
    try:
        batch = await bulk.find(request.match_info["id"])
    except (NotFound, ServiceError) as exc:
        return render(request, "message.html", status=404, title="No such batch", message=str(exc))
    rows = await bulk.rows(batch.id)
    return render(
        request,
        "bulk_batch.html",
        batch=batch,
        counts=await bulk.counts(batch.id),
        rejected=[r for r in rows if r.status == "rejected"],
        warned=[r for r in rows if r.warning],
        rows=rows[:ROWS_SHOWN],
        more=max(len(rows) - ROWS_SHOWN, 0),
        threshold=request.app[CONTAINER_KEY].settings.payout_approval_threshold,
    )


def add_routes(router: web.UrlDispatcher) -> None:
    """The bulk upload page and a batch's report."""
    router.add_get("/bulk", bulk_form, name="bulk")
    router.add_post("/bulk", bulk_upload)
    router.add_get(r"/bulk/{id}", bulk_batch, name="bulk_batch")
