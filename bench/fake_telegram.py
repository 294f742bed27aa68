"""A tiny Telegram Bot API over HTTP for ``mpesa-bot run``: enough to start, poll and stop."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter
from typing import Any

from aiohttp import web

BOT_ID = 7_000_000_001
BOT_USERNAME = "BenchPayBot"
# PTB asks for at most this long a poll; we answer empty after it, as Telegram does
MAX_POLL_S = 10.0


class FakeBotApi:
    """Answers getMe, deleteWebhook, getUpdates (long poll, never any update), setMyCommands..."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._message_ids = itertools.count(1)
        self._closing = asyncio.Event()

    def app(self) -> web.Application:
        """The aiohttp application serving ``/bot<token>/<method>``."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self.handle)

        async def release_polls(_: web.Application) -> None:
            self._closing.set()

        app.on_shutdown.append(release_polls)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        """One Bot API method call, answered in Telegram's ``{"ok": true, "result": ...}``."""
        method = request.match_info["method"]
        self.calls[method] += 1
        params = await _params(request)
        if method == "getUpdates":
            timeout = min(float(params.get("timeout") or 0), MAX_POLL_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), timeout)
            return _ok([])
        if method == "getMe":
            return _ok(
                {"id": BOT_ID, "is_bot": True, "first_name": "Bench", "username": BOT_USERNAME}
            )
        if method == "getWebhookInfo":
            return _ok({"url": "", "has_custom_certificate": False, "pending_update_count": 0})
        if method in ("sendMessage", "editMessageText"):
            chat_id = int(params.get("chat_id") or 0)
            return _ok(
                {
                    "message_id": next(self._message_ids),
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private"},
                    "text": str(params.get("text", "")),
                }
            )
        return _ok(True)  # deleteWebhook, setMyCommands, answerCallbackQuery, ...


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        return dict(await request.json())
    return dict(await request.post())


def _ok(result: Any) -> web.Response:
    return web.Response(
        text=json.dumps({"ok": True, "result": result}), content_type="application/json"
    )
