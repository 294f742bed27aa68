"""What every page a browser opens here carries: the security headers, on errors too."""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import MutableMapping

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # sign-in links and order codes are in URLs: never hand one to another site ("no-referrer"
    # would also make Chromium send "Origin: null" with a page's own forms, which the origin
    # checks refuse: the browser tests found every payment refused as "sent from another website")
    "Referrer-Policy": "same-origin",
    # pages show names, phones and amounts: no copy in any cache (static files say otherwise)
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def content_security_policy(*, img_src: str = "'self'") -> str:
    """No inline script or style anywhere: scripts, styles and images come from this server."""
    return (
        f"default-src 'none'; script-src 'self'; style-src 'self'; img-src {img_src}; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def browser_headers(headers: Mapping[str, str]) -> Middleware:
    """A middleware giving every answer, errors included, ``headers`` it does not set itself."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _set_default(exc.headers, headers)
            raise
        _set_default(response.headers, headers)
        return response

    return middleware


def _set_default(target: MutableMapping[str, str], headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        target.setdefault(name, value)
