"""A clock tests move by hand, for whatever takes a ``clock`` callable."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta


class Clock:
    """A controllable UTC clock: call it for the time, ``advance`` to move it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 20, 11, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(seconds=seconds)
