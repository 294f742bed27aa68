"""The dashboard sub-application's keys and names, shared by its modules."""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.config import Settings
from models import Staff

# shows a staff member their role's chat menu at once (bot/telegram/menus.py's update_menu,
# passed in by bot/main.py so the dashboard never imports the chat layer)
StaffChanged = Callable[[Staff], Awaitable[None]]

# the services container (bot.services.container.Services, or a stand-in in tests)
CONTAINER_KEY: web.AppKey[Any] = web.AppKey("dashboard_services", object)
SETTINGS_KEY: web.AppKey[Settings] = web.AppKey("dashboard_settings", Settings)
JINJA_KEY: web.AppKey[Any] = web.AppKey("dashboard_jinja", object)
STAFF_CHANGED_KEY: web.AppKey[StaffChanged | None] = web.AppKey("dashboard_staff_changed", object)

PREFIX = "/dashboard"
COOKIE_NAME = "mpesa_dashboard"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# in the encrypted cookie: the session token (its hash is in the database) and the CSRF token
SESSION_TOKEN = "sid"  # noqa: S105 - the name of a cookie field, not a secret
SESSION_CSRF = "csrf"
