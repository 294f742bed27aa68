"""The life of one money intent (an STK Push, a B2C payout, a reversal), written once.

    claim (lease) -> mark sending (committed) -> POST -> record the answer | record unknown

A row is claimed with a conditional UPDATE that sets who holds it (``claimed_by``) until when
(``claimed_until``); nobody else touches it while the lease runs, and the lease outlasts the
longest Daraja call. ``post_state`` is set to SENDING and committed before the POST leaves, so a
crash mid-call is seen afterwards as "may have landed". Only a row recorded as NOT_SENT (nothing
sent yet, or the request failed before connecting) may be sent, again or for the first time;
everything else is settled by a query and, failing that, by a person. Nothing relies on Daraja
refusing a duplicate OriginatorConversationID.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from enum import StrEnum
from typing import Any
from typing import Generic
from typing import TypeVar

from tortoise.expressions import F
from tortoise.expressions import Q

from airtel import errors as airtel_errors
from bot.services.outcome import Clock
from models import PostState
from models.tables import MoneyIntent
from mpesa.errors import AuthFailed
from mpesa.errors import ConfigurationError
from mpesa.errors import DarajaError
from mpesa.errors import DarajaUnreachable
from mpesa.errors import InvalidRequest
from mpesa.errors import RateLimited

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=MoneyIntent)

# the provider answered "no" (or we could not even build the request): nothing moved, nothing
# to ask. Airtel's Declined (and its InvalidRequest) says so in the answer itself.
REFUSED = (
    InvalidRequest,
    AuthFailed,
    RateLimited,
    ConfigurationError,
    airtel_errors.Declined,
    airtel_errors.AuthFailed,
    airtel_errors.RateLimited,
    airtel_errors.ConfigurationError,
)
# throttled at the gateway (spike arrest, quota, 429): refused before anything happened
RATE_LIMITED = (RateLimited, airtel_errors.RateLimited)
# the request failed before connecting: it never left
NEVER_LEFT = (DarajaUnreachable, airtel_errors.AirtelUnreachable)
# any other provider error after sending: it may have landed
PROVIDER_ERRORS = (DarajaError, airtel_errors.AirtelError)
ProviderError = DarajaError | airtel_errors.AirtelError


def worker_name() -> str:
    """This process, as leases name it: host and pid."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


@dataclass(frozen=True)
class Lease:
    """A claim on one row: the holder's token and the moment it lapses."""

    model: type[MoneyIntent]
    row_id: int
    holder: str
    until: datetime


# -- what a POST came to ---------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted(Generic[T]):
    """Daraja answered the POST (the answer may still say no, e.g. ResponseCode != 0)."""

    answer: T


@dataclass(frozen=True)
class Refused:
    """The provider refused the request (or it could not be built): nothing moved."""

    error: ProviderError


@dataclass(frozen=True)
class NeverLeft:
    """The request failed before connecting: nothing was sent, so it may be sent again."""

    error: DarajaUnreachable | airtel_errors.AirtelUnreachable


@dataclass(frozen=True)
class Unknown:
    """The POST may have landed (time-out, dropped connection, 5xx, crash): ask, never resend."""

    reason: str
    error: BaseException | None = None


@dataclass(frozen=True)
class NotSent:
    """The row was not ours to send (lease lost, already sent): nothing was sent by us."""

    reason: str


PostOutcome = Accepted[T] | Refused | NeverLeft | Unknown | NotSent


