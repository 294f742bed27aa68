"""The dashboard sub-application's keys and names, shared by its modules."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.config import Settings

# the services container (bot.services.container.Services, or a stand-in in tests)
CONTAINER_KEY: web.AppKey[Any] = web.AppKey("dashboard_services", object)
SETTINGS_KEY: web.AppKey[Settings] = web.AppKey("dashboard_settings", Settings)
JINJA_KEY: web.AppKey[Any] = web.AppKey("dashboard_jinja", object)

PREFIX = "/dashboard"
COOKIE_NAME = "mpesa_dashboard"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# in the encrypted cookie: the session token (its hash is in the database) and the CSRF token
SESSION_TOKEN = "sid"  # noqa: S105 - the name of a cookie field, not a secret
SESSION_CSRF = "csrf"
