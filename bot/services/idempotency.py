"""Idempotency keys of the shop API: the same key and request answer the first response again.

The first request inserts its row (status_code NULL) before running; the unique (api_key, key)
pair makes a concurrent duplicate lose that insert and be refused instead of running twice.
Two requests are "the same" when method, path and the canonical form of their JSON body agree
(key order and whitespace do not matter); a body that is not JSON is compared byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError

from bot.services.errors import Conflict
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from models import IdempotencyRecord

HEADER = "Idempotency-Key"
# how long the first answer to an Idempotency-Key is kept and replayed
IDEMPOTENCY_TTL_S = 24 * 3600.0
# how long a claim without an answer may still be running (the container passes the settings'
# daraja_call_max_s: OAuth with its retries plus the money POST); after that its process died
IN_PROGRESS_S = 300.0


class IdempotencyKeyReused(Conflict):
    """The key was used before with a different request."""

    code = "idempotency_key_reused"


class IdempotencyInProgress(Conflict):
    """The first request with this key may still be running."""

    code = "idempotency_in_progress"


def _number(literal: str) -> int | float:
    """A JSON number with a fraction or exponent: an int when it is whole (1500.0, 1.5e3).

    Read exactly (no float rounding: 1500.0000000000001 stays a fraction); JSON has one number
    type, so 1500.0 is the integer 1500, as JSON Schema's "integer" says.
    """
    exact = Decimal(literal)
    if exact.is_finite() and exact.adjusted() < 18 and exact == exact.to_integral_value():
        return int(exact)
    return float(literal)


def parse_json(raw: bytes | str) -> Any:
    """JSON as the API reads it: whole numbers are ints whatever their spelling; ValueError."""
    return json.loads(raw, parse_float=_number)


def canonical_body(body: bytes) -> bytes:
    """The JSON body with sorted keys and no insignificant whitespace; other bytes as they are."""
    try:
        value = parse_json(body)
    except (ValueError, RecursionError):
        return body
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def request_hash(method: str, path: str, body: bytes) -> str:
    """Hex SHA-256 of what makes two requests "the same": method, path and canonical body."""
    digest = hashlib.sha256(f"{method.upper()} {path}\n".encode())
    digest.update(canonical_body(body))
    return digest.hexdigest()


@dataclass(frozen=True)
class Replay:
    """A stored answer to send again: HTTP status and JSON body."""

    status: int
    body: Any


class IdempotencyStore:
    """Claims idempotency keys per API key and remembers the answers (kept ``ttl_s`` seconds).

    A claim whose request never answered lapses after ``in_progress_s`` seconds: its request can
    no longer be running (its process crashed), so a retry with the key runs again and gets a
    real answer. Whatever that request had started is a money intent the reconciler settles.
    """

    def __init__(
        self,
        *,
        ttl_s: float = IDEMPOTENCY_TTL_S,
        in_progress_s: float = IN_PROGRESS_S,
        clock: Clock = utcnow,
    ) -> None:
        self._ttl = timedelta(seconds=ttl_s)
        self._in_progress = timedelta(seconds=in_progress_s)
        self._clock = clock

    async def begin(self, api_key_id: int, key: str, digest: str) -> IdempotencyRecord | Replay:
        """Claim ``key`` for a new request (its row), or the stored answer; Conflict if not."""
        for _ in range(2):
            try:
                return await IdempotencyRecord.create(
                    api_key_id=api_key_id, key=key, request_hash=digest, created_at=self._clock()
                )
            except IntegrityError:
                existing = await IdempotencyRecord.get_or_none(api_key_id=api_key_id, key=key)
            if existing is None:
                continue  # expired and deleted between our insert and read: claim it again
            now = self._clock()
            if existing.created_at < now - self._ttl:
                await IdempotencyRecord.filter(id=existing.id).delete()
                continue
            if existing.request_hash != digest:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was already used with a different request.",
                    field=HEADER,
                )
            if existing.status_code is None and existing.created_at < now - self._in_progress:
                # the first request died without an answer (kill -9 mid-POST): take its claim
                # over; of two retries at once, one deletes and wins the insert, the other waits
                await IdempotencyRecord.filter(id=existing.id, status_code=None).delete()
                continue
            if existing.status_code is None:
                raise IdempotencyInProgress(
                    "A request with this Idempotency-Key is still being processed.", field=HEADER
                )
            return Replay(existing.status_code, existing.response)
        raise IdempotencyInProgress("This Idempotency-Key is busy; try again.", field=HEADER)

    async def finish(self, record: IdempotencyRecord, status: int, body: Any) -> None:
        """Store the answer given to the first request."""
        await IdempotencyRecord.filter(id=record.id).update(status_code=status, response=body)

    async def abandon(self, record: IdempotencyRecord) -> None:
        """Forget a claim whose request never produced an answer (so a retry may run)."""
        await IdempotencyRecord.filter(id=record.id, status_code=None).delete()


async def purge_idempotency_records(now: datetime) -> int:
    """Delete idempotency records past their time to live; return how many went."""
    cutoff = now - timedelta(seconds=IDEMPOTENCY_TTL_S)
    return await IdempotencyRecord.filter(created_at__lt=cutoff).delete()
