"""Staff payments: /request (STK Push), /status, and the [Check with M-Pesa] / [Retry] buttons."""

from __future__ import annotations

import logging
import re
from datetime import UTC
from datetime import datetime
from typing import Any

from telegram import Update
from telegram.ext import Application
from telegram.ext import CallbackQueryHandler
from telegram.ext import CommandHandler
from telegram.ext import ContextTypes
from telegram.ext import filters

from bot.services.errors import InvalidInput
from bot.services.errors import NotFound
from bot.services.errors import ServiceError
from bot.telegram import keyboards
from bot.telegram import staff_texts
from bot.telegram import texts
from bot.telegram.staff_base import ANYONE
from bot.telegram.staff_base import StaffHandlerBase
from bot.telegram.staff_base import actor
from bot.telegram.staff_base import answer
from bot.telegram.staff_base import callback_id
from bot.telegram.staff_base import chat_of
from bot.telegram.staff_base import drop_buttons
from bot.telegram.staff_base import edit
from bot.telegram.staff_base import payout_card
from bot.telegram.staff_base import reply
from models import Order
from models import Payment
from models import PaymentStatus
from models import Staff

log = logging.getLogger(__name__)

# "P12", "p#12": a payout; everything else is a payment, order, receipt or CheckoutRequestID
PAYOUT_REF = re.compile(r"[Pp]#?([0-9]{1,9})")
# no reference is longer (a CheckoutRequestID column holds 96); longer text is refused up front
REF_MAX = 96


class PaymentHandlers(StaffHandlerBase):
    """Handlers for asking customers to pay and following those payments."""

    async def request_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/request <phone> <amount> [description]: send an STK Push; one live status message."""
        member = await self.member(update, ANYONE, "request")
        if member is None:
            return
        args = await self.phone_amount_args(
            update, context.args, "request", staff_texts.USAGE_REQUEST
        )
        if args is not None:
            await self._request(update, member, args)

    async def on_amount_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """[KES 1,500] [KES 1]: the /request the question replies to, with the amount chosen."""
        chosen = await self.amount_chosen(update, "request", ANYONE, "request")
        if chosen is not None:
            await self._request(update, *chosen)

    async def _request(self, update: Update, member: Staff, args: list[str]) -> None:
        chat_id = chat_of(update)
        try:
            payment = await self._services.payments.request_payment(
                args[0],
                args[1],
                initiator=member,
                actor=actor(update),
                description=" ".join(args[2:]) or None,
                chat_id=chat_id,
            )
        except ServiceError as exc:
            await self.refuse(update, exc, staff_texts.USAGE_REQUEST)
            return
        sent = await reply(update, texts.payment_card(payment), keyboards.payment_buttons(payment))
        await self._services.payments.set_status_message(payment.id, chat_id, sent.message_id)

    async def status_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/status <ref>: where a payment, order or payout stands (no M-Pesa call)."""
        if await self.member(update, ANYONE, "status") is None:
            return
        ref = " ".join(context.args or []).strip()
        if not ref:
            await self.usage(update, staff_texts.MISSING_REF, staff_texts.USAGE_STATUS)
            return
        try:
            found = await self._lookup(ref)
        except ServiceError as exc:
            await self.refuse(update, exc, staff_texts.USAGE_STATUS)
            return
        if isinstance(found, Payment):
            card = texts.payment_card(found, await self._services.orders.order_for(found))
            await reply(update, card, keyboards.payment_buttons(found))
        elif isinstance(found, Order):
            await reply(update, staff_texts.order_card(found))
        else:
            await reply(update, await payout_card(self._services, found))

    async def _lookup(self, ref: str) -> Any:
        if len(ref) > REF_MAX:
            raise InvalidInput(f"{ref[:40]}… is too long to be a reference.", field="ref")
        payout_ref = PAYOUT_REF.fullmatch(ref)
        if payout_ref:
            return await self._services.payouts.find(payout_ref.group(1))
        try:
            return await self._services.payments.status(ref)
        except NotFound:
            if ref.lstrip("#").isdigit():
                raise
            # a payout receipt or ConversationID; the payments' refusal explains the formats
            try:
                return await self._services.payouts.find(ref)
            except NotFound:
                pass
            raise

    async def on_payment_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """[Check with M-Pesa] and [Retry] on a payment card, for staff and customers alike."""
        query = update.callback_query
        verb, payment_id = callback_id(query)
        if payment_id is None or verb not in ("check", "retry"):
            await answer(query)
            return
        user_id = query.from_user.id
        chat_id = query.message.chat.id
        try:
            payment = await self._press(verb, user_id, payment_id, chat_id, actor(update))
        except ServiceError as exc:
            await answer(query, str(exc), alert=True)
            return
        order = await self._services.orders.order_for(payment)
        card = texts.payment_card(payment, order)
        if verb == "check":
            await answer(query)
            if not PaymentStatus(payment.status).is_final:
                card += staff_texts.checked_line(datetime.now(UTC))
            await edit(query, card, keyboards.payment_buttons(payment))
            return
        await answer(query, f"Sent again as #{payment.id}")
        sent = await context.bot.send_message(
            chat_id, card, reply_markup=keyboards.payment_buttons(payment)
        )
        await self._services.payments.set_status_message(payment.id, chat_id, sent.message_id)
        await drop_buttons(query)

    async def _press(
        self, verb: str, user_id: int, payment_id: int, chat_id: int, who: str
    ) -> Payment:
        services = self._services
        member = await services.staff.find(user_id)
        if member is None:
            # customers may only check and retry their own payments (enforced there)
            if verb == "check":
                return await services.customers.check_payment(user_id, payment_id)
            return await services.customers.retry_payment(user_id, payment_id, chat_id=chat_id)
        if verb == "check":
            return await services.payments.refresh_status(f"#{payment_id}", actor=who)
        return await services.payments.retry_payment(
            payment_id, initiator=member, actor=who, chat_id=chat_id
        )


def register(app: Application, services: Any) -> None:
    """Add the payment commands and buttons."""
    handlers = PaymentHandlers(services)
    only_new = filters.UpdateType.MESSAGE  # an edited "/request" must not push again
    app.add_handler(CommandHandler("request", handlers.request_cmd, filters=only_new))
    app.add_handler(CommandHandler("status", handlers.status_cmd, filters=only_new))
    app.add_handler(CallbackQueryHandler(handlers.on_payment_button, pattern=r"^pay:"))
    app.add_handler(CallbackQueryHandler(handlers.on_amount_button, pattern=r"^amt:request:"))
