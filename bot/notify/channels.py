"""Delivery channels for outbox messages, and a recording chat channel for tests."""

from __future__ import annotations

from typing import Protocol

from models import Notification


class PermanentDeliveryError(Exception):
    """Delivery failed for good (invalid number, blocked user): do not retry."""


class Channel(Protocol):
    """Delivers one outbox message; raises on failure (PermanentDeliveryError: never retry)."""

    async def deliver(self, notification: Notification) -> None: ...


class RecordingChatChannel:
    """A chat channel that records what it delivers; can be told to fail the next attempts."""

    def __init__(self) -> None:
        self.delivered: list[Notification] = []
        self._failures: list[BaseException] = []

    def fail_next(self, *errors: BaseException) -> None:
        """Raise these errors, one per attempt, before delivering normally again."""
        self._failures.extend(errors)

    async def deliver(self, notification: Notification) -> None:
        """Record the message, or raise the next queued failure."""
        if self._failures:
            raise self._failures.pop(0)
        self.delivered.append(notification)

    @property
    def event_keys(self) -> list[str]:
        """The event keys delivered, in order."""
        return [n.event_key for n in self.delivered]
