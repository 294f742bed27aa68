"""What applying a callback did, and the small types every service shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum

from models import CallbackKind

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
