"""Idempotency-Key on POSTs: the header read and checked, the stored answer sent verbatim.

The claims and answers live in bot.services.idempotency; this middleware only translates.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.services.idempotency import HEADER
from bot.services.idempotency import IdempotencyStore
from bot.services.idempotency import Replay
from bot.services.idempotency import request_hash
from bot.web.api.errors import ApiError
from bot.web.api.errors import Handler

log = logging.getLogger(__name__)

REPLAYED_HEADER = "Idempotent-Replayed"
KEY_LIMIT = 128  # IdempotencyRecord.key
# visible ASCII, spaces inside allowed (HTTP already drops them around a header value)
KEY_PATTERN = rf"^[!-~]([ -~]{{0,{KEY_LIMIT - 2}}}[!-~])?$"
_KEY = re.compile(KEY_PATTERN)


def idempotency_middleware(
    store: Callable[[web.Request], IdempotencyStore], api_key_id: Callable[[web.Request], int]
):
    """Middleware answering repeated POSTs with the same Idempotency-Key from ``store``."""

    @web.middleware
    async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
        raw_key = request.headers.get(HEADER)
        if request.method != "POST" or raw_key is None:
            return await handler(request)
        if request.match_info.http_exception is not None:
            return await handler(request)  # no such route or method: 404/405, whatever the headers
        if not _KEY.fullmatch(raw_key):
            raise ApiError(
                400,
                "invalid_input",
                f"The Idempotency-Key must be 1 to {KEY_LIMIT} visible ASCII characters "
                "(spaces allowed inside).",
                field=HEADER,
            )
        body = await request.read()
        records = store(request)
        outcome = await records.begin(
            api_key_id(request), raw_key, request_hash(request.method, request.path, body)
        )
        if isinstance(outcome, Replay):
            log.info("api.idempotent_replay path=%s status=%s", request.path, outcome.status)
            return web.json_response(
                outcome.body, status=outcome.status, headers={REPLAYED_HEADER: "true"}
            )
        try:
            response = await handler(request)
        except BaseException:
            await records.abandon(outcome)
            raise
        await records.finish(outcome, response.status, _json_body(response))
        return response

    return idempotency


def _json_body(response: web.StreamResponse) -> Any:
    body = getattr(response, "body", None)
    if not isinstance(body, bytes | bytearray):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
