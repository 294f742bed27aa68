"""How large a request body may be: the server's small limit, except for a bulk payout batch."""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable

from aiohttp import web

from bot.config import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

ENVELOPE_BYTES = 64 * 1024  # the multipart envelope and the batch's description


def bulk_body_size(settings: Settings, route_name: str) -> Middleware:
    """A middleware letting only the route named ``route_name`` take a body as large as
    BULK_MAX_FILE_BYTES (a bulk file or its JSON rows); every other request keeps the server's
    small body limit."""
    limit = settings.bulk_max_file_bytes + ENVELOPE_BYTES

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.route.name == route_name:
            request = request.clone(client_max_size=limit)
        return await handler(request)

    return middleware
