"""Customer handlers: open an order by deep link, give a phone, pay by STK Push, see orders."""

from __future__ import annotations

import logging
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.services.customers import AWAITING_PHONE
from bot.services.errors import ServiceError
from bot.telegram import customer_texts, keyboards, staff_texts, texts
from models import Customer, Order, Payment

log = logging.getLogger(__name__)

STALE_BUTTON = "This button is no longer valid. Open the payment link again."


def contact_keyboard() -> ReplyKeyboardMarkup:
    """The reply keyboard with the one button that shares the user's own number."""
    return ReplyKeyboardMarkup(
        [[KeyboardButton(customer_texts.SHARE_BUTTON, request_contact=True)]],
        one_time_keyboard=True,
        resize_keyboard=True,
        input_field_placeholder="or type 07XX XXX XXX",
    )


def pay_buttons(order: Order, msisdn: str) -> InlineKeyboardMarkup:
    """[Pay with 0708 374 149] [Use another number] for an order, when a number is remembered."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"Pay with {texts.phone(msisdn)}",
                    callback_data=keyboards.data("cust", "pay", order.id),
                )
            ],
            [
                InlineKeyboardButton(
                    "Use another number", callback_data=keyboards.data("cust", "phone", order.id)
                )
            ],
        ]
    )


class CustomerHandlers:
    """The customer's commands, contact, free text and order buttons."""

    def __init__(self, services: Any) -> None:
        self._services = services

    # -- commands -------------------------------------------------------------------------------

    async def start_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start [order code]: open the order a payment link names, or say what the bot does."""
        message, user = update.effective_message, update.effective_user
        if not context.args:
            business = self._services.settings.business_name
            await message.reply_html(customer_texts.intro(business))
            return
        try:
            customer, order = await self._services.customers.open_order(
                user.id, "".join(context.args), name=user.full_name, chat_id=message.chat_id
            )
        except ServiceError as exc:
            usage = customer_texts.USAGE_START if exc.code == "not_found" else None
            await message.reply_html(texts.refusal(exc, usage))
            return
        summary = customer_texts.order_summary(order, customer.msisdn)
        if customer.msisdn:
            await message.reply_html(summary, reply_markup=pay_buttons(order, customer.msisdn))
        else:
            await message.reply_html(summary, reply_markup=contact_keyboard())

    async def help_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/help: how paying works (staff get their own command list)."""
        member = await self._services.staff.find(update.effective_user.id)
        text = staff_texts.staff_help(member) if member else customer_texts.help_text()
        await update.effective_message.reply_html(text)

    async def orders_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/orders: the customer's own orders and their status."""
        message = update.effective_message
        if context.args:
            reason = "/orders takes no arguments."
            await message.reply_html(texts.refusal(reason, customer_texts.USAGE_ORDERS))
            return
        orders = await self._services.customers.orders(update.effective_user.id)
        await message.reply_html(customer_texts.orders_list(orders))

    async def phone_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/phone [number]: change the remembered number (directly, or by the next message)."""
        message, user = update.effective_message, update.effective_user
        if context.args:
            await self._take_phone(
                message, user.id, " ".join(context.args), customer_texts.USAGE_PHONE
            )
            return
        customer = await self._services.customers.ask_phone(
            user.id, name=user.full_name, chat_id=message.chat_id
        )
        await message.reply_html(
            customer_texts.ask_number(customer.msisdn), reply_markup=contact_keyboard()
        )

    async def unknown_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Any other /command: say so and point at /help."""
        command = (update.effective_message.text or "").split()[0][:40]
        reason = f"{command} is not a command I know."
        await update.effective_message.reply_html(texts.refusal(reason, "See /help."))

    # -- messages -------------------------------------------------------------------------------

    async def on_contact(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A shared contact: the sender's own number becomes the number they pay with."""
        message = update.effective_message
        contact = message.contact
        # a contact with no Telegram account behind it is never the sender's own
        owner = contact.user_id if contact.user_id is not None else 0
        try:
            customer = await self._services.customers.set_phone(
                update.effective_user.id, contact.phone_number, contact_user_id=owner
            )
        except ServiceError as exc:
            await message.reply_html(texts.refusal(exc), reply_markup=contact_keyboard())
            return
        await self._after_phone(message, customer)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Free text: the phone number we asked for, or a short help."""
        message, user_id = update.effective_message, update.effective_user.id
        customer, _ = await self._services.customers.conversation(user_id)
        if customer is not None and customer.conversation_state == AWAITING_PHONE:
            await self._take_phone(message, user_id, message.text, customer_texts.USAGE_NUMBER)
            return
        await self._short_help(message, user_id)

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stickers, photos, voice notes…: a short help."""
        await self._short_help(update.effective_message, update.effective_user.id)

    # -- buttons --------------------------------------------------------------------------------

    async def on_order_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """[Pay with …] and [Use another number] under an order summary."""
        query = update.callback_query
        await query.answer()
        user, chat_id = update.effective_user, update.effective_chat.id
        _, verb, arg = keyboards.parse(query.data)
        # ids fit a 32-bit column: a forged huge number must not reach the database
        if verb not in ("pay", "phone") or not (arg.isdigit() and len(arg) < 10):
            await context.bot.send_message(chat_id, texts.refusal(STALE_BUTTON))
            return
        if verb == "phone":
            try:
                customer = await self._services.customers.ask_phone(
                    user.id, name=user.full_name, chat_id=chat_id, order_id=int(arg)
                )
            except ServiceError as exc:
                await context.bot.send_message(chat_id, texts.refusal(exc))
                return
            await context.bot.send_message(
                chat_id,
                customer_texts.ask_number(customer.msisdn),
                reply_markup=contact_keyboard(),
            )
            return
        try:
            payment = await self._services.customers.pay_order(
                user.id, chat_id=chat_id, order_id=int(arg)
            )
        except ServiceError as exc:
            await context.bot.send_message(chat_id, texts.refusal(exc))
            return
        # the summary becomes the live status message of the payment
        card, markup = (
            texts.payment_card(payment, payment.order),
            keyboards.payment_buttons(payment),
        )
        try:
            shown = await query.edit_message_text(card, reply_markup=markup)
        except BadRequest as exc:
            log.info("customer.card_edit_failed payment=%s reason=%s", payment.id, exc)
            shown = await context.bot.send_message(chat_id, card, reply_markup=markup)
        if isinstance(shown, Message):
            await self._services.payments.set_status_message(
                payment.id, shown.chat_id, shown.message_id
            )

    # -- helpers --------------------------------------------------------------------------------

    async def _take_phone(self, message: Message, user_id: int, raw: str, usage: str) -> None:
        try:
            customer = await self._services.customers.set_phone(user_id, raw)
        except ServiceError as exc:
            await message.reply_html(texts.refusal(exc, usage), reply_markup=contact_keyboard())
            return
        await self._after_phone(message, customer)

    async def _after_phone(self, message: Message, customer: Customer) -> None:
        """Pay the order the conversation is about, or just confirm the saved number."""
        if customer.conversation_order_id is None:
            await message.reply_html(
                customer_texts.phone_saved(customer.msisdn), reply_markup=ReplyKeyboardRemove()
            )
            return
        # one message per reply markup: this one takes the contact keyboard away
        await message.reply_html(
            customer_texts.sending(customer.msisdn), reply_markup=ReplyKeyboardRemove()
        )
        try:
            payment = await self._services.customers.pay_order(
                customer.telegram_id, chat_id=message.chat_id
            )
        except ServiceError as exc:
            await message.reply_html(texts.refusal(exc))
            return
        await self._send_card(message, payment)

    async def _send_card(self, message: Message, payment: Payment) -> None:
        card = await message.reply_html(
            texts.payment_card(payment, payment.order),
            reply_markup=keyboards.payment_buttons(payment),
        )
        # the callback can beat this: the chat channel waits for the id, then edits
        await self._services.payments.set_status_message(payment.id, card.chat_id, card.message_id)

    async def _short_help(self, message: Message, user_id: int) -> None:
        member = await self._services.staff.find(user_id)
        text = staff_texts.FREE_TEXT_HELP if member else customer_texts.short_help()
        await message.reply_html(text)


def register(app: Application, services: Any) -> None:
    """Add the customer commands, contact and text handlers, and the order buttons."""
    handlers = CustomerHandlers(services)
    # edited messages are ignored: editing a typed number must not push a second prompt
    new = filters.UpdateType.MESSAGE
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("start", handlers.start_cmd, filters=new))
    app.add_handler(CommandHandler("help", handlers.help_cmd, filters=new))
    app.add_handler(CommandHandler("orders", handlers.orders_cmd, filters=new))
    app.add_handler(CommandHandler("phone", handlers.phone_cmd, filters=new))
    app.add_handler(CallbackQueryHandler(handlers.on_order_button, pattern=r"^cust:"))
    app.add_handler(MessageHandler(new & filters.CONTACT, handlers.on_contact))
    app.add_handler(
        MessageHandler(new & private & filters.TEXT & ~filters.COMMAND, handlers.on_text)
    )
    # last: the staff module registers its commands first, so only unknown ones get here
    app.add_handler(MessageHandler(new & private & filters.COMMAND, handlers.unknown_cmd))
    app.add_handler(MessageHandler(new & private, handlers.on_other))
