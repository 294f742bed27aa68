"""What keeps the dashboard safe in a browser: security headers and the CSRF check.

The CSRF token lives in the encrypted session cookie; every non-GET request under /dashboard
must carry it as the form field ``csrf_token`` or the ``X-CSRF-Token`` header, and must not
come from another site (Origin).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp import web

from bot.web import browser
from bot.web.dashboard.keys import CONTAINER_KEY
from bot.web.dashboard.keys import CSRF_FIELD
from bot.web.dashboard.keys import CSRF_HEADER
from bot.web.dashboard.keys import SETTINGS_KEY
from bot.web.dashboard.render import render
from bot.web.routes import CLIENT_ADDRESS

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HEADERS = {
    **browser.HEADERS,
    "Content-Security-Policy": browser.content_security_policy(img_src="'self' data:"),
    "Cross-Origin-Opener-Policy": "same-origin",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_REFUSED = (
    "This form was not sent from a dashboard page that is still open, so nothing was done. "
    "Go back, reload the page and try again."
)


def client_of(request: web.Request) -> str:
    """The client address (trusting only our proxies), for the audit."""
    finder = request.config_dict.get(CLIENT_ADDRESS)
    return finder(request) if finder is not None else (request.remote or "")


browser_headers = browser.browser_headers(HEADERS)
"""Every dashboard answer, errors included, carries the security headers."""


def _same_origin(request: web.Request) -> bool:
    """False when the browser says the request came from another site."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # the token still has to be right
    if origin == "null":
        return False
    host = urlsplit(origin).netloc
    public = urlsplit(request.app[SETTINGS_KEY].public_base_url or "").netloc
    return host in (request.host, public)


@web.middleware
async def csrf_check(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse (403, audited) a state-changing request without this session's CSRF token."""
    if request.method in SAFE_METHODS:
        return await handler(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        sent = str((await request.post()).get(CSRF_FIELD, ""))
    expected = request.get("csrf", "")
    if not expected or not sent or not hmac.compare_digest(sent, expected):
        return await _refuse(request, "csrf_token")
    if not _same_origin(request):
        return await _refuse(request, "origin")
    return await handler(request)


async def _refuse(request: web.Request, why: str) -> web.Response:
    services = request.app[CONTAINER_KEY]
    await services.dashboard.refuse(
        request.get("staff"), request.path, client=client_of(request), why=why
    )
    log.info("dashboard.csrf_refused path=%s why=%s", request.path, why)
    return render(
        request,
        "message.html",
        status=403,
        title="Form refused",
        message=CSRF_REFUSED,
    )
