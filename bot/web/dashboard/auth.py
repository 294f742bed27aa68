"""Signing in to the dashboard: the one-time link from the bot, the session, roles, Sign out.

``/dashboard`` in the chat gives a staff member a link PUBLIC_BASE_URL/dashboard/login/<token>.
Opening it shows who it signs in; pressing the button uses it (a link preview or a scanner that
only fetches the page cannot). The session cookie is encrypted (aiohttp-session, Fernet) and
holds a random session token; each request looks that session and the staff record up again.

Routes: ``GET /login`` (how to sign in), ``GET|POST /login/{token}``, ``POST /logout``.
Handlers of the pages use ``@requires("cashier")`` (any staff) or ``@requires("admin")``.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable
from collections.abc import Callable

from aiohttp import web
from aiohttp_session import get_session
from aiohttp_session import new_session

from bot.services.dashboard import LinkRefused
from bot.services.errors import NotAllowed
from bot.web.dashboard.keys import CONTAINER_KEY
from bot.web.dashboard.keys import PREFIX
from bot.web.dashboard.keys import SESSION_CSRF
from bot.web.dashboard.keys import SESSION_TOKEN
from bot.web.dashboard.keys import SETTINGS_KEY
from bot.web.dashboard.render import render
from bot.web.dashboard.security import client_of
from models import StaffRole

__all__ = ["CONTAINER_KEY", "SETTINGS_KEY", "add_routes", "requires", "signed_in"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROLES = {"cashier": None, "admin": StaffRole.ADMIN}
LOGIN_PATH = f"{PREFIX}/login"
STATIC_PATH = f"{PREFIX}/static/"
LINK_STATUS = {"used": 410, "expired": 410, "unknown": 404, "not_staff": 403}
FORBIDDEN = "Only an admin can open this page; ask one of the shop's admins."


@web.middleware
async def signed_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Put the signed-in staff member (or None) and the CSRF token on the request."""
    if request.path.startswith(STATIC_PATH):
        return await handler(request)
    session = await get_session(request)
    csrf = session.get(SESSION_CSRF)
    if not isinstance(csrf, str) or not csrf:
        csrf = secrets.token_urlsafe(32)
        session[SESSION_CSRF] = csrf
    request["csrf"] = csrf
    token = session.get(SESSION_TOKEN)
    staff = None
    if isinstance(token, str):
        staff = await request.app[CONTAINER_KEY].dashboard.current(token)
        if staff is None:
            # ended: signed out elsewhere, idle too long, or no longer staff
            del session[SESSION_TOKEN]
    request["staff"] = staff
    return await handler(request)


def requires(role: str) -> Callable[[Handler], Handler]:
    """Let only signed-in staff through; "admin" pages answer others 403 (audited, no data)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    wanted = ROLES[role]

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            staff = request.get("staff")
            if staff is None:
                raise web.HTTPSeeOther(LOGIN_PATH)
            if wanted is not None:
                try:
                    # the same check as every chat command (refusals are audited there)
                    await request.app[CONTAINER_KEY].dashboard.require(
                        staff, wanted, action=f"dashboard:{request.path}"[:64]
                    )
                except NotAllowed:
                    return forbidden(request)
            return await handler(request)

        return guarded

    return decorate


def forbidden(request: web.Request) -> web.Response:
    """The 403 page: says why, shows nothing else."""
    return render(request, "message.html", status=403, title="Not allowed", message=FORBIDDEN)


async def how_to_sign_in(request: web.Request) -> web.StreamResponse:
    """GET /login: sign in through the bot (or straight on, when already signed in)."""
    if request.get("staff") is not None:
        raise web.HTTPSeeOther(f"{PREFIX}/")
    services = request.app[CONTAINER_KEY]
    return render(
        request,
        "signin.html",
        bot_username=getattr(services, "bot_username", None),
        ttl_min=max(1, request.app[SETTINGS_KEY].dashboard_link_ttl_s // 60),
        signed_out=request.query.get("signed_out") == "1",
    )


def _refused(request: web.Request, exc: LinkRefused) -> web.Response:
    return render(
        request,
        "message.html",
        status=LINK_STATUS.get(exc.reason, 403),
        title="This link cannot sign you in",
        message=str(exc),
    )


async def link_page(request: web.Request) -> web.StreamResponse:
    """GET /login/{token}: who this link signs in, and the button that uses it."""
    services = request.app[CONTAINER_KEY]
    try:
        preview = await services.dashboard.preview(request.match_info["token"])
    except LinkRefused as exc:
        return _refused(request, exc)
    return render(request, "login.html", preview=preview, who=preview.staff)


async def use_link(request: web.Request) -> web.StreamResponse:
    """POST /login/{token}: use the link once, open a fresh session, go to the overview."""
    services = request.app[CONTAINER_KEY]
    try:
        signed = await services.dashboard.sign_in(
            request.match_info["token"], client=client_of(request)
        )
    except LinkRefused as exc:
        return _refused(request, exc)
    # a new session (new cookie, new CSRF token): nothing from before sign-in carries over
    session = await new_session(request)
    session[SESSION_TOKEN] = signed.token
    session[SESSION_CSRF] = secrets.token_urlsafe(32)
    log.info("dashboard.signed_in staff=%s", signed.staff.id)
    raise web.HTTPSeeOther(f"{PREFIX}/")


async def sign_out(request: web.Request) -> web.StreamResponse:
    """POST /logout: end the session here and in the database."""
    session = await get_session(request)
    token = session.get(SESSION_TOKEN)
    await request.app[CONTAINER_KEY].dashboard.sign_out(token if isinstance(token, str) else None)
    session.invalidate()
    raise web.HTTPSeeOther(f"{LOGIN_PATH}?signed_out=1")


def add_routes(router: web.UrlDispatcher) -> None:
    """The sign-in and sign-out routes."""
    router.add_get("/login", how_to_sign_in, name="login")
    router.add_get("/login/{token}", link_page, name="login_link")
    router.add_post("/login/{token}", use_link)
    router.add_post("/logout", sign_out, name="logout")