class Intents:
    """Leases and the money POST for every intent table; one instance per process."""

    def __init__(self, *, clock: Clock, lease_s: float, worker: str | None = None) -> None:
        self._clock = clock
        self._lease = timedelta(seconds=lease_s)
        self._worker = worker or worker_name()

    @property
    def lease_s(self) -> float:
        """How long a lease lasts, in seconds."""
        return self._lease.total_seconds()

    def new_holder(self) -> str:
        """A fresh lease token: this process plus a random part (one per claim)."""
        return f"{self._worker}#{secrets.token_hex(4)}"

    @staticmethod
    def free(now: datetime) -> Q:
        """Rows nobody holds at ``now`` (never claimed, released, or the lease lapsed)."""
        return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)

    def held_fields(self, holder: str) -> dict[str, Any]:
        """The columns of a row created already held by ``holder`` (e.g. a new payment)."""
        return {"claimed_by": holder, "claimed_until": self._clock() + self._lease}

    def lease_for(self, row: MoneyIntent, holder: str) -> Lease:
        """The lease ``holder`` took when creating ``row`` with held_fields."""
        return Lease(type(row), row.id, holder, row.claimed_until or self._clock())

    async def claim(
        self, model: type[M], row_id: int, *, statuses: Sequence[StrEnum], where: Q | None = None
    ) -> Lease | None:
        """Take the row for this worker; None when someone else holds it or it moved on."""
        now = self._clock()
        holder = self.new_holder()
        query = model.filter(self.free(now), id=row_id, status__in=list(statuses))
        if where is not None:
            query = query.filter(where)
        won = await query.update(claimed_by=holder, claimed_until=now + self._lease)
        if not won:
            return None
        return Lease(model, row_id, holder, now + self._lease)

    async def take(
        self,
        model: type[M],
        *,
        statuses: Sequence[StrEnum],
        where: Q | None = None,
        limit: int,
        order_by: Sequence[str] = ("id",),
    ) -> list[tuple[Lease, M]]:
        """Claim up to ``limit`` free rows matching; each with the row as read after the claim."""
        now = self._clock()
        query = model.filter(self.free(now), status__in=list(statuses))
        if where is not None:
            query = query.filter(where)
        ids = await query.order_by(*order_by).limit(limit).values_list("id", flat=True)
        taken: list[tuple[Lease, M]] = []
        for row_id in ids:
            lease = await self.claim(model, row_id, statuses=statuses, where=where)
            if lease is not None:  # else another worker took it between our read and our claim
                taken.append((lease, await model.get(id=row_id)))
        return taken

    async def release(self, lease: Lease) -> None:
        """Give the row back (only if we still hold it)."""
        await lease.model.filter(id=lease.row_id, claimed_by=lease.holder).update(
            claimed_by=None, claimed_until=None
        )

    async def mark_sending(self, lease: Lease) -> bool:
        """Record, committed, that the POST is about to leave; False if it may not be sent."""
        now = self._clock()
        won = await lease.model.filter(
            id=lease.row_id,
            claimed_by=lease.holder,
            claimed_until__gte=now,
            post_state=PostState.NOT_SENT,
        ).update(post_state=PostState.SENDING, post_count=F("post_count") + 1, sent_at=now)
        return bool(won)

    async def post(self, lease: Lease, call: Callable[[], Awaitable[T]]) -> PostOutcome[T]:
        """Mark the row sending, make the money POST once, and say what it came to."""
        if not await self.mark_sending(lease):
            return NotSent("the request is not ours to send (claimed elsewhere or already sent)")
        try:
            answer = await call()
        except NEVER_LEFT as exc:
            return NeverLeft(exc)
        except REFUSED as exc:
            return Refused(exc)
        except PROVIDER_ERRORS as exc:
            # OutcomeUnknown, a duplicate id, a 5xx, Airtel's TA/TIP: it may have landed
            return Unknown(str(exc) or type(exc).__name__, exc)
        except asyncio.CancelledError:
            # the row stays SENDING under our lease: once it lapses it is read as unknown
            raise
        except Exception as exc:
            log.exception("intent.post_failed model=%s id=%s", lease.model.__name__, lease.row_id)
            return Unknown("unexpected error while sending", exc)
        return Accepted(answer)

    # -- the columns each outcome writes, with the status change, in one conditional UPDATE ------

    def answered(self) -> dict[str, Any]:
        """Daraja answered: the POST is done; the lease ends."""
        return {
            "post_state": PostState.ANSWERED,
            "answered_at": self._clock(),
            "claimed_by": None,
            "claimed_until": None,
        }

    def unknown(self) -> dict[str, Any]:
        """The POST may have landed: only a query (or a person) settles it; the lease ends."""
        return {
            "post_state": PostState.UNKNOWN,
            "answered_at": self._clock(),
            "claimed_by": None,
            "claimed_until": None,
        }

    def not_sent(self) -> dict[str, Any]:
        """The request never left: it may be sent again; the lease ends."""
        return {"post_state": PostState.NOT_SENT, "claimed_by": None, "claimed_until": None}

    def released(self) -> dict[str, Any]:
        """Only the lease ends."""
        return {"claimed_by": None, "claimed_until": None}

    async def asked(
        self, record: MoneyIntent, *, lease: Lease | None, next_query_at: datetime
    ) -> None:
        """Count one more status question about ``record`` and when the next is due; a lease
        (the reconciler's, when it asked) must still be ours, and ends."""
        moved = type(record).filter(id=record.id)
        if lease is not None:
            moved = moved.filter(claimed_by=lease.holder)
        await moved.update(
            query_count=F("query_count") + 1,
            next_query_at=next_query_at,
            **(self.released() if lease is not None else {}),
        )

    @staticmethod
    def sending_lapsed(now: datetime) -> Q:
        """Rows whose POST may have left and whose sender's lease lapsed (it crashed or hung)."""
        return Q(post_state=PostState.SENDING) & Q(claimed_until__lt=now)

    @staticmethod
    def never_sent() -> Q:
        """Rows whose POST has not left (yet, or at all)."""
        return Q(post_state=PostState.NOT_SENT)
