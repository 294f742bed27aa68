"""Staff administration: /staff, /order, /link, and /reverse with its confirmation.

/help and free text are answered by customer.py, with staff_texts.staff_help for staff.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import Application
from telegram.ext import CallbackQueryHandler
from telegram.ext import CommandHandler
from telegram.ext import ContextTypes
from telegram.ext import filters

from bot.services.documents import qr_png
from bot.services.errors import InvalidInput
from bot.services.errors import ServiceError
from bot.services.staff import parse_user_id
from bot.telegram import keyboards
from bot.telegram import staff_keyboards
from bot.telegram import staff_texts
from bot.telegram.menus import update_menu
from bot.telegram.staff_base import ADMIN
from bot.telegram.staff_base import ANYONE
from bot.telegram.staff_base import StaffHandlerBase
from bot.telegram.staff_base import actor
from bot.telegram.staff_base import answer
from bot.telegram.staff_base import edit
from bot.telegram.staff_base import reply

log = logging.getLogger(__name__)

RECEIPT_MAX = 20


class AdminHandlers(StaffHandlerBase):
    """Handlers for the team, orders and reversals."""

    async def staff_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/staff, /staff add|remove …, /staff limit <user id> <amount|default>."""
        if await self.member(update, ADMIN, "staff") is None:
            return
        args = context.args or []
        staff = self._services.staff
        user_id = update.effective_user.id
        action = args[0].lower() if args else "list"
        try:
            if action == "list" and len(args) <= 1:
                members = await staff.list_staff(user_id)
                limits = {m.id: staff.daily_payout_limit(m) for m in members}
                await reply(update, staff_texts.staff_list(members, limits))
                return
            if action == "limit" and len(args) == 3:
                member = await staff.set_limit(user_id, parse_user_id(args[1]), args[2])
                limit = staff.daily_payout_limit(member)
                own = not staff.limit_is_default(member)
                await reply(update, staff_texts.limit_set(member, limit, own=own))
                return
            if action == "add" and len(args) >= 3:
                name = " ".join(args[3:])
                member = await staff.add(user_id, parse_user_id(args[1]), args[2], name)
                text = staff_texts.staff_added(member)
            elif action == "remove" and len(args) == 2:
                member = await staff.remove(user_id, parse_user_id(args[1]))
                text = staff_texts.staff_removed(member)
            else:
                raise InvalidInput(_staff_mistake(action, args), field="staff")
        except ServiceError as exc:
            await self.refuse(update, exc, staff_texts.USAGE_STAFF)
            return
        await reply(update, text)
        # their menu follows at once: a new role's commands, or none once removed
        await update_menu(context.bot, member)

    async def order_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/order <amount> <description>: open an order and reply its deep link."""
        member = await self.member(update, ANYONE, "order")
        if member is None:
            return
        args = context.args or []
        if len(args) < 2:
            reason = staff_texts.MISSING_DESCRIPTION if args else staff_texts.MISSING_ORDER
            await self.usage(update, reason, staff_texts.USAGE_ORDER)
            return
        orders = self._services.orders
        try:
            order = await orders.create_order(
                args[0], " ".join(args[1:]), created_by=member, actor=actor(update)
            )
        except ServiceError as exc:
            await self.refuse(update, exc, staff_texts.USAGE_ORDER)
            return
        link = orders.deep_link(order, context.bot.username)
        pay_url = self._services.checkout.pay_url(order)
        # the QR code of the web link, to show at the counter or print
        await update.effective_message.reply_photo(
            qr_png(pay_url),
            caption=staff_texts.order_card(order, link, pay_url),
            parse_mode=ParseMode.HTML,
            filename=f"pay-{order.code}.png",
        )

    async def link_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/link <phone> <amount> [description]: create an order and text its pay link."""
        member = await self.member(update, ANYONE, "link")
        if member is None:
            return
        args = context.args or []
        if len(args) < 2:
            await self.usage(update, staff_texts.MISSING_LINK, staff_texts.USAGE_LINK)
            return
        checkout = self._services.checkout
        try:
            order, msisdn = await checkout.send_link(
                args[0], args[1], " ".join(args[2:]), created_by=member, actor=actor(update)
            )
        except ServiceError as exc:
            await self.refuse(update, exc, staff_texts.USAGE_LINK)
            return
        await reply(update, staff_texts.link_sent(order, msisdn, checkout.pay_url(order)))

    async def reverse_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/reverse <receipt>: ask for confirmation before reversing a payment we received."""
        if await self.member(update, ADMIN, "reverse") is None:
            return
        args = context.args or []
        if not args:
            await self.usage(update, staff_texts.MISSING_RECEIPT, staff_texts.USAGE_REVERSE)
            return
        try:
            receipt = _receipt(args)
            # refused at once when nothing could be reversed: no question, no button
            reversible = await self._services.reversals.check(
                receipt, by_telegram_id=update.effective_user.id
            )
        except ServiceError as exc:
            await self.refuse(update, exc, staff_texts.USAGE_REVERSE)
            return
        await reply(
            update,
            staff_texts.reverse_question(reversible),
            staff_keyboards.reverse_buttons(receipt),
        )

    async def on_reverse_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """[Reverse] sends the reversal (once); [Cancel] drops the question."""
        query = update.callback_query
        _, verb, receipt = keyboards.parse(query.data)
        if verb not in ("confirm", "cancel") or not receipt.isalnum():
            await answer(query)
            return
        user_id = query.from_user.id
        if verb == "cancel":
            who = await self.refusal_for(user_id, ADMIN, "reverse")
            if isinstance(who, str):
                await answer(query, who, alert=True)
                return
            await answer(query, "Cancelled")
            await edit(query, staff_texts.reverse_cancelled(receipt))
            return
        try:
            reversal = await self._services.reversals.reverse(
                receipt, by_telegram_id=user_id, chat_id=query.message.chat.id
            )
        except ServiceError as exc:
            await answer(query, str(exc), alert=True)
            return
        await answer(query, "Sent to M-Pesa")
        await edit(query, staff_texts.reversal_card(reversal))
        # the result arrives by callback and is edited into this same message
        await self._services.reversals.set_reversal_message(
            reversal.id, query.message.chat.id, query.message.message_id
        )


def _receipt(args: list[str]) -> str:
    receipt = args[0].strip().upper()
    if len(args) > 1 or not receipt.isalnum() or receipt.isdigit() or len(receipt) > RECEIPT_MAX:
        shown = " ".join(args)[:40]
        raise InvalidInput(
            f"{shown} is not an M-Pesa receipt (letters and digits, e.g. UKK4Q7M2XB).",
            field="receipt",
        )
    return receipt


def _staff_mistake(action: str, args: list[str]) -> str:
    if action == "add":
        return "Give the user id and the role (admin or cashier)."
    if action == "remove":
        return "Give the user id of the person to remove (only one)."
    if action == "limit":
        return "Give the user id and the daily payout limit in shillings (or default)."
    return f"{action[:30]} is not a /staff action; use add, remove or limit."


def register(app: Application, services: Any) -> None:
    """Add the team, order and reversal handlers."""
    handlers = AdminHandlers(services)
    only_new = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("staff", handlers.staff_cmd, filters=only_new))
    app.add_handler(CommandHandler("order", handlers.order_cmd, filters=only_new))
    app.add_handler(CommandHandler("link", handlers.link_cmd, filters=only_new))
    app.add_handler(CommandHandler("reverse", handlers.reverse_cmd, filters=only_new))
    app.add_handler(CallbackQueryHandler(handlers.on_reverse_button, pattern=r"^rev:"))
