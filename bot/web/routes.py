"""HTTP handlers: Daraja callbacks (stored, applied, answered), /healthz and /metrics."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.callback_paths import AIRTEL_KINDS
from bot.callback_paths import CALLBACK_ROUTES
from bot.callback_paths import callback_path
from bot.services.callback_batch import IngestBatcher
from bot.web.metrics import CONTENT_TYPE
from bot.web.metrics import render_metrics
from bot.web.middlewares import AllowList
from bot.web.middlewares import ClientAddress
from models import CallbackKind
from mpesa.callbacks import ACK

log = logging.getLogger(__name__)

SERVICES: web.AppKey[Any] = web.AppKey("services", object)
CLIENT_ADDRESS: web.AppKey[ClientAddress] = web.AppKey("client_address", ClientAddress)
ALLOW_LIST: web.AppKey[AllowList] = web.AppKey("allow_list", AllowList)
INGEST_BATCHER: web.AppKey[IngestBatcher] = web.AppKey("ingest_batcher", IngestBatcher)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ACK_TEXT = json.dumps(ACK)  # what web.json_response(ACK) sends


def register(app: web.Application, *, secret: str, airtel: bool = False) -> None:
    """Add the callback routes under the secret path (Airtel's if on), /healthz and /metrics."""
    for kind in CALLBACK_ROUTES:
        if kind in AIRTEL_KINDS and not airtel:
            continue
        app.router.add_post(callback_path(secret, kind), callback_handler(kind))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)


def callback_handler(kind: CallbackKind) -> Handler:
    """A handler that stores and applies ``kind`` callbacks and answers what Daraja expects."""

    async def on_callback(request: web.Request) -> web.StreamResponse:
        callbacks = request.app[SERVICES].callbacks
        remote = request.app[CLIENT_ADDRESS](request)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            await callbacks.record_refused(
                kind, b"", remote, f"body over {request.client_max_size} bytes, not read"
            )
            raise exc from None
        # the allow-list holds Safaricom's addresses; Airtel publishes none: its callbacks are
        # checked by hash (AIRTEL_CALLBACK_HASH_KEY) and confirmed by an enquiry instead
        if kind not in AIRTEL_KINDS and not request.app[ALLOW_LIST].allows(remote):
            await callbacks.record_refused(
                kind, body, remote, f"source {remote or 'unknown'} is not in the allow-list"
            )
            return web.json_response({"ResultCode": 1, "ResultDesc": "Forbidden"}, status=403)
        batcher = request.app.get(INGEST_BATCHER)
        if kind is CallbackKind.STK and batcher is not None:
            status, answer = await batcher.submit(body, remote)
        elif kind in AIRTEL_KINDS:
            status, answer = await callbacks.ingest(
                kind, body, remote, header_hash=request.headers.get("hash")
            )
        else:
            status, answer = await callbacks.ingest(kind, body, remote)
        if status == 200 and answer == ACK:
            # the answer nearly every callback gets: encoded once, the same bytes
            return web.Response(text=ACK_TEXT, content_type="application/json")
        return web.json_response(answer, status=status)

    on_callback.__name__ = f"on_{kind.value}"
    return on_callback


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 otherwise."""
    try:
        await request.app[SERVICES].reports.check_database()
    except Exception:
        log.exception("health.database_failed")
        return web.json_response({"status": "unavailable", "database": "error"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text: callbacks by kind and outcome, records by status, delivery failures."""
    services = request.app[SERVICES]
    outbox = getattr(services, "outbox", None) or getattr(services.reconciler, "outbox", None)
    text = render_metrics(
        callbacks=services.callbacks.counts,
        notification_failures=getattr(outbox, "failures", {}),
        status_counts=await services.reports.status_counts(),
    )
    return web.Response(text=text, headers={"Content-Type": CONTENT_TYPE})
