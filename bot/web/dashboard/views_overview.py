"""The overview page: what came in and went out, and what needs someone's attention."""

from __future__ import annotations

from aiohttp import web

from bot.web.dashboard.auth import requires
from bot.web.dashboard.keys import CONTAINER_KEY
from bot.web.dashboard.render import render


@requires("cashier")
async def overview(request: web.Request) -> web.StreamResponse:
    """GET /dashboard/: today's figures."""
    stats = await request.app[CONTAINER_KEY].reports.stats("today")
    return render(request, "overview.html", stats=stats)


def add_routes(router: web.UrlDispatcher) -> None:
    """The overview route."""
    router.add_get("/", overview, name="overview")
