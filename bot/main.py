"""Composition root: builds the whole service from the settings and runs it in one process."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import signal
from collections.abc import AsyncIterator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web
from telegram.ext import Application
from telegram.request import BaseRequest
from telegram.request import HTTPXRequest

from airtel.client import AirtelClient
from bot.config import Settings
from bot.notify.channels import Channel
from bot.notify.emails import EmailComposer
from bot.notify.sms import build_sms_channel
from bot.notify.smtp import build_email_channel
from bot.services.container import Services
from bot.services.container import build_services
from bot.services.container import daraja_config
from bot.startup import AIRTEL_SIMULATOR_ID
from bot.startup import AIRTEL_SIMULATOR_SECRET
from bot.startup import SIMULATOR_KEY
from bot.startup import SIMULATOR_SECRET
from bot.startup import StartupError
from bot.startup import airtel_credentials
from bot.startup import build_airtel
from bot.startup import daraja_credentials
from bot.startup import resolve_public_base_url
from bot.telegram.app import build_application
from bot.telegram.app import schedule_jobs
from bot.telegram.chat_channel import TelegramChatChannel
from bot.telegram.menus import publish_commands
from bot.telegram.menus import update_menu
from bot.web import telegram_webhook
from bot.web.app import create_app
from bot.web.middlewares import redacting_access_logger
from models import NotificationChannel
from models.db import close_db
from models.db import init_db
from mpesa.client import DarajaClient

# what the start-up needs lives in bot/startup.py (shared with bot/checks.py); named here too
__all__ = [
    "AIRTEL_SIMULATOR_ID",
    "AIRTEL_SIMULATOR_SECRET",
    "SIMULATOR_KEY",
    "SIMULATOR_SECRET",
    "Runtime",
    "StartupError",
    "airtel_credentials",
    "build_airtel",
    "build_runtime",
    "configure_logging",
    "daraja_credentials",
    "resolve_public_base_url",
    "run",
    "serve",
    "webhook_secret",
]

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 10.0


@dataclass
class Runtime:
    """Everything one running process holds."""

    settings: Settings
    services: Services
    daraja: DarajaClient
    airtel: AirtelClient | None
    ptb: Application
    web_app: web.Application
    channels: dict[NotificationChannel, Channel]


def configure_logging(level: str) -> None:
    """key=value text logs; libraries that log secrets or raw data stay at WARNING."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s", force=True
    )
    # the format names no source line, thread or process: skip finding them for every record
    # (the logging HOWTO's "Optimization"); a callback costs two records
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # URLs carrying the bot token; SQL with its parameters and whole chat updates (phones,
    # contacts, receipts) at DEBUG: never in our logs, whatever LOG_LEVEL says
    for noisy, quietest in (
        ("httpx", logging.WARNING),
        ("httpcore", logging.WARNING),
        ("telegram.ext.ExtBot", logging.WARNING),
        ("telegram.ext.Application", logging.INFO),
        ("telegram.ext.Updater", logging.INFO),
        ("apscheduler", logging.WARNING),
        ("tortoise.db_client", logging.WARNING),
        ("aiosqlite", logging.WARNING),
        ("asyncpg", logging.WARNING),
    ):
        logging.getLogger(noisy).setLevel(quietest)


async def build_runtime(
    settings: Settings,
    *,
    telegram_request: BaseRequest | None = None,
    daraja_http: httpx.AsyncClient | None = None,
    airtel_http: httpx.AsyncClient | None = None,
    sms_channel: Channel | None = None,
    email_channel: Channel | None = None,
) -> Runtime:
    """Build services, the Daraja client, the bot and the web app (nothing started yet)."""
    if settings.telegram_bot_token is None:
        raise StartupError("TELEGRAM_BOT_TOKEN is not set: get one from @BotFather")
    for warning in settings.warnings():
        log.warning("settings.warning %s", warning)
    settings = resolve_public_base_url(settings)
    key, secret, passkey = daraja_credentials(settings)
    config = daraja_config(settings, consumer_key=key, consumer_secret=secret, passkey=passkey)
    timeout = httpx.Timeout(settings.mpesa_timeout_s, connect=5.0, pool=5.0)
    # one TLS context for every client of the process: each new one reads the CA bundle again
    tls = httpx.create_ssl_context()
    daraja = DarajaClient(config, http=daraja_http, timeout=timeout, verify=tls)
    airtel = build_airtel(settings, http=airtel_http)
    # the chat channel needs the bot, which needs the services, which need the channel: the
    # channel is created first and bound once the bot exists
    chat = TelegramChatChannel()
    channels: dict[NotificationChannel, Channel] = {
        NotificationChannel.SMS: sms_channel or build_sms_channel(settings),
        NotificationChannel.CHAT: chat,
        NotificationChannel.EMAIL: email_channel
        or build_email_channel(settings, EmailComposer(settings)),
    }
    services = build_services(settings, daraja=daraja, airtel=airtel, channels=channels)
    webhook = settings.telegram_webhook_url
    ptb = build_application(
        settings,
        services,
        # PTB's own two requests and pool sizes (256 and 1), on the shared TLS context
        request=telegram_request
        or HTTPXRequest(connection_pool_size=256, httpx_kwargs={"verify": tls}),
        get_updates_request=telegram_request
        or HTTPXRequest(connection_pool_size=1, httpx_kwargs={"verify": tls}),
        polling=webhook is None,
    )
    chat.bind(ptb.bot, services)
    # a role changed on the dashboard shows in the person's chat menu at once, as with /staff
    web_app = create_app(
        services, settings=settings, on_staff_change=functools.partial(update_menu, ptb.bot)
    )
    runtime = Runtime(settings, services, daraja, airtel, ptb, web_app, channels)
    if webhook is not None:
        path = telegram_webhook.register(
            web_app, ptb, webhook_url=webhook, secret=webhook_secret(settings)
        )
        log.info("telegram.mode webhook path=%s", _redact(path, settings))
    else:
        log.info("telegram.mode polling api=%s", settings.telegram_api_base_url)
    web_app.cleanup_ctx.extend(
        [_database_ctx(runtime), _daraja_ctx(runtime), _telegram_ctx(runtime)]
    )
    return runtime


