"""What keeps the public payment page safe: CSRF tokens, browser security headers, a miss limit.

The CSRF token needs no session: it is an HMAC of the order code and the time it was issued,
keyed by a secret derived from the callback secret, so any instance can check it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import deque
from collections.abc import Callable

from aiohttp import web

from bot.web import browser

TOKEN_LIFETIME_S = 12 * 3600
HEADERS = {**browser.HEADERS, "Content-Security-Policy": browser.content_security_policy()}


class CsrfTokens:
    """Issues and checks the form tokens of the payment page (bound to one order code)."""

    def __init__(self, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self._key = hashlib.sha256(b"mpesa-bot pay page csrf\0" + secret.encode()).digest()
        self._clock = clock

    def issue(self, code: str) -> str:
        """A token for forms of the order ``code``, valid for TOKEN_LIFETIME_S."""
        issued = str(int(self._clock()))
        return f"{issued}.{self._sign(code, issued)}"

    def valid(self, code: str, token: str | None) -> bool:
        """True for a token this server issued for ``code`` that has not expired."""
        issued, _, signature = (token or "").partition(".")
        if not issued.isdigit() or not signature:
            return False
        age = self._clock() - int(issued)
        if not 0 <= age <= TOKEN_LIFETIME_S:
            return False
        return hmac.compare_digest(signature, self._sign(code, issued))

    def _sign(self, code: str, issued: str) -> str:
        message = f"{code.upper()}\0{issued}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]


class MissLimiter:
    """Refuses an address that keeps opening codes that do not exist (guessing links)."""

    def __init__(
        self, *, limit: int = 30, window_s: float = 3600.0, clock: Callable[[], float] = time.time
    ) -> None:
        self._limit = limit
        self._window = window_s
        self._clock = clock
        self._misses: dict[str, deque[float]] = {}

    def blocked(self, address: str) -> bool:
        """True once ``address`` has missed ``limit`` times within the window."""
        misses = self._recent(address)
        return len(misses) >= self._limit

    def miss(self, address: str) -> None:
        """Count one unknown code opened by ``address``."""
        self._recent(address).append(self._clock())
        if len(self._misses) > 10_000:  # bounded memory under a scan from many addresses
            oldest = next(iter(self._misses))
            del self._misses[oldest]

    def _recent(self, address: str) -> deque[float]:
        misses = self._misses.setdefault(address, deque())
        while misses and misses[0] < self._clock() - self._window:
            misses.popleft()
        return misses


browser_headers = browser.browser_headers(HEADERS)
"""Every answer of the payment page, errors included, carries the security headers."""


def same_origin(request: web.Request) -> bool:
    """False when the browser says the form came from another site (Origin or Referer)."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        # old browsers send none; the CSRF token still has to be right
        return origin is None
    host = origin.split("://", 1)[-1].rstrip("/")
    return host == request.host
