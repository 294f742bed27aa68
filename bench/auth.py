"""Failed API authentication: a wrong secret for a real key prefix and an unknown prefix must take
the same time (else the timing tells an attacker which prefixes exist), measured as medians.

The real web app serves on SQLite in this process; one client sends the cases interleaved, one
request at a time, so both see the same machine load. A valid key is the baseline.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from random import Random

import aiohttp
from aiohttp import web

from bench.common import Figure
from bench.common import median
from bench.ingest_server import NoDaraja
from bench.ingest_server import bench_settings
from bot.services.container import build_services
from bot.web.app import create_app
from models.db import close_db
from models.db import init_db
from models.db import migrate

HISTORY = "/api/v1/payments/history"
ROUNDS = 400
QUICK_ROUNDS = 40
# the ratio of the two failure medians that counts as "the same time"
SAME_TIME = (0.9, 1.1)
shuffle = Random(17).shuffle  # the same sequence of orders in every run


async def measure(rounds: int) -> dict[str, float]:
    """Median milliseconds per case: valid key, wrong secret of a real prefix, unknown prefix."""
    with tempfile.TemporaryDirectory(prefix="mpesa-bot-bench-auth-") as tmp:
        settings = bench_settings(Path(tmp), 0, "bench-callback-secret-0123").model_copy(
            # measure the authentication path itself, not the throttle in front of it
            update={
                "api_rate_limit_per_minute": 1_000_000,
                "api_auth_failures_per_minute": 1_000_000,
            }
        )
        await migrate(settings.resolved_database_url)
        await init_db(settings.resolved_database_url)
        try:
            services = build_services(settings, daraja=NoDaraja(), channels={})
            _, token = await services.api_keys.create("bench")
            scheme, prefix, _ = token.split("_", 2)
            wrong_secret = f"{scheme}_{prefix}_{secrets.token_urlsafe(32)}"
            unknown_prefix = f"{scheme}_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
            runner = web.AppRunner(create_app(services, settings=settings), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            cases = {"valid": token, "wrong_secret": wrong_secret, "unknown_prefix": unknown_prefix}
            times: dict[str, list[float]] = {name: [] for name in cases}
            try:
                async with aiohttp.ClientSession(f"http://{host}:{port}") as http:
                    order = list(cases.items())
                    for _ in range(rounds):
                        # a new order each round: the case right after the valid one (whose
                        # last_used_at write is still settling) is not always the same one
                        shuffle(order)
                        for name, key in order:
                            headers = {"Authorization": f"Bearer {key}"}
                            start = time.perf_counter()
                            async with http.get(HISTORY, headers=headers) as response:
                                await response.read()
                            times[name].append((time.perf_counter() - start) * 1000)
                            expected = 200 if name == "valid" else 401
                            if response.status != expected:
                                raise AssertionError(f"{name}: HTTP {response.status}")
            finally:
                await runner.cleanup()
        finally:
            await close_db()
    # the first rounds warm caches and connections: leave them out
    skip = rounds // 10
    return {name: median(values[skip:]) for name, values in times.items()}


async def run(*, quick: bool = False) -> list[Figure]:
    """The authentication timing figures."""
    medians = await measure(QUICK_ROUNDS if quick else ROUNDS)
    ratio = medians["wrong_secret"] / medians["unknown_prefix"]
    low, high = SAME_TIME
    return [
        Figure(
            "API auth failure: wrong secret / unknown prefix (median)",
            f"{ratio:.2f} ({medians['wrong_secret']:.2f} ms / {medians['unknown_prefix']:.2f} ms)",
            f"{low:g}–{high:g}",
            low <= ratio <= high,
        ),
        Figure("— a valid key, same run (median)", f"{medians['valid']:.2f} ms"),
    ]
