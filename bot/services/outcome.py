"""What applying a callback did."""

from __future__ import annotations

from enum import StrEnum


class ApplyOutcome(StrEnum):
    """Result of applying one callback to our records."""

    APPLIED = "applied"  # the record changed (and its notifications were queued)
    DUPLICATE = "duplicate"  # seen before: nothing changed, nobody is told twice
    UNMATCHED = "unmatched"  # no record yet (the callback raced our insert): kept for later
    REVIEW = "review"  # applied, but flagged for a person (amount or phone mismatch, drift)
