"""The servers the ingest benchmark loads: the real callback app on SQLite, or a bare handler.

``python -m bench.ingest_server real --data-dir D --port P --secret S [--profile FILE]`` serves
the product's web app (services, routes, middlewares, access log and INFO logging exactly as
``mpesa-bot run`` configures them; no Telegram, no outbox delivery). ``... bare --port P`` serves
an aiohttp handler that only parses the JSON and answers. Both stop on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from tortoise import connections

from bot.config import Settings
from bot.main import SHUTDOWN_TIMEOUT_S
from bot.main import configure_logging
from bot.notify.sms import build_sms_channel
from bot.services.container import build_services
from bot.web.app import create_app
from bot.web.middlewares import redacting_access_logger
from models import NotificationChannel
from models.db import close_db
from models.db import init_db

ACK = {"ResultCode": 0, "ResultDesc": "Accepted"}

log = logging.getLogger("bench.ingest_server")


class NoDaraja:
    """Stands in for Daraja: applying a callback with confirm-by-query off never calls it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the ingest benchmark must not call Daraja ({name})")


def bench_settings(
    data_dir: Path,
    port: int,
    secret: str,
    *,
    sqlite_options: str | None = None,
    database_url: str | None = None,
) -> Settings:
    """Settings for the benchmark server: SQLite under ``data_dir`` (or ``database_url``),
    confirm-by-query off."""
    if sqlite_options:
        # an experiment: the product's own URL options plus these (Tortoise makes them PRAGMAs)
        path = data_dir / "mpesa-bot.sqlite3"
        database_url = f"sqlite://{path}?journal_mode=WAL&busy_timeout=5000&{sqlite_options}"
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        callback_secret=secret,
        web_host="127.0.0.1",
        web_port=port,
        public_base_url=f"http://127.0.0.1:{port}",
        mpesa_base_url="http://127.0.0.1:9",
        mpesa_confirm_by_query=False,
    )


def real_app(settings: Settings) -> web.Application:
    """The product's web app over real services, with the database opened and closed by it."""
    services = build_services(
        settings,
        daraja=NoDaraja(),
        channels={NotificationChannel.SMS: build_sms_channel(settings)},
    )
    app = create_app(services, settings=settings)

    async def database(_: web.Application) -> AsyncIterator[None]:
        await init_db(settings.resolved_database_url)
        log.info("bench.durability %s", await durability())
        yield
        await close_db()

    app.cleanup_ctx.append(database)
    return app


async def durability() -> str:
    """How the open database commits: SQLite's synchronous, PostgreSQL's synchronous_commit."""
    db = connections.get("default")
    if db.capabilities.dialect == "postgres":
        rows = await db.execute_query_dict("SHOW synchronous_commit")
        return f"synchronous_commit={rows[0]['synchronous_commit']}"
    rows = await db.execute_query_dict("PRAGMA synchronous")
    level = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(rows[0]["synchronous"], "?")
    journal = (await db.execute_query_dict("PRAGMA journal_mode"))[0]["journal_mode"]
    return f"synchronous={level} journal_mode={journal}"


def bare_app() -> web.Application:
    """An aiohttp app whose one handler parses the JSON body and answers the Daraja ACK."""

    async def handler(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.json_response(ACK)

    app = web.Application()
    app.router.add_post("/hooks/{secret}/stk", handler)
    app.router.add_get("/healthz", lambda _: _healthy())
    return app


async def _healthy() -> web.Response:
    return web.json_response({"status": "ok"})


async def serve(
    app: web.Application, port: int, *, access_log_class: Any = None, access_log: bool = True
) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    kwargs: dict[str, Any] = {"shutdown_timeout": SHUTDOWN_TIMEOUT_S}
    if access_log_class is not None:
        kwargs["access_log_class"] = access_log_class
    if not access_log:
        kwargs["access_log"] = None
    runner = web.AppRunner(app, **kwargs)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the chosen app."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_server")
    parser.add_argument("kind", choices=["real", "bare"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--database-url", help="instead of SQLite under --data-dir")
    parser.add_argument("--secret", default="bench-secret-0123456789")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--profile", type=Path, help="write cProfile stats here on exit")
    # experiments for the bottleneck hunt; the benchmark itself runs the product's defaults
    parser.add_argument("--switch-interval", type=float, help="sys.setswitchinterval, seconds")
    parser.add_argument("--sqlite-options", help="extra SQLite URL options: synchronous=NORMAL")
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    if args.kind == "bare":
        coro = serve(bare_app(), args.port)
    else:
        settings = bench_settings(
            args.data_dir,
            args.port,
            args.secret,
            sqlite_options=args.sqlite_options,
            database_url=args.database_url,
        )
        coro = serve(
            real_app(settings),
            args.port,
            access_log_class=redacting_access_logger(args.secret),
            access_log=not args.no_access_log,
        )
    if args.profile is None:
        asyncio.run(coro)
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(coro)
    finally:
        profiler.disable()
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
