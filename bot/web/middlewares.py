"""Who is calling: the client address (trusting only our proxies), the allow-list, quiet logs."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(items: Iterable[str]) -> tuple[Network, ...]:
    """IP networks from settings strings ("196.201.214.200", "10.0.0.0/8")."""
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items)


def in_networks(address: str, networks: tuple[Network, ...]) -> bool:
    """True when ``address`` is an IP inside one of ``networks`` (garbage is never inside)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


class ClientAddress:
    """Finds the client: the peer, or the last untrusted X-Forwarded-For hop via our proxies."""

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted = parse_networks(trusted_proxies)

    def __call__(self, request: web.Request) -> str:
        """The client address for this request (empty string if unknown)."""
        peer = request.remote or ""
        if not self._trusted or not in_networks(peer, self._trusted):
            # a header from anyone else is just text they chose
            return peer
        hops = [
            hop.strip()
            for header in request.headers.getall("X-Forwarded-For", [])
            for hop in header.split(",")
            if hop.strip()
        ]
        # walk back from our side: the first hop that is not one of our proxies is the client
        for hop in reversed(hops):
            if not in_networks(hop, self._trusted):
                return hop
        return hops[0] if hops else peer


class AllowList:
    """Source networks allowed to post callbacks; empty allows everyone."""

    def __init__(self, networks: Iterable[str]) -> None:
        self._networks = parse_networks(networks)

    def allows(self, address: str) -> bool:
        """True when ``address`` may post callbacks."""
        return not self._networks or in_networks(address, self._networks)


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer without caching or content sniffing; nothing here is for browsers."""
    response = await handler(request)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


class RedactingAccessLogger(AbstractAccessLogger):
    """Access log lines without the callback secret (pass as ``access_log_class`` to the runner)."""

    secret: str = ""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = request.path
        if self.secret:
            path = path.replace(self.secret, "<secret>")
        self.logger.info(
            "http method=%s path=%s status=%s remote=%s ms=%.1f",
            request.method,
            path,
            response.status,
            request.remote,
            time * 1000,
        )


def redacting_access_logger(secret: str) -> type[RedactingAccessLogger]:
    """An access logger class that hides ``secret`` in logged paths."""
    return type("SecretRedactingAccessLogger", (RedactingAccessLogger,), {"secret": secret})
