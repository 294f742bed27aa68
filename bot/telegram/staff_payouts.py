"""Staff payouts: /send with [Confirm] [Cancel], [Approve] [Reject] for a second admin, /balance."""

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
from bot.telegram import staff_texts
from bot.telegram.staff_base import ADMIN
from bot.telegram.staff_base import StaffHandlerBase
from bot.telegram.staff_base import answer
from bot.telegram.staff_base import callback_id
from bot.telegram.staff_base import chat_of
from bot.telegram.staff_base import edit
from bot.telegram.staff_base import payout_card
from bot.telegram.staff_base import reply

log = logging.getLogger(__name__)

TOASTS = {
    "confirm": "Confirmed",
    "cancel": "Cancelled; nothing was sent",
    "approve": "Approved",
    "reject": "Rejected; nothing was sent",
}


class PayoutHandlers(StaffHandlerBase):
    """Handlers for sending money and deciding on payouts."""

    async def send_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/send <phone> <amount> [reason]: record a payout and show it for confirmation."""
        if await self.member(update, ADMIN, "payout.send") is None:
            return
        args = await self.phone_amount_args(update, context.args, "send", staff_texts.USAGE_SEND)
        if args is not None:
            await self._send(update, args)

    async def on_amount_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """[KES 1,500] [KES 1]: the /send the question replies to, with the amount chosen."""
        chosen = await self.amount_chosen(update, "send", ADMIN, "payout.send")
        if chosen is not None:
            await self._send(update, chosen[1])

    async def _send(self, update: Update, args: list[str]) -> None:
        chat_id = chat_of(update)
        payouts = self._services.payouts
        try:
            payout = await payouts.send_money(
                args[0],
                args[1],
                initiator_telegram_id=update.effective_user.id,
                reason=" ".join(args[2:]),
                chat_id=chat_id,
            )
        except ServiceError as exc:
            await self.refuse(update, exc, staff_texts.USAGE_SEND)
            return
        card = staff_texts.payout_summary(
            payout,
            await payout_card(self._services, payout),
            threshold=self._services.settings.payout_approval_threshold,
        )
        sent = await reply(update, card, keyboards.payout_buttons(payout))
        await payouts.set_status_message(payout.id, chat_id, sent.message_id)

    async def on_payout_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """[Confirm] [Cancel] of the initiator, [Approve] [Reject] of another admin."""
        query = update.callback_query
        verb, payout_id = callback_id(query)
        payouts = self._services.payouts
        decide = {
            "confirm": payouts.confirm_payout,
            "cancel": payouts.cancel_payout,
            "approve": payouts.approve_payout,
            "reject": payouts.reject_payout,
        }.get(verb)
        if payout_id is None or decide is None:
            await answer(query)
            return
        user_id = query.from_user.id
        try:
            # a second press, a replayed update or another instance loses the conditional update
            payout = await decide(payout_id, by_telegram_id=user_id)
        except ServiceError as exc:
            await answer(query, str(exc), alert=True)
            return
        await answer(query, TOASTS[verb])
        card = await payout_card(self._services, payout)
        buttons = (
            keyboards.approval_buttons
            if verb in ("approve", "reject")
            else keyboards.payout_buttons
        )
        await edit(query, card, buttons(payout))

    async def balance_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/balance: ask M-Pesa (and Airtel Money); the answers are pushed to this chat."""
        if await self.member(update, ADMIN, "balance") is None:
            return
        try:
            await self._services.accounts.request_balance(
                by_telegram_id=update.effective_user.id, chat_id=chat_of(update)
            )
        except ServiceError as exc:
            await self.refuse(update, exc)
            return
        both = self._services.settings.airtel_enabled
        await reply(update, staff_texts.BALANCE_ASKED_BOTH if both else staff_texts.BALANCE_ASKED)


def register(app: Application, services: Any) -> None:
    """Add the payout commands and buttons."""
    handlers = PayoutHandlers(services)
    only_new = filters.UpdateType.MESSAGE  # an edited "/send" must not create a second payout
    app.add_handler(CommandHandler("send", handlers.send_cmd, filters=only_new))
    app.add_handler(CommandHandler("balance", handlers.balance_cmd, filters=only_new))
    app.add_handler(CallbackQueryHandler(handlers.on_payout_button, pattern=r"^payout:"))
    app.add_handler(CallbackQueryHandler(handlers.on_amount_button, pattern=r"^amt:send:"))
