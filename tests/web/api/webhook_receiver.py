"""A shop backend stand-in on 127.0.0.1 that records webhook POSTs (headers and raw body)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Delivery:
    """One webhook POST as the shop received it."""

    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> Any:
        """The JSON event."""
        return json.loads(self.body)


class ShopReceiver:
    """Answers POST /webhooks with queued statuses (then 200) and lets tests await deliveries."""

    path = "/webhooks"

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._statuses: list[int] = []
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()

    def app(self) -> web.Application:
        """The aiohttp application to serve (e.g. with the aiohttp_server fixture)."""
        app = web.Application()
        app.router.add_post(self.path, self._receive)
        return app

    def fail_next(self, *statuses: int) -> None:
        """Answer the next POSTs with these HTTP statuses, one each."""
        self._statuses.extend(statuses)

    async def next(self, *, timeout_s: float = 5.0) -> Delivery:
        """Wait for the next delivery not yet consumed."""
        return await asyncio.wait_for(self._queue.get(), timeout_s)

    async def _receive(self, request: web.Request) -> web.Response:
        delivery = Delivery(headers=dict(request.headers), body=await request.read())
        self.deliveries.append(delivery)
        self._queue.put_nowait(delivery)
        status = self._statuses.pop(0) if self._statuses else 200
        return web.json_response({"received": status < 300}, status=status)
