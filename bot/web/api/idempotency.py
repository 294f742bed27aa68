"""Idempotency-Key on POSTs: the same key and body answer the first response again, verbatim.

The first request inserts its row (status_code NULL) before running; the unique (api_key, key)
pair makes a concurrent duplicate lose that insert and get 409 instead of running twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError

from bot.services.api_keys import IDEMPOTENCY_TTL_S
from bot.web.api.errors import ApiError, Handler
from models import IdempotencyRecord

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_LIMIT = 128  # IdempotencyRecord.key
DEFAULT_TTL_S = IDEMPOTENCY_TTL_S


def request_hash(method: str, path: str, body: bytes) -> str:
    """Hex SHA-256 of what makes two requests "the same": method, path and body bytes."""
    digest = hashlib.sha256(f"{method.upper()} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


@dataclass(frozen=True)
class Replay:
    """A stored answer to send again: HTTP status and JSON body."""

    status: int
    body: Any


class IdempotencyStore:
    """Claims idempotency keys per API key and remembers the answers (kept ``ttl_s`` seconds)."""

    def __init__(
        self,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ttl = timedelta(seconds=ttl_s)
        self._clock = clock

    async def begin(self, api_key_id: int, key: str, digest: str) -> IdempotencyRecord | Replay:
        """Claim ``key`` for a new request (its row), or the stored answer; ApiError 409 if not."""
        for _ in range(2):
            try:
                return await IdempotencyRecord.create(
                    api_key_id=api_key_id, key=key, request_hash=digest
                )
            except IntegrityError:
                existing = await IdempotencyRecord.get_or_none(api_key_id=api_key_id, key=key)
            if existing is None:
                continue  # expired and deleted between our insert and read: claim it again
            if existing.created_at < self._clock() - self._ttl:
                await IdempotencyRecord.filter(id=existing.id).delete()
                continue
            if existing.request_hash != digest:
                raise ApiError(
                    409,
                    "idempotency_key_reused",
                    "This Idempotency-Key was already used with a different request.",
                    field=HEADER,
                )
            if existing.status_code is None:
                raise ApiError(
                    409,
                    "idempotency_in_progress",
                    "A request with this Idempotency-Key is still being processed.",
                    field=HEADER,
                )
            return Replay(existing.status_code, existing.response)
        raise ApiError(
            409, "idempotency_in_progress", "This Idempotency-Key is busy; try again.", field=HEADER
        )

    async def finish(self, record: IdempotencyRecord, status: int, body: Any) -> None:
        """Store the answer given to the first request."""
        await IdempotencyRecord.filter(id=record.id).update(status_code=status, response=body)

    async def abandon(self, record: IdempotencyRecord) -> None:
        """Forget a claim whose request never produced an answer (so a retry may run)."""
        await IdempotencyRecord.filter(id=record.id, status_code=None).delete()


def idempotency_middleware(store: IdempotencyStore, api_key_id: Callable[[web.Request], int]):
    """Middleware answering repeated POSTs with the same Idempotency-Key from ``store``."""

    @web.middleware
    async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
        raw_key = request.headers.get(HEADER)
        if request.method != "POST" or raw_key is None:
            return await handler(request)
        key = raw_key.strip()
        if not key or len(key) > KEY_LIMIT:
            raise ApiError(
                400,
                "invalid_input",
                f"The Idempotency-Key must be 1 to {KEY_LIMIT} characters.",
                field=HEADER,
            )
        body = await request.read()
        outcome = await store.begin(
            api_key_id(request), key, request_hash(request.method, request.path, body)
        )
        if isinstance(outcome, Replay):
            log.info("api.idempotent_replay path=%s status=%s", request.path, outcome.status)
            return web.json_response(
                outcome.body, status=outcome.status, headers={REPLAYED_HEADER: "true"}
            )
        try:
            response = await handler(request)
        except BaseException:
            await store.abandon(outcome)
            raise
        stored = _json_body(response)
        await store.finish(outcome, response.status, stored)
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
