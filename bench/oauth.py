"""Token single flight: many concurrent ``access_token()`` calls make exactly one OAuth request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from collections.abc import Callable

from aiohttp import web

from bench.common import Figure
from bot.callback_paths import callback_urls
from mpesa.client import OAUTH_PATH
from mpesa.client import DarajaClient
from mpesa.client import DarajaConfig
from mpesa.simulator import SANDBOX_PASSKEY
from mpesa.simulator import SANDBOX_SHORTCODE
from mpesa.simulator import SimulatorConfig
from mpesa.simulator import create_simulator

CALLS = 1_000


async def count_oauth_requests(calls: int = CALLS) -> tuple[int, int, float]:
    """Fire ``calls`` concurrent access_token() at the simulator; (OAuth requests, tokens, s)."""
    oauth_requests = 0

    @web.middleware
    async def counter(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        nonlocal oauth_requests
        if request.path == OAUTH_PATH:
            oauth_requests += 1
        return await handler(request)

    simulator = create_simulator(SimulatorConfig())
    simulator.middlewares.insert(0, counter)  # before the app is frozen: count every request
    runner = web.AppRunner(simulator, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    config = DarajaConfig(
        base_url=f"http://{host}:{port}",
        consumer_key="simulator-key",
        consumer_secret="simulator-secret",
        shortcode=SANDBOX_SHORTCODE,
        passkey=SANDBOX_PASSKEY,
        callbacks=callback_urls("http://127.0.0.1:9", "bench-secret"),
    )
    try:
        async with DarajaClient(config) as daraja:
            start = time.perf_counter()
            tokens = await asyncio.gather(*(daraja.access_token() for _ in range(calls)))
            elapsed = time.perf_counter() - start
    finally:
        await runner.cleanup()
    return oauth_requests, len(set(tokens)), elapsed


async def run(*, quick: bool = False) -> list[Figure]:
    """The token benchmark's figures."""
    requests, distinct, elapsed = await count_oauth_requests(CALLS)
    return [
        Figure(
            f"token: OAuth requests for {CALLS:,} concurrent calls",
            f"{requests} ({distinct} distinct token, {elapsed * 1000:.0f} ms)",
            "exactly 1",
            requests == 1 and distinct == 1,
        )
    ]
