"""Scheduled payouts and payment requests in the chat: /schedule, its cards and buttons.

/schedule pay|request <phone> <amount> <when> [reason] records a schedule that waits for
[Confirm] (and, for large payouts, a second admin's [Approve]); /schedule list, show, pause,
resume, skip and cancel manage it. Every rule is in ScheduleService.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardButton
from telegram import InlineKeyboardMarkup
from telegram import Update
from telegram.ext import Application
from telegram.ext import CallbackQueryHandler
from telegram.ext import CommandHandler
from telegram.ext import ContextTypes
from telegram.ext import filters

from bot.services.errors import ServiceError
from bot.services.schedules import schedule_ref
from bot.telegram import bulk_texts
from bot.telegram.keyboards import data
from bot.telegram.staff_base import ANYONE
from bot.telegram.staff_base import StaffHandlerBase
from bot.telegram.staff_base import answer
from bot.telegram.staff_base import callback_id
from bot.telegram.staff_base import chat_of
from bot.telegram.staff_base import edit
from bot.telegram.staff_base import reply
from models import Schedule
from models import ScheduleKind
from models import ScheduleStatus

log = logging.getLogger(__name__)

KINDS = {
    "pay": ScheduleKind.PAYOUT,
    "payout": ScheduleKind.PAYOUT,
    "request": ScheduleKind.PAYMENT_REQUEST,
}
TOASTS = {
    "confirm": "Confirmed",
    "cancel": "Cancelled",
    "approve": "Approved",
    "reject": "Rejected",
    "pause": "Paused",
    "resume": "Resumed",
    "skip": "The next occurrence is skipped",
}


def schedule_buttons(schedule: Schedule) -> InlineKeyboardMarkup | None:
    """The buttons of a schedule's card for where it stands."""
    status = ScheduleStatus(schedule.status)

    def button(label: str, verb: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(label, callback_data=data("sched", verb, schedule.id))

    if status is ScheduleStatus.AWAITING_CONFIRMATION:
        return InlineKeyboardMarkup(
            [[button("✅ Confirm", "confirm"), button("✖️ Cancel", "cancel")]]
        )
    if status is ScheduleStatus.ACTIVE:
        return InlineKeyboardMarkup(
            [
                [
                    button("⏸ Pause", "pause"),
                    button("⏭ Skip next", "skip"),
                    button("✖️ Cancel", "cancel"),
                ]
            ]
        )
    if status is ScheduleStatus.PAUSED:
        return InlineKeyboardMarkup([[button("▶️ Resume", "resume"), button("✖️ Cancel", "cancel")]])
    if status is ScheduleStatus.AWAITING_APPROVAL:
        return InlineKeyboardMarkup([[button("✖️ Cancel", "cancel")]])
    return None


def approval_buttons(schedule: Schedule) -> InlineKeyboardMarkup | None:
    """[Approve] [Reject] for a second admin."""
    if ScheduleStatus(schedule.status) is not ScheduleStatus.AWAITING_APPROVAL:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "✅ Approve", callback_data=data("sched", "approve", schedule.id)
                ),
                InlineKeyboardButton(
                    "✖️ Reject", callback_data=data("sched", "reject", schedule.id)
                ),
            ]
        ]
    )


class ScheduleHandlers(StaffHandlerBase):
    """/schedule and the schedule buttons."""

    async def schedule_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/schedule pay|request … | list | show|pause|resume|skip|cancel S7."""
        if await self.member(update, ANYONE, "schedule") is None:
            return
        args = context.args or []
        if not args:
            await self.usage(update, "Say what to schedule.", bulk_texts.USAGE_SCHEDULE)
            return
        verb = args[0].lower()
        schedules = self._services.schedules
        user_id = update.effective_user.id
        try:
            if verb == "list":
                await reply(update, bulk_texts.schedule_list(await schedules.active()))
                return
            if verb in ("show", "pause", "resume", "skip", "cancel"):
                if len(args) != 2:
                    await self.usage(
                        update, "Give the schedule, e.g. S7.", bulk_texts.USAGE_SCHEDULE
                    )
                    return
                schedule = await schedules.find(args[1])
                if verb == "show":
                    history = await schedules.history(schedule.id)
                    await reply(
                        update,
                        bulk_texts.schedule_history(schedule, history),
                        schedule_buttons(schedule),
                    )
                    return
                schedule = await self._decide(verb, schedule.id, user_id)
                await reply(update, bulk_texts.schedule_card(schedule), schedule_buttons(schedule))
                return
            kind = KINDS.get(verb)
            if kind is None or len(args) < 4:
                await self.usage(
                    update,
                    "Start with pay or request, then the phone, the amount and when.",
                    bulk_texts.USAGE_SCHEDULE,
                )
                return
            schedule = await schedules.create_in_chat(
                kind,
                args[1],
                args[2],
                list(args[3:]),
                by_telegram_id=user_id,
                chat_id=chat_of(update),
            )
        except ServiceError as exc:
            await self.refuse(update, exc, bulk_texts.USAGE_SCHEDULE)
            return
        await reply(update, bulk_texts.schedule_card(schedule), schedule_buttons(schedule))

    async def _decide(self, verb: str, schedule_id: int, user_id: int) -> Schedule:
        schedules = self._services.schedules
        if verb == "skip":
            await schedules.skip_next(schedule_id, by_telegram_id=user_id)
            return await schedules.get(schedule_id)
        decide = {
            "confirm": schedules.confirm,
            "cancel": schedules.cancel,
            "approve": schedules.approve,
            "reject": schedules.reject,
            "pause": schedules.pause,
            "resume": schedules.resume,
        }[verb]
        return await decide(schedule_id, by_telegram_id=user_id)

    async def on_schedule_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """[Confirm] [Cancel] [Approve] [Reject] [Pause] [Resume] [Skip next]."""
        query = update.callback_query
        verb, schedule_id = callback_id(query)
        if schedule_id is None or verb not in TOASTS:
            await answer(query)
            return
        try:
            schedule = await self._decide(verb, schedule_id, query.from_user.id)
        except ServiceError as exc:
            await answer(query, str(exc), alert=True)
            return
        await answer(query, TOASTS[verb])
        buttons = approval_buttons if verb in ("approve", "reject") else schedule_buttons
        await edit(query, bulk_texts.schedule_card(schedule), buttons(schedule))


def register(app: Application, services: Any) -> None:
    """Add /schedule and its buttons."""
    handlers = ScheduleHandlers(services)
    only_new = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("schedule", handlers.schedule_cmd, filters=only_new))
    app.add_handler(CallbackQueryHandler(handlers.on_schedule_button, pattern=r"^sched:"))


__all__ = ["ScheduleHandlers", "register", "schedule_ref"]
