"""The outbox worker: claims due messages atomically, delivers them, retries with backoff."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from datetime import datetime
from datetime import timedelta

from tortoise.expressions import F
from tortoise.expressions import Q

from bot.notify.channels import Channel
from bot.notify.channels import PermanentDeliveryError
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from models import Notification
from models import NotificationChannel
from models import NotificationStatus

log = logging.getLogger(__name__)

# how long a claimed message is ours: every channel's delivery must end well inside it
CLAIM_S = 120.0


class OutboxWorker:
    """Delivers queued notifications; safe when several processes run it at once."""

    def __init__(
        self,
        channels: Mapping[NotificationChannel, Channel],
        *,
        clock: Clock = utcnow,
        batch: int = 50,
        max_attempts: int = 8,
        base_delay_s: float = 5.0,
        max_delay_s: float = 3600.0,
        claim_s: float = CLAIM_S,
        concurrency: int = 8,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._channels = dict(channels)
        self._clock = clock
        self._batch = batch
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._claim_s = claim_s
        # one limit per channel: a slow or hung channel (SMS) never holds back another (chat)
        self._limits = {channel: asyncio.Semaphore(concurrency) for channel in self._channels}
        self._jitter = jitter
        # per-process counters for /metrics: channel -> failed delivery attempts
        self.failures: Counter[str] = Counter()

    @property
    def channels(self) -> list[NotificationChannel]:
        """The channels this worker delivers to."""
        return list(self._channels)

    async def run_once(self, *, channels: Iterable[NotificationChannel] | None = None) -> int:
        """Deliver every due message this process can claim (of ``channels``); return how many.

        The bot runs one job per channel, so chat messages never wait for a slow SMS provider.
        """
        wanted = [
            c for c in (self._channels if channels is None else channels) if c in self._channels
        ]
        if not wanted:
            return 0
        claimed = await self._claim(wanted)
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._deliver(row) for row in claimed))
        return sum(results)

    async def due(self) -> int:
        """Messages this process could deliver now, or that another worker is delivering."""
        if not self._channels:
            return 0
        now = self._clock()
        busy = Q(status=NotificationStatus.PENDING, next_attempt_at__lte=now) | Q(
            status=NotificationStatus.SENDING
        )
        return await Notification.filter(busy, channel__in=list(self._channels)).count()

    def backoff_s(self, attempts: int) -> float:
        """Seconds to wait after ``attempts`` failed tries: exponential, capped, with jitter."""
        delay = min(self._max_delay_s, self._base_delay_s * 2 ** max(0, attempts - 1))
        # up to +50% so many failed messages do not all come back at the same second
        return delay * (1 + self._jitter() / 2)

    def _due(self, now: datetime) -> Q:
        return Q(status=NotificationStatus.PENDING, next_attempt_at__lte=now) | Q(
            status=NotificationStatus.SENDING, claimed_until__lt=now
        )

    async def _claim(self, channels: list[NotificationChannel]) -> list[Notification]:
        now = self._clock()
        candidates = (
            await Notification.filter(self._due(now), channel__in=channels)
            .order_by("next_attempt_at", "id")
            .limit(self._batch)
        )
        until = now + timedelta(seconds=self._claim_s)
        claimed = []
        for row in candidates:
            # the conditional UPDATE is the claim: another worker that read the same row loses
            won = await Notification.filter(self._due(now), id=row.id).update(
                status=NotificationStatus.SENDING,
                claimed_until=until,
                attempts=F("attempts") + 1,
            )
            if won:
                row.attempts += 1
                row.claimed_until = until
                claimed.append(row)
        return claimed

    async def _deliver(self, row: Notification) -> int:
        kind = NotificationChannel(row.channel)
        channel = self._channels[kind]
        async with self._limits[kind]:
            try:
                await channel.deliver(row)
            except PermanentDeliveryError as exc:
                await self._give_up(row, str(exc))
                return 0
            except Exception as exc:
                await self._retry_later(row, exc)
                return 0
        await Notification.filter(id=row.id, claimed_until=row.claimed_until).update(
            status=NotificationStatus.SENT, sent_at=self._clock(), last_error=None
        )
        log.info("outbox.sent id=%s channel=%s attempts=%s", row.id, row.channel, row.attempts)
        return 1

    async def _give_up(self, row: Notification, reason: str) -> None:
        self.failures[str(row.channel)] += 1
        await Notification.filter(id=row.id, claimed_until=row.claimed_until).update(
            status=NotificationStatus.FAILED, last_error=reason[:2000], claimed_until=None
        )
        log.warning(
            "outbox.failed id=%s channel=%s attempts=%s reason=%s",
            row.id,
            row.channel,
            row.attempts,
            reason,
        )

    async def _retry_later(self, row: Notification, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if row.attempts >= self._max_attempts:
            await self._give_up(row, f"gave up after {row.attempts} attempts; {reason}")
            return
        self.failures[str(row.channel)] += 1
        delay = self.backoff_s(row.attempts)
        await Notification.filter(id=row.id, claimed_until=row.claimed_until).update(
            status=NotificationStatus.PENDING,
            next_attempt_at=self._clock() + timedelta(seconds=delay),
            last_error=reason[:2000],
            claimed_until=None,
        )
        log.warning(
            "outbox.retry id=%s channel=%s attempts=%s in_s=%.0f reason=%s",
            row.id,
            row.channel,
            row.attempts,
            delay,
            reason,
        )
