"""Builds the aiohttp application: callback routes, health, metrics, the shop API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bot.config import Settings
from bot.services.callback_batch import IngestBatcher
from bot.web import routes
from bot.web.api import register_api
from bot.web.dashboard import setup_dashboard
from bot.web.dashboard.keys import StaffChanged
from bot.web.middlewares import AllowList
from bot.web.middlewares import ClientAddress
from bot.web.middlewares import security_headers
from bot.web.pay import register_pay_page

log = logging.getLogger(__name__)

# Daraja callbacks are a few KiB; anything larger is refused before it is read
MAX_BODY_BYTES = 64 * 1024


def create_app(
    services: Any, *, settings: Settings, on_staff_change: StaffChanged | None = None
) -> web.Application:
    """The web application for ``services`` (needs .callbacks, .reports and .reconciler).

    ``on_staff_change`` refreshes a staff member's chat menu after a dashboard staff change.
    """
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[security_headers])
    app[routes.SERVICES] = services
    app[routes.CLIENT_ADDRESS] = ClientAddress(settings.trusted_proxies)
    networks = settings.allowed_callback_networks
    app[routes.ALLOW_LIST] = AllowList(networks)
    routes.register(app, secret=settings.resolved_callback_secret(), airtel=settings.airtel_enabled)
    register_api(app, settings=settings)
    if getattr(services, "checkout", None) is not None:
        register_pay_page(app, settings=settings)
    if settings.dashboard_enabled and hasattr(services, "dashboard"):
        setup_dashboard(app, services, settings, on_staff_change=on_staff_change)
    _add_ingest_batcher(app, services, settings)
    log.info(
        "web.ready callback_allow_list=%s trusted_proxies=%d",
        f"{len(networks)} networks" if networks else "off (everyone may post)",
        len(settings.trusted_proxies),
    )
    return app


def _add_ingest_batcher(app: web.Application, services: Any, settings: Settings) -> None:
    """Group-commit STK callbacks when the real Notifier is there and no query must confirm them."""
    notifier = getattr(services, "notifier", None)
    if notifier is None or settings.confirm_by_query:
        return  # each callback is then stored and applied on its own, in its request
    batcher = IngestBatcher(
        services.callbacks, notifier=notifier, confirm_by_query=settings.confirm_by_query
    )
    app[routes.INGEST_BATCHER] = batcher

    async def drain(_: web.Application) -> None:
        # on_shutdown runs before the cleanup contexts, so the database is still open here
        # whatever order they were added in; callbacks arriving later are applied inline
        await batcher.close()

    async def writer(_: web.Application) -> AsyncIterator[None]:
        async for _step in batcher.run():
            yield

    app.on_shutdown.append(drain)
    app.cleanup_ctx.append(writer)
