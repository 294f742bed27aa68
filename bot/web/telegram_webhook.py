"""Telegram webhook mode: updates arrive on the same aiohttp server as Daraja's callbacks."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
PTB_APP: web.AppKey[Application] = web.AppKey("ptb_app", Application)
WEBHOOK_SECRET: web.AppKey[str] = web.AppKey("telegram_webhook_secret", str)


def derive_webhook_secret(callback_secret: str) -> str:
    """A stable Telegram secret token derived from the callback secret ([A-Za-z0-9_-], 64 chars)."""
    return hmac.new(callback_secret.encode(), b"telegram-webhook", hashlib.sha256).hexdigest()


def register(app: web.Application, ptb: Application, *, webhook_url: str, secret: str) -> str:
    """Serve Telegram updates at the path of ``webhook_url``; return that path."""
    path = urlsplit(webhook_url).path or "/"
    app[PTB_APP] = ptb
    app[WEBHOOK_SECRET] = secret
    app.router.add_post(path, on_telegram_update)
    return path


async def on_telegram_update(request: web.Request) -> web.Response:
    """Check Telegram's secret token, queue the update for PTB, answer at once."""
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), request.app[WEBHOOK_SECRET].encode()):
        log.warning("telegram.webhook_refused remote=%s", request.remote)
        return web.json_response({"ok": False}, status=403)
    try:
        payload = json.loads(await request.read())
    except ValueError:
        return web.json_response({"ok": False, "error": "not JSON"}, status=400)
    if not isinstance(payload, dict) or "update_id" not in payload:
        return web.json_response({"ok": False, "error": "not an update"}, status=400)
    ptb = request.app[PTB_APP]
    await ptb.update_queue.put(Update.de_json(payload, ptb.bot))
    return web.json_response({"ok": True})
