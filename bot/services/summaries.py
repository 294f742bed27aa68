"""The daily summary e-mail: queued once per Nairobi day, at DAILY_SUMMARY_TIME or after.

A job asks every minute; the outbox row's event key (``summary:<day>:email:<address>``) is what
makes it once: a restart, a second instance or a second look that day inserts nothing new.
Yesterday's is asked for too, so a summary whose time passed while the service was down (or
busy across midnight: 23:59 asked at 00:00) is sent when it is back, covering the whole day.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

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

    def due_days(self, now: datetime) -> list[str]:
        """The Nairobi days (YYYY-MM-DD) whose summary is due at ``now``, oldest first.

        Yesterday's is always due (queued once, so a no-op once it was); today's from
        DAILY_SUMMARY_TIME on.
        """
        if not self.enabled:
            return []
        hours, _, minutes = (self._settings.daily_summary_time or "").partition(":")
        local = now.astimezone(NAIROBI)
        days = [(local.date() - timedelta(days=1)).isoformat()]
        if (local.hour, local.minute) >= (int(hours), int(minutes)):
            days.append(local.date().isoformat())
        return days

    async def run_once(self) -> list[str]:
        """Queue every due summary (a no-op for one already queued); return the days asked."""
        days = self.due_days(self._clock())
        for day in days:
            await self._notifier.daily_summary(day)
        return days
