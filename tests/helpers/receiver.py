"""A loopback aiohttp server that records POSTed callbacks; tests await the next one per path."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field
from types import TracebackType
from typing import Any

from aiohttp import web

DEFAULT_ANSWER: dict[str, Any] = {"ResultCode": 0, "ResultDesc": "Accepted"}


@dataclass(frozen=True)
class Received:
    """One POST the receiver got: its path and JSON body (None if the body was not JSON)."""

    path: str
    body: Any
    raw: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """What the receiver answers at a path: HTTP status and JSON body."""

    status: int = 200
    body: Any = None


class CallbackReceiver:
    """Records every POST on 127.0.0.1 and lets a test ``await receiver.next("/stk")``."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._queues: defaultdict[str, asyncio.Queue[Received]] = defaultdict(asyncio.Queue)
        self._answers: dict[str, Answer] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> CallbackReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> str:
        """Listen on an ephemeral loopback port; return the base URL."""
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._record)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, path: str) -> str:
        """Return the full URL of ``path`` (e.g. "/stk") on this receiver."""
        return f"{self.base_url}{path}"

    def answer(self, path: str, body: Any = None, *, status: int = 200) -> None:
        """Answer POSTs at ``path`` with ``status`` and JSON ``body`` (default: the usual ack)."""
        self._answers[path] = Answer(status=status, body=body)

    async def next(self, path: str, *, timeout_s: float = 5.0) -> Any:
        """Wait for the next not-yet-consumed POST at ``path`` and return its JSON body."""
        received = await asyncio.wait_for(self._queues[path].get(), timeout_s)
        return received.body

    def pending(self, path: str) -> int:
        """Return how many POSTs at ``path`` have arrived but not been consumed by ``next``."""
        return self._queues[path].qsize()

    async def next_received(self, path: str, *, timeout_s: float = 5.0) -> Received:
        """Like ``next`` but the whole POST: body, raw bytes and headers."""
        return await asyncio.wait_for(self._queues[path].get(), timeout_s)

    def bodies(self, path: str) -> list[Any]:
        """Return every body POSTed at ``path`` so far, consumed or not."""
        return [r.body for r in self.received if r.path == path]

    async def _record(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        received = Received(path=request.path, body=body, raw=raw, headers=dict(request.headers))
        self.received.append(received)
        self._queues[request.path].put_nowait(received)
        answer = self._answers.get(request.path, Answer(body=DEFAULT_ANSWER))
        return web.json_response(
            answer.body if answer.body is not None else DEFAULT_ANSWER, status=answer.status
        )
