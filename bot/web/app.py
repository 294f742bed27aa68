"""Builds the aiohttp application: callback routes, health, metrics, the shop API."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot.config import Settings
from bot.web import routes
from bot.web.api import register_api
from bot.web.middlewares import AllowList, ClientAddress, security_headers

log = logging.getLogger(__name__)

# Daraja callbacks are a few KiB; anything larger is refused before it is read
MAX_BODY_BYTES = 64 * 1024


def create_app(services: Any, *, settings: Settings) -> web.Application:
    """The web application for ``services`` (needs .callbacks, .reports and .reconciler)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[security_headers])
    app[routes.SERVICES] = services
    app[routes.CLIENT_ADDRESS] = ClientAddress(settings.trusted_proxies)
    networks = settings.allowed_callback_networks
    app[routes.ALLOW_LIST] = AllowList(networks)
    routes.register(app, secret=settings.resolved_callback_secret())
    register_api(app, settings=settings)
    log.info(
        "web.ready callback_allow_list=%s trusted_proxies=%d",
        f"{len(networks)} networks" if networks else "off (everyone may post)",
        len(settings.trusted_proxies),
    )
    return app
