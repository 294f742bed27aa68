"""Staff reports: /history with inline paging, /stats and /export (a CSV document)."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from telegram import InputFile
from telegram import Update
from telegram.ext import Application
from telegram.ext import CallbackQueryHandler
from telegram.ext import CommandHandler
from telegram.ext import ContextTypes
from telegram.ext import filters

from bot.config import Settings
from bot.services.errors import InvalidInput
from bot.services.errors import ServiceError
from bot.services.providers import route_phone
from bot.services.reports import PERIODS
from bot.services.reports import period_bounds
from bot.services.reports import shows_full_numbers
from bot.telegram import staff_keyboards
from bot.telegram import staff_texts
from bot.telegram.staff_base import ANYONE
from bot.telegram.staff_base import StaffHandlerBase
from bot.telegram.staff_base import answer
from bot.telegram.staff_base import chat_of
from bot.telegram.staff_base import edit
from bot.telegram.staff_base import reply
from models import PaymentStatus
from models import PayoutStatus
from mpesa.phone import PhoneError
from mpesa.phone import normalize_msisdn

log = logging.getLogger(__name__)

PAGE_SIZE = 10
PAYOUT_WORDS = ("payouts", "payout", "sent")


@dataclass(frozen=True)
class HistoryQuery:
    """What a /history page lists: payments or payouts, filtered."""

    payouts: bool = False
    period: str | None = None
    status: str | None = None
    msisdn: str | None = None


def parse_history_args(
    args: list[str], extra_prefixes: list[str], settings: Settings | None = None
) -> HistoryQuery:
    """Read /history words in any order: a period, a status, a phone, "payouts"."""
    words = [arg.strip() for arg in args if arg.strip()]
    payouts = any(word.lower() in PAYOUT_WORDS for word in words)
    statuses = {s.value for s in (PayoutStatus if payouts else PaymentStatus)}
    period = status = msisdn = None
    for word in words:
        lower = word.lower()
        if lower in PAYOUT_WORDS:
            continue
        if lower in PERIODS:
            period = lower
        elif lower.replace("-", "_") in statuses:
            status = lower.replace("-", "_")
        elif any(ch.isdigit() for ch in word) and settings is not None:
            # an Airtel number too, when Airtel Money is on (the provider router reads it)
            msisdn = route_phone(word, settings).msisdn
        elif any(ch.isdigit() for ch in word):
            try:
                msisdn = normalize_msisdn(word, extra_prefixes=extra_prefixes)
            except PhoneError as exc:
                raise InvalidInput(str(exc), field="phone") from None
        else:
            known = ", ".join(sorted(statuses))
            raise InvalidInput(
                f"{word[:40]} is not a period, phone or status; statuses are {known}.",
                field="history",
            )
    return HistoryQuery(payouts=payouts, period=period, status=status, msisdn=msisdn)


class ReportHandlers(StaffHandlerBase):
    """Handlers for looking back: history, totals and exports."""

    async def history_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/history [today|week|month] [phone] [status] [payouts]: the newest records, paged."""
        if await self.member(update, ANYONE, "history") is None:
            return
        try:
            settings = self._services.settings
            wanted = parse_history_args(context.args or [], settings.mpesa_extra_prefixes, settings)
            text, buttons = await self._page(wanted, before_id=None)
        except ServiceError as exc:
            await self.refuse(update, exc, staff_texts.USAGE_HISTORY)
            return
        await reply(update, text, buttons)

    async def on_history_page(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """[Older ›] / [« Newest] under a history list: edit it to show that page."""
        query = update.callback_query
        who = await self.refusal_for(query.from_user.id, ANYONE, "history")
        if isinstance(who, str):
            await answer(query, who, alert=True)
            return
        try:
            payouts, period, status, msisdn, before_id = staff_keyboards.parse_history_data(
                query.data or ""
            )
            wanted = HistoryQuery(payouts=payouts, period=period, status=status, msisdn=msisdn)
            text, buttons = await self._page(wanted, before_id=before_id)
        except (ValueError, ServiceError) as exc:
            await answer(query, f"This list cannot be paged: {exc}", alert=True)
            return
        await answer(query)
        await edit(query, text, buttons)

    async def _page(self, wanted: HistoryQuery, *, before_id: int | None) -> tuple[str, Any]:
        reports = self._services.reports
        fetch = reports.payout_history if wanted.payouts else reports.history
        rows = await fetch(
            period=wanted.period,
            msisdn=wanted.msisdn,
            status=wanted.status,
            limit=PAGE_SIZE,
            before_id=before_id,
        )
        line = staff_texts.payout_line if wanted.payouts else staff_texts.payment_line
        header = staff_texts.history_header(
            payouts=wanted.payouts,
            period=wanted.period,
            msisdn=wanted.msisdn,
            status=wanted.status,
            older=before_id is not None,
        )
        lines = [line(row) for row in rows] or [
            staff_texts.history_empty(older=before_id is not None)
        ]
        buttons = staff_keyboards.history_buttons(
            payouts=wanted.payouts,
            period=wanted.period,
            status=wanted.status,
            msisdn=wanted.msisdn,
            older_than=rows[-1].id if len(rows) == PAGE_SIZE else None,
            paged=before_id is not None,
        )
        return staff_texts.fit(header, lines), buttons

    async def stats_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/stats [today|week|month]: received, sent, STK success rate, counts by status."""
        if await self.member(update, ANYONE, "stats") is None:
            return
        period = await self._period(update, context.args or [], staff_texts.USAGE_STATS)
        if period is None:
            return
        stats = await self._services.reports.stats(period)
        await reply(update, staff_texts.stats_text(stats))

    async def export_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/export [today|week|month]: payments, payouts and paybill receipts as a CSV file."""
        member = await self.member(update, ANYONE, "export")
        if member is None:
            return
        period = await self._period(update, context.args or [], staff_texts.USAGE_EXPORT)
        if period is None:
            return
        now = datetime.now(UTC)
        start, end = period_bounds(period, now)
        out = io.StringIO()
        rows = await self._services.reports.export_csv(start, end, out, viewer=member)
        full = shows_full_numbers(member)
        name = staff_texts.export_filename(period, now, full_numbers=full)
        document = InputFile(out.getvalue().encode(), filename=name)
        await context.bot.send_document(
            chat_of(update),
            document,
            caption=staff_texts.export_caption(rows, period, start, end, full_numbers=full),
        )

    async def _period(self, update: Update, args: list[str], usage: str) -> str | None:
        """The period word (today by default), or a refusal and None."""
        if not args:
            return "today"
        word = args[0].lower()
        if len(args) > 1 or word not in PERIODS:
            shown = " ".join(args)[:40]
            await self.usage(update, f"{shown} is not a period; use today, week or month.", usage)
            return None
        return word


def register(app: Application, services: Any) -> None:
    """Add the report commands and the history paging buttons."""
    handlers = ReportHandlers(services)
    only_new = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("history", handlers.history_cmd, filters=only_new))
    app.add_handler(CommandHandler("stats", handlers.stats_cmd, filters=only_new))
    app.add_handler(CommandHandler("export", handlers.export_cmd, filters=only_new))
    app.add_handler(CallbackQueryHandler(handlers.on_history_page, pattern=r"^p?hist:"))
