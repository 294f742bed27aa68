"""Admins resolve parked records: /resolve <ref> [verdict] and the buttons on cards and answers.

A look (a fresh query, shown) always comes first; the verdict buttons come with its answer.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application
from telegram.ext import CallbackQueryHandler
from telegram.ext import CommandHandler
from telegram.ext import ContextTypes
from telegram.ext import filters

from bot.services.errors import ServiceError
from bot.telegram import keyboards
from bot.telegram import staff_keyboards
from bot.telegram import staff_texts
from bot.telegram.staff_base import ADMIN
from bot.telegram.staff_base import StaffHandlerBase
from bot.telegram.staff_base import answer
from bot.telegram.staff_base import chat_of
from bot.telegram.staff_base import edit
from bot.telegram.staff_base import reply

log = logging.getLogger(__name__)


class ResolveHandlers(StaffHandlerBase):
    """Handlers for looking at a parked payment, payout or reversal and deciding on it."""

    async def resolve_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/resolve <ref> [verdict]: ask M-Pesa afresh, show its answer and the decisions."""
        member = await self.member(update, ADMIN, "resolve")
        if member is None:
            return
        args = context.args or []
        if not args or len(args) > 2:
            reason = staff_texts.MISSING_RESOLVE if not args else staff_texts.TOO_MANY_WORDS
            await self.usage(update, reason, staff_texts.USAGE_RESOLVE)
            return
        verdict = args[1].lower() if len(args) == 2 else None
        try:
            look = await self._services.resolutions.look(
                args[0], by_telegram_id=member.telegram_id, chat_id=chat_of(update)
            )
        except ServiceError as exc:
            await self.refuse(update, exc, staff_texts.USAGE_RESOLVE)
            return
        await reply(
            update,
            staff_texts.resolve_look(look, verdict),
            staff_keyboards.resolve_buttons(look, verdict),
        )

    async def on_resolve_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """[🔎 Resolve] on a card, then [✅ paid/sent/reversed] [✖️ failed] or [Cancel]."""
        query = update.callback_query
        _, verb, ref = keyboards.parse(query.data)
        who = await self.refusal_for(query.from_user.id, ADMIN, "resolve")
        if isinstance(who, str):
            await answer(query, who, alert=True)
            return
        resolutions = self._services.resolutions
        try:
            if verb == "look":
                look = await resolutions.look(
                    ref, by_telegram_id=who.telegram_id, chat_id=query.message.chat.id
                )
                await answer(query)
                await context.bot.send_message(
                    query.message.chat.id,
                    staff_texts.resolve_look(look, None),
                    reply_markup=staff_keyboards.resolve_buttons(look, None),
                )
                return
            if verb == "cancel":
                await answer(query, "Nothing was changed")
                await edit(query, staff_texts.RESOLVE_CANCELLED)
                return
            record = await resolutions.decide(ref, verb, by_telegram_id=who.telegram_id)
        except ServiceError as exc:
            await answer(query, str(exc), alert=True)
            return
        await answer(query, "Recorded")
        await edit(query, staff_texts.resolved(ref, verb, record, who))


def register(app: Application, services: Any) -> None:
    """Add /resolve and its buttons."""
    handlers = ResolveHandlers(services)
    only_new = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("resolve", handlers.resolve_cmd, filters=only_new))
    app.add_handler(CallbackQueryHandler(handlers.on_resolve_button, pattern=r"^res:"))
