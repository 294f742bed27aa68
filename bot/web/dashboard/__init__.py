"""The staff dashboard, PUBLIC_BASE_URL/dashboard: an aiohttp sub-application with its own
autoescaped Jinja environment, encrypted session cookie, CSRF check and security headers.

Every page module defines ``add_routes(router)`` and is listed in PAGES; its handlers are
``@requires("cashier")`` or ``@requires("admin")`` (bot/web/dashboard/auth.py) and make service
calls only: the rules live in bot/services, exactly as for the chat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.web.dashboard import auth
from bot.web.dashboard import live
from bot.web.dashboard import views_bulk
from bot.web.dashboard import views_forms
from bot.web.dashboard import views_overview
from bot.web.dashboard import views_payments
from bot.web.dashboard import views_payouts
from bot.web.dashboard import views_settings
from bot.web.dashboard import views_staff
from bot.web.dashboard.keys import CONTAINER_KEY
from bot.web.dashboard.keys import COOKIE_NAME
from bot.web.dashboard.keys import PREFIX
from bot.web.dashboard.keys import SETTINGS_KEY
from bot.web.dashboard.keys import STAFF_CHANGED_KEY
from bot.web.dashboard.keys import StaffChanged
from bot.web.dashboard.render import setup_templates
from bot.web.dashboard.security import browser_headers
from bot.web.dashboard.security import csrf_check
from bot.web.limits import bulk_body_size

HERE = Path(__file__).parent
# the page modules, each with add_routes(router)
PAGES: list[Any] = [
    views_overview,
    views_settings,
    views_payments,
    views_forms,
    views_payouts,
    views_staff,
    views_bulk,
    live,
]
STATIC_MAX_AGE_S = 3600


def cookie_storage(settings: Settings) -> EncryptedCookieStorage:
    """The encrypted session cookie: HttpOnly, SameSite=Lax, Secure when served over https."""
    secure = urlsplit(settings.public_base_url or "").scheme == "https"
    return EncryptedCookieStorage(
        Fernet(settings.resolved_dashboard_key()),
        cookie_name=COOKIE_NAME,
        path=PREFIX,
        httponly=True,
        samesite="Lax",
        secure=secure,
        max_age=None,  # a browser-session cookie; the idle time-out is kept on our side
    )


def create_dashboard_app(
    container: Any, settings: Settings, *, on_staff_change: StaffChanged | None = None
) -> web.Application:
    """The /dashboard sub-application over ``container`` (read per request).

    ``on_staff_change`` is called with a staff member whose role changed (or who was added or
    removed), so their chat menu follows at once; without it, it follows at the next start.
    """
    app = web.Application(
        middlewares=[
            # before the CSRF check, which reads the form
            bulk_body_size(settings, views_bulk.UPLOAD),
            browser_headers,
            session_middleware(cookie_storage(settings)),
            auth.signed_in,
            csrf_check,
        ]
    )
    app[CONTAINER_KEY] = container
    app[SETTINGS_KEY] = settings
    app[STAFF_CHANGED_KEY] = on_staff_change
    setup_templates(app)
    # the live record pages' streams end at shutdown, not after the shutdown time-out
    app[live.LIVE_KEY] = streams = live.LiveStreams()
    app.on_shutdown.append(streams.close)
    app.router.add_static("/static/", HERE / "static", name="static", append_version=True)
    auth.add_routes(app.router)
    for page in PAGES:
        page.add_routes(app.router)
    app.on_response_prepare.append(_cache_static)
    return app


async def _cache_static(request: web.Request, response: web.StreamResponse) -> None:
    # CSS and scripts hold nothing personal, and their URLs change with their content
    if request.path.startswith(f"{PREFIX}/static/"):
        response.headers["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE_S}"


def setup_dashboard(
    app: web.Application,
    container: Any,
    settings: Settings,
    *,
    on_staff_change: StaffChanged | None = None,
) -> web.Application:
    """Mount the dashboard under /dashboard of ``app`` (and /dashboard itself redirects)."""
    dashboard = create_dashboard_app(container, settings, on_staff_change=on_staff_change)
    app.add_subapp(PREFIX, dashboard)

    async def to_overview(_: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{PREFIX}/")

    app.router.add_get(PREFIX, to_overview)
    return dashboard
