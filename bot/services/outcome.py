"""What applying a callback did, and the small types and look-ups every service shares."""

from __future__ import annotations

import math
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from enum import StrEnum
from typing import Any
from typing import TypeVar

from tortoise.expressions import Q
from tortoise.models import Model

from bot.i18n import N_
from models import CallbackKind
from mpesa.errors import RateLimited

M = TypeVar("M", bound=Model)

# services take their clock as a parameter, so tests move time without sleeping
Clock = Callable[[], datetime]
# re-applies callbacks that arrived before the ids they name were stored
ReplayUnmatched = Callable[[CallbackKind, str], Awaitable[None]]


BUSY = N_("M-Pesa is busy right now; nothing was sent. Try again in a minute.")
BUSY_WAIT = N_("M-Pesa is busy right now; nothing was sent. Try again in {wait}.")


def busy_reason(exc: RateLimited) -> str:
    """Why a throttled money request failed: nothing was sent, and the wait Daraja asked for."""
    told = exc.retry_after_told_s
    return BUSY if told is None else BUSY_WAIT.format(wait=wait_words(told))


def wait_words(seconds: float) -> str:
    """A wait as people say it: "a moment", "30 seconds", "2 minutes" (rounded up)."""
    if seconds < 1:
        return "a moment"
    if seconds < 90:
        whole = math.ceil(seconds)
        return "1 second" if whole == 1 else f"{whole} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


async def replay_early(hook: ReplayUnmatched | None, kind: CallbackKind, key: str | None) -> None:
    """Apply the callbacks that arrived before ``key`` was stored, once the container has set
    the ``hook`` (and there is a key)."""
    if key and hook is not None:
        await hook(kind, key)


def utcnow() -> datetime:
    """The current time, aware, in UTC (the default clock of every service)."""
    return datetime.now(UTC)


class ApplyOutcome(StrEnum):
    """Result of applying one callback to our records."""

    APPLIED = "applied"  # the record changed (and its notifications were queued)
    DUPLICATE = "duplicate"  # seen before: nothing changed, nobody is told twice
    UNMATCHED = "unmatched"  # no record yet (the callback raced our insert): kept for later
    REVIEW = "review"  # applied, but flagged for a person (amount or phone mismatch, drift)


async def by_conversation(
    model: type[M], originator_id: str | None, conversation_id: str | None, **filters: Any
) -> M | None:
    """The row whose OriginatorConversationID or ConversationID is one of those given."""
    conditions = []
    if originator_id:
        conditions.append(Q(originator_conversation_id=originator_id))
    if conversation_id:
        conditions.append(Q(conversation_id=conversation_id))
    if not conditions:
        return None
    return await model.filter(Q(*conditions, join_type=Q.OR), **filters).first()
