"""Callback delivery: one shared HTTP session, tracked background jobs, every POST recorded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import aiohttp

from mpesa.simulator.state import Delivery
from mpesa.simulator.state import SimulatorState

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_S = 10.0
SECRET_SEGMENT_LEN = 16  # callback paths carry an unguessable segment at least this long


def shown_url(url: str) -> str:
    """A callback URL for the log, its long (secret) path segments and its query blanked out."""
    parts = urlsplit(url)
    path = "/".join(
        "***" if len(segment) >= SECRET_SEGMENT_LEN else segment
        for segment in parts.path.split("/")
    )
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class Deliverer:
    """POSTs callbacks to the application and runs the delayed jobs that produce them."""

    def __init__(self, state: SimulatorState) -> None:
        self._state = state
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the shared client session (called from the app's cleanup context)."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT_S)
        )

    async def close(self) -> None:
        """Cancel every unfinished job, wait for them, then close the session."""
        await self.cancel_all()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def busy(self) -> int:
        """Return how many background jobs are still running."""
        return len(self._tasks)

    async def dispatch(self, job: Coroutine[Any, Any, None]) -> None:
        """Run ``job`` now (fault callback_before_response) or as a tracked background task."""
        if self._state.faults.callback_before_response:
            await self._guarded(job)
            return
        task = asyncio.create_task(self._guarded(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until no background job is running (jobs may start further jobs)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def cancel_all(self) -> None:
        """Cancel every background job and wait for them to finish."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait(self) -> None:
        """Sleep for the configured callback delay (the customer "thinking")."""
        if self._state.config.callback_delay_s > 0:
            await asyncio.sleep(self._state.config.callback_delay_s)

    async def notify(self, kind: str, url: str, body: dict[str, object]) -> None:
        """Deliver a notification, honouring the drop_callbacks and duplicate_callbacks faults."""
        faults = self._state.faults
        if faults.drop_callbacks:
            self._state.deliveries.append(Delivery(kind=kind, url=url, body=body, dropped=True))
            log.info("sim.callback.dropped kind=%s url=%s", kind, shown_url(url))
            return
        for _ in range(2 if faults.duplicate_callbacks else 1):
            await self.post(kind, url, body)

    async def ask(
        self, kind: str, url: str, body: dict[str, object], *, timeout_s: float
    ) -> tuple[int | None, object]:
        """POST a request expecting an answer (C2B validation): never duplicated, maybe dropped."""
        if self._state.faults.drop_callbacks:
            self._state.deliveries.append(Delivery(kind=kind, url=url, body=body, dropped=True))
            return None, None
        return await self.post(kind, url, body, timeout_s=timeout_s)

    async def post(
        self, kind: str, url: str, body: dict[str, object], *, timeout_s: float | None = None
    ) -> tuple[int | None, object]:
        """POST ``body`` once and record it; return (HTTP status, parsed JSON answer or None)."""
        delivery = Delivery(kind=kind, url=url, body=body)
        self._state.deliveries.append(delivery)
        if self._session is None:
            delivery.error = "simulator is not running"
            return None, None
        timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s is not None else None
        try:
            async with self._session.post(url, json=body, timeout=timeout) as response:
                delivery.status = response.status
                try:
                    answer: object = await response.json(content_type=None)
                except ValueError:
                    answer = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            # the receiver being down is a scenario to record, not a simulator failure
            delivery.error = f"{type(exc).__name__}: {exc}"
            log.info(
                "sim.callback.failed kind=%s url=%s error=%s", kind, shown_url(url), delivery.error
            )
            return None, None
        log.info("sim.callback kind=%s url=%s status=%s", kind, shown_url(url), delivery.status)
        return delivery.status, answer

    async def _guarded(self, job: Coroutine[Any, Any, None]) -> None:
        """Run a job, logging (not raising) unexpected errors so no task dies silently."""
        try:
            await job
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sim.job.failed")
