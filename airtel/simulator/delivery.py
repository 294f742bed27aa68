"""Callback delivery: one shared HTTP session, tracked background jobs, every POST recorded.

This module is a twin of ``mpesa/simulator/delivery.py``: ``airtel/`` and ``mpesa/`` stand alone
and import nothing from each other, so the shared shape is kept twice on purpose rather than in a
third package.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp

from airtel.callbacks import HASH_FIELD
from airtel.callbacks import HASH_HEADER
from airtel.callbacks import sign_callback
from airtel.security import HashInput
from airtel.security import callback_hash
from airtel.simulator.state import Delivery
from airtel.simulator.state import SimulatorState

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_S = 10.0


class Deliverer:
    """POSTs collection callbacks to the portal's URL and runs the delayed jobs behind them."""

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
        """How many background jobs are still running."""
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
        """Wait until no background job is running."""
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

    async def notify(self, kind: str, body: dict[str, Any], *, times: int = 1) -> None:
        """POST a callback to the portal's URL ``times`` times (twice with duplicate_callbacks)."""
        state = self._state
        url = state.portal.callback_url
        payload, headers = self._signed(body)
        if state.faults.drop_callbacks or url is None:
            reason = "drop_callbacks" if url is not None else "no callback URL in the portal"
            state.deliveries.append(
                Delivery(kind=kind, url=url, body=payload, headers=headers, dropped=True)
            )
            log.info("sim.callback.dropped kind=%s reason=%s", kind, reason)
            return
        for _ in range(max(times, 2 if state.faults.duplicate_callbacks else 1)):
            await self._post(kind, url, payload, headers)

    def _signed(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The body (and headers) with the hash when callback authentication is on."""
        portal = self._state.portal
        if not portal.callback_hash_key:
            return body, {}
        if portal.hash_input is HashInput.RAW_BODY:
            raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
            return body, {HASH_HEADER: callback_hash(portal.callback_hash_key, raw)}
        signature = sign_callback(body, portal.callback_hash_key, which=portal.hash_input)
        return {**body, HASH_FIELD: signature}, {}

    async def _post(
        self, kind: str, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> None:
        delivery = Delivery(kind=kind, url=url, body=body, headers=headers)
        self._state.deliveries.append(delivery)
        if self._session is None:
            delivery.error = "simulator is not running"
            return
        # compact bytes: what a RAW_BODY hash covers is exactly what is sent
        raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
        try:
            async with self._session.post(
                url, data=raw, headers={"Content-Type": "application/json", **headers}
            ) as response:
                delivery.status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            # the receiver being down is a scenario to record, not a simulator failure
            delivery.error = f"{type(exc).__name__}: {exc}"
            log.info("sim.callback.failed kind=%s error=%s", kind, delivery.error)
            return
        log.info("sim.callback kind=%s status=%s", kind, delivery.status)

    async def _guarded(self, job: Coroutine[Any, Any, None]) -> None:
        """Run a job, logging (not raising) unexpected errors so no task dies silently."""
        try:
            await job
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sim.job.failed")
