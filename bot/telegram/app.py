"""The python-telegram-bot Application: handlers, error handler and jobs."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter
from telegram.ext import Application
from telegram.ext import ApplicationBuilder
from telegram.ext import ContextTypes
from telegram.ext import Defaults
from telegram.request import BaseRequest

from bot.config import Settings
from bot.telegram import customer
from bot.telegram import staff

log = logging.getLogger(__name__)

SERVICES_KEY = "services"
BULK_IDLE_S = 1.0  # between two bulk sending passes


def build_application(
    settings: Settings,
    services: Any,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limit: bool = True,
    polling: bool = True,
) -> Application:
    """Build the bot: handlers over ``services``, HTML by default, rate-limited, with jobs."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    root = settings.telegram_api_base_url.rstrip("/")
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=None))
        .concurrent_updates(True)
    )
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    if rate_limit:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    if not polling:
        builder = builder.updater(None)
    app = builder.build()
    app.bot_data[SERVICES_KEY] = services
    _register_handlers(app, services)
    app.add_error_handler(on_error)
    return app


def build_offline_application(settings: Settings, services: Any, api: BaseRequest) -> Application:
    """The same Application on one request object for every call (the in-process Bot API).

    No rate limiter and no updater: the caller feeds updates to ``process_update`` itself.
    """
    return build_application(
        settings,
        services,
        request=api,
        get_updates_request=api,
        rate_limit=False,
        polling=False,
    )


def _register_handlers(app: Application, services: Any) -> None:
    staff.register(app, services)
    customer.register(app, services)


def schedule_jobs(app: Application, services: Any, settings: Settings) -> None:
    """Reconciliation and outbox delivery as JobQueue jobs (nothing fire-and-forget)."""
    if app.job_queue is None:
        raise RuntimeError("python-telegram-bot was installed without the job-queue extra")
    app.job_queue.run_repeating(
        _reconcile_job, interval=settings.reconcile_interval_s, first=5, name="reconcile"
    )
    # one job per channel: a job does not start again while it runs, and a hung SMS provider
    # must not hold back chat messages
    for channel in services.outbox.channels:
        app.job_queue.run_repeating(
            _outbox_job, interval=1.0, first=1, name=f"outbox:{channel.value}", data=channel
        )
    app.job_queue.run_repeating(
        _schedules_job, interval=settings.schedule_check_interval_s, first=3, name="schedules"
    )
    # a sending pass lasts up to bulk_sender.PASS_S; the next one is queued when it ends, so
    # two passes of one process never overlap
    app.job_queue.run_once(_bulk_job, when=2, name="bulk")
    if services.summaries.enabled:
        # every minute: the summary's outbox key makes it once a day, whoever asks
        app.job_queue.run_repeating(_summary_job, interval=60.0, first=10, name="daily-summary")


async def _bulk_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    try:
        report = await context.application.bot_data[SERVICES_KEY].bulk_sender.run_once()
        if report.sent or report.finished:
            log.info("bulk.pass report=%s", report)
    finally:
        context.job_queue.run_once(_bulk_job, when=BULK_IDLE_S, name="bulk")


async def _schedules_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await context.application.bot_data[SERVICES_KEY].schedules.run_due()


async def _summary_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    days = await context.application.bot_data[SERVICES_KEY].summaries.run_once()
    if days:
        log.debug("summary.due days=%s", ",".join(days))


async def _reconcile_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    report = await context.application.bot_data[SERVICES_KEY].reconciler.run_once()
    log.info("reconcile.pass report=%s", report)


async def _outbox_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    outbox = context.application.bot_data[SERVICES_KEY].outbox
    await outbox.run_once(channels=[context.job.data])


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log once with context, tell the user with a reference, alert admins."""
    reference = secrets.token_hex(4).upper()
    user_id = getattr(getattr(update, "effective_user", None), "id", None)
    log.error(
        "telegram.error ref=%s user=%s update=%s",
        reference,
        user_id,
        type(update).__name__,
        exc_info=context.error,
    )
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(
                update.effective_chat.id,
                "⚠️ Something went wrong on our side. Nothing was charged twice. Please try "
                f"again; if it keeps happening, quote reference <code>{reference}</code>.",
            )
        except TelegramError:
            log.warning("telegram.error_reply_failed ref=%s", reference)
    services = context.application.bot_data.get(SERVICES_KEY)
    if services is not None:
        try:
            await services.notifier.admin_alert(
                f"error:{reference}",
                f"Bot error {reference}: {type(context.error).__name__} (see the logs)",
            )
        except Exception:
            log.exception("telegram.error_alert_failed ref=%s", reference)
