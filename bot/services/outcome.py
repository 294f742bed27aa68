"""What applying a callback did, and the small types and look-ups every service shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from tortoise.expressions import Q
from tortoise.models import Model

from models import CallbackKind

M = TypeVar("M", bound=Model)

# services take their clock as a parameter, so tests move time without sleeping
Clock = Callable[[], datetime]
# re-applies callbacks that arrived before the ids they name were stored
ReplayUnmatched = Callable[[CallbackKind, str], Awaitable[None]]


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
