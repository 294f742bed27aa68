"""The daily summary e-mail: queued once per Nairobi day, at DAILY_SUMMARY_TIME or after.

A job asks every minute; the outbox row's event key (``summary:<day>:email:<address>``) is what
makes it once: a restart, a second instance or a second look that day inserts nothing new.
"""

from __future__ import annotations

from datetime import datetime

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from mpesa.security import NAIROBI


class DailySummaries:
    """Queues the day's summary to ADMIN_EMAILS once DAILY_SUMMARY_TIME has passed in Nairobi."""

    def __init__(
        self,
        *,
        notifier: Notifier,
        settings: Settings,
        clock: Clock = utcnow,
    ) -> None:
        self._notifier = notifier
        self._settings = settings
        self._clock = clock

    @property
    def enabled(self) -> bool:
        """True when there is a time and someone to send it to."""
        return bool(self._settings.daily_summary_time and self._settings.admin_emails)

    def due_day(self, now: datetime) -> str | None:
        """The Nairobi day (YYYY-MM-DD) whose summary is due at ``now``, or None before the time."""
        if not self.enabled:
            return None
        hours, _, minutes = (self._settings.daily_summary_time or "").partition(":")
        local = now.astimezone(NAIROBI)
        if (local.hour, local.minute) < (int(hours), int(minutes)):
            return None
        return local.date().isoformat()

    async def run_once(self) -> str | None:
        """Queue today's summary if it is due (a no-op once queued); return the day queued."""
        day = self.due_day(self._clock())
        if day is not None:
            await self._notifier.daily_summary(day)
        return day