def webhook_secret(settings: Settings) -> str:
    """TELEGRAM_WEBHOOK_SECRET, else one derived from the callback secret."""
    if settings.telegram_webhook_secret is not None:
        return settings.telegram_webhook_secret.get_secret_value()
    return telegram_webhook.derive_webhook_secret(settings.resolved_callback_secret())


def _redact(text: str, settings: Settings) -> str:
    return text.replace(settings.resolved_callback_secret(), "<secret>")


def _database_ctx(runtime: Runtime) -> Callable[[web.Application], AsyncIterator[None]]:
    async def database(_: web.Application) -> AsyncIterator[None]:
        await init_db(runtime.settings.resolved_database_url)
        await runtime.services.staff.bootstrap_admins()
        yield
        await close_db()

    return database


def _daraja_ctx(runtime: Runtime) -> Callable[[web.Application], AsyncIterator[None]]:
    async def daraja(_: web.Application) -> AsyncIterator[None]:
        yield
        await runtime.daraja.aclose()
        if runtime.airtel is not None:
            await runtime.airtel.aclose()

    return daraja


def _telegram_ctx(runtime: Runtime) -> Callable[[web.Application], AsyncIterator[None]]:
    async def telegram(_: web.Application) -> AsyncIterator[None]:
        settings, ptb = runtime.settings, runtime.ptb
        async with ptb:  # initialize() ... shutdown()
            schedule_jobs(ptb, runtime.services, settings)
            await ptb.start()
            if settings.telegram_webhook_url:
                await ptb.bot.set_webhook(
                    settings.telegram_webhook_url,
                    secret_token=webhook_secret(settings),
                    allowed_updates=["message", "callback_query"],
                )
            else:
                await ptb.updater.start_polling(allowed_updates=["message", "callback_query"])
            runtime.services.bot_username = ptb.bot.username
            await publish_commands(ptb, runtime.services)
            log.info("telegram.ready bot=@%s", ptb.bot.username)
            yield
            if ptb.updater is not None and ptb.updater.running:
                await ptb.updater.stop()
            await ptb.stop()
            # hand over what is due now; the rest waits in the outbox for the next start
            await runtime.services.outbox.run_once()

    return telegram


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event,
    telegram_request: BaseRequest | None = None,
    sms_channel: Channel | None = None,
    email_channel: Channel | None = None,
    on_ready: Callable[[Runtime, str], Any] | None = None,
) -> None:
    """Run the bot, web server and jobs until ``stop`` is set; then shut down gracefully."""
    runtime = await build_runtime(
        settings,
        telegram_request=telegram_request,
        sms_channel=sms_channel,
        email_channel=email_channel,
    )
    secret = runtime.settings.resolved_callback_secret()
    runner = web.AppRunner(
        runtime.web_app,
        access_log_class=redacting_access_logger(secret),
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.web_host, settings.web_port)
        await site.start()
        if not gc.isenabled():
            # the command line held the cyclic collector off through start-up (bot.cli.main):
            # what start-up built lives as long as the process, so it is set aside, not walked
            gc.freeze()
            gc.enable()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}"
        log.info("web.listening url=%s public=%s", url, runtime.settings.public_base_url)
        if on_ready is not None:
            on_ready(runtime, url)
        await stop.wait()
        log.info("shutdown.begin")
    finally:
        # stops accepting, lets in-flight callbacks finish, then closes bot, Daraja and database
        await runner.cleanup()
        log.info("shutdown.done")


def run(settings: Settings) -> None:
    """`mpesa-bot run`: serve until SIGINT or SIGTERM."""
    configure_logging(settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop=stop)

    asyncio.run(main())
