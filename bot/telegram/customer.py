"""Customer handlers: open an order by deep link, give a phone, pay by STK Push, see orders.

Customers read the chat in their language: the one they chose with /language, else their
Telegram app's (``language_code``), else DEFAULT_LANGUAGE.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardButton
from telegram import InlineKeyboardMarkup
from telegram import KeyboardButton
from telegram import Message
from telegram import ReplyKeyboardMarkup
from telegram import ReplyKeyboardRemove
from telegram import Update
from telegram.error import BadRequest
from telegram.ext import Application
from telegram.ext import CallbackQueryHandler
from telegram.ext import CommandHandler
from telegram.ext import ContextTypes
from telegram.ext import MessageHandler
from telegram.ext import filters

from bot.i18n import LANGUAGE_NAMES
from bot.i18n import LANGUAGES
from bot.i18n import error_text
from bot.i18n import translate
from bot.services.customers import AWAITING_PHONE
from bot.services.errors import ServiceError
from bot.services.providers import provider_of
from bot.telegram import customer_texts
from bot.telegram import keyboards
from bot.telegram import staff_texts
from bot.telegram import texts
from models import Customer
from models import Order
from models import Payment
from models import PaymentStatus
from models import Provider

log = logging.getLogger(__name__)


def contact_keyboard(language: str) -> ReplyKeyboardMarkup:
    """The reply keyboard with the one button that shares the user's own number."""
    return ReplyKeyboardMarkup(
        [[KeyboardButton(translate(language, customer_texts.SHARE_BUTTON), request_contact=True)]],
        one_time_keyboard=True,
        resize_keyboard=True,
        input_field_placeholder=translate(language, customer_texts.TYPE_PLACEHOLDER),
    )


def pay_buttons(order: Order, msisdn: str, language: str) -> InlineKeyboardMarkup:
    """[Pay with 0708 374 149] [Use another number] for an order, when a number is remembered."""
    pay = translate(language, customer_texts.PAY_WITH, phone=texts.phone(msisdn))
    other = translate(language, customer_texts.ANOTHER_NUMBER)
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(pay, callback_data=keyboards.data("cust", "pay", order.id))],
            [InlineKeyboardButton(other, callback_data=keyboards.data("cust", "phone", order.id))],
        ]
    )


def payment_buttons(payment: Payment, language: str) -> InlineKeyboardMarkup | None:
    """The customer's [Check with M-Pesa] while waiting, [Try again] when it can be retried."""
    status = PaymentStatus(payment.status)
    if payment.superseded_by_id is not None:
        return None  # only the newest attempt is retried or checked
    if not status.is_final:
        airtel = payment.provider == Provider.AIRTEL
        check = customer_texts.AIRTEL_CHECK_BUTTON if airtel else customer_texts.CHECK_BUTTON
        label, verb = check, "check"
    elif status.can_retry:
        label, verb = customer_texts.RETRY_BUTTON, "retry"
    else:
        return None
    button = InlineKeyboardButton(
        translate(language, label), callback_data=keyboards.data("cust", verb, payment.id)
    )
    return InlineKeyboardMarkup([[button]])


def language_buttons() -> InlineKeyboardMarkup:
    """[Kiswahili] [English]: each named in its own language."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(LANGUAGE_NAMES[code], callback_data=f"lang:set:{code}")
                for code in reversed(LANGUAGES)
            ]
        ]
    )


class CustomerHandlers:
    """The customer's commands, contact, free text and order buttons."""

    def __init__(self, services: Any) -> None:
        self._services = services

    def _is_airtel(self, msisdn: str | None) -> bool:
        settings = self._services.settings
        return (
            bool(msisdn)
            and settings.airtel_enabled
            and (provider_of(msisdn, settings) is Provider.AIRTEL)
        )

    async def _language(self, update: Update) -> str:
        user = update.effective_user
        return await self._services.customers.chat_language(user.id, user.language_code)

    # -- commands -------------------------------------------------------------------------------

    async def start_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start [order code]: open the order a payment link names, or say what the bot does."""
        message, user = update.effective_message, update.effective_user
        if not context.args:
            business = self._services.settings.business_name
            await message.reply_html(customer_texts.intro(business, await self._language(update)))
            return
        try:
            customer, order = await self._services.customers.open_order(
                user.id,
                "".join(context.args),
                name=user.full_name,
                chat_id=message.chat_id,
                language_code=user.language_code,
            )
        except ServiceError as exc:
            language = await self._language(update)
            usage = customer_texts.USAGE_START if exc.code == "not_found" else None
            await message.reply_html(
                customer_texts.refusal(error_text(exc, language), language, usage)
            )
            return
        language = await self._language(update)
        summary = customer_texts.order_summary(
            order, customer.msisdn, language, airtel=self._services.settings.airtel_enabled
        )
        if customer.msisdn:
            markup = pay_buttons(order, customer.msisdn, language)
            await message.reply_html(summary, reply_markup=markup)
        else:
            await message.reply_html(summary, reply_markup=contact_keyboard(language))

    async def help_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/help: how paying works (staff get their own command list)."""
        member = await self._services.staff.find(update.effective_user.id)
        if member:
            text = staff_texts.staff_help(member)
        else:
            text = customer_texts.help_text(await self._language(update))
        await update.effective_message.reply_html(text)

    async def orders_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/orders: the customer's own orders and their status."""
        message = update.effective_message
        language = await self._language(update)
        if context.args:
            reason = translate(language, customer_texts.NO_ARGUMENTS)
            usage = customer_texts.USAGE_ORDERS
            await message.reply_html(customer_texts.refusal(reason, language, usage))
            return
        orders = await self._services.customers.orders(update.effective_user.id)
        await message.reply_html(customer_texts.orders_list(orders, language))

    async def phone_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/phone [number]: change the remembered number (directly, or by the next message)."""
        message, user = update.effective_message, update.effective_user
        language = await self._language(update)
        if context.args:
            raw = " ".join(context.args)
            await self._take_phone(message, user.id, raw, customer_texts.USAGE_PHONE, language)
            return
        customer = await self._services.customers.ask_phone(
            user.id, name=user.full_name, chat_id=message.chat_id
        )
        await message.reply_html(
            customer_texts.ask_number(customer.msisdn, language),
            reply_markup=contact_keyboard(language),
        )

    async def language_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/language [sw|en]: choose the language the bot writes in (remembered)."""
        message, user = update.effective_message, update.effective_user
        if not context.args:
            language = await self._language(update)
            await message.reply_html(
                customer_texts.language_menu(language), reply_markup=language_buttons()
            )
            return
        try:
            customer = await self._services.customers.set_language(
                user.id, " ".join(context.args), name=user.full_name, chat_id=message.chat_id
            )
        except ServiceError as exc:
            language = await self._language(update)
            text = customer_texts.refusal(
                error_text(exc, language), language, customer_texts.USAGE_LANGUAGE
            )
            await message.reply_html(text, reply_markup=language_buttons())
            return
        await message.reply_html(customer_texts.language_saved(customer.language))

    async def unknown_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Any other /command: say so and point at /help."""
        command = (update.effective_message.text or "").split()[0][:40]
        language = await self._language(update)
        reason = translate(language, customer_texts.UNKNOWN_COMMAND, command=command)
        await update.effective_message.reply_html(
            customer_texts.refusal(reason, language, customer_texts.SEE_HELP)
        )

    # -- messages -------------------------------------------------------------------------------

    async def on_contact(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A shared contact: the sender's own number becomes the number they pay with."""
        message = update.effective_message
        contact = message.contact
        language = await self._language(update)
        # a contact with no Telegram account behind it is never the sender's own
        owner = contact.user_id if contact.user_id is not None else 0
        try:
            customer = await self._services.customers.set_phone(
                update.effective_user.id, contact.phone_number, contact_user_id=owner
            )
        except ServiceError as exc:
            await message.reply_html(
                customer_texts.refusal(error_text(exc, language), language),
                reply_markup=contact_keyboard(language),
            )
            return
        await self._after_phone(message, customer, language)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Free text: the phone number we asked for, or a short help."""
        message, user_id = update.effective_message, update.effective_user.id
        customer, _ = await self._services.customers.conversation(user_id)
        language = await self._language(update)
        if customer is not None and customer.conversation_state == AWAITING_PHONE:
            usage = customer_texts.USAGE_NUMBER
            await self._take_phone(message, user_id, message.text, usage, language)
            return
        await self._short_help(message, user_id, language)

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stickers, photos, voice notes…: a short help."""
        language = await self._language(update)
        await self._short_help(update.effective_message, update.effective_user.id, language)

    # -- buttons --------------------------------------------------------------------------------

    async def on_order_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """[Pay with …], [Use another number], [Check with M-Pesa] and [Try again]."""
        query = update.callback_query
        await query.answer()
        user, chat_id = update.effective_user, update.effective_chat.id
        language = await self._language(update)
        _, verb, arg = keyboards.parse(query.data)
        # ids fit a 32-bit column: a forged huge number must not reach the database
        if verb not in ("pay", "phone", "check", "retry") or not (arg.isdigit() and len(arg) < 10):
            reason = translate(language, customer_texts.STALE_BUTTON)
            await context.bot.send_message(chat_id, customer_texts.refusal(reason, language))
            return
        customers = self._services.customers
        try:
            if verb == "phone":
                customer = await customers.ask_phone(
                    user.id, name=user.full_name, chat_id=chat_id, order_id=int(arg)
                )
            elif verb == "pay":
                payment = await customers.pay_order(user.id, chat_id=chat_id, order_id=int(arg))
            elif verb == "check":
                payment = await customers.check_payment(user.id, int(arg))
            else:
                payment = await customers.retry_payment(user.id, int(arg), chat_id=chat_id)
        except ServiceError as exc:
            refusal = customer_texts.refusal(error_text(exc, language), language)
            await context.bot.send_message(chat_id, refusal)
            return
        if verb == "phone":
            await context.bot.send_message(
                chat_id,
                customer_texts.ask_number(customer.msisdn, language),
                reply_markup=contact_keyboard(language),
            )
            return
        card = customer_texts.payment_card(payment, payment.order, language)
        markup = payment_buttons(payment, language)
        if verb == "retry":
            # the old card keeps its outcome; the new attempt gets its own live message
            await _drop_buttons(query)
            shown = await context.bot.send_message(chat_id, card, reply_markup=markup)
        else:
            # the summary (or the card) becomes the live status message of the payment
            try:
                shown = await query.edit_message_text(card, reply_markup=markup)
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return
                log.info("customer.card_edit_failed payment=%s reason=%s", payment.id, exc)
                shown = await context.bot.send_message(chat_id, card, reply_markup=markup)
        if isinstance(shown, Message):
            await self._services.payments.set_status_message(
                payment.id, shown.chat_id, shown.message_id
            )

    async def on_language_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """[Kiswahili] [English] under /language."""
        query = update.callback_query
        await query.answer()
        user, chat_id = update.effective_user, update.effective_chat.id
        _, _verb, code = keyboards.parse(query.data)
        try:
            customer = await self._services.customers.set_language(
                user.id, code, name=user.full_name, chat_id=chat_id
            )
        except ServiceError as exc:
            language = await self._language(update)
            refusal = customer_texts.refusal(error_text(exc, language), language)
            await context.bot.send_message(chat_id, refusal)
            return
        try:
            await query.edit_message_text(customer_texts.language_saved(customer.language))
        except BadRequest as exc:
            log.info("customer.language_edit_failed reason=%s", exc)

    # -- helpers --------------------------------------------------------------------------------

    async def _take_phone(
        self, message: Message, user_id: int, raw: str, usage: str, language: str
    ) -> None:
        try:
            customer = await self._services.customers.set_phone(user_id, raw)
        except ServiceError as exc:
            await message.reply_html(
                customer_texts.refusal(error_text(exc, language), language, usage),
                reply_markup=contact_keyboard(language),
            )
            return
        await self._after_phone(message, customer, language)

    async def _after_phone(self, message: Message, customer: Customer, language: str) -> None:
        """Pay the order the conversation is about, or just confirm the saved number."""
        if customer.conversation_order_id is None:
            await message.reply_html(
                customer_texts.phone_saved(customer.msisdn, language),
                reply_markup=ReplyKeyboardRemove(),
            )
            return
        # one message per reply markup: this one takes the contact keyboard away
        await message.reply_html(
            customer_texts.sending(
                customer.msisdn, language, airtel=self._is_airtel(customer.msisdn)
            ),
            reply_markup=ReplyKeyboardRemove(),
        )
        try:
            payment = await self._services.customers.pay_order(
                customer.telegram_id, chat_id=message.chat_id
            )
        except ServiceError as exc:
            await message.reply_html(customer_texts.refusal(error_text(exc, language), language))
            return
        card = await message.reply_html(
            customer_texts.payment_card(payment, payment.order, language),
            reply_markup=payment_buttons(payment, language),
        )
        # the callback can beat this: the chat channel waits for the id, then edits
        await self._services.payments.set_status_message(payment.id, card.chat_id, card.message_id)

    async def _short_help(self, message: Message, user_id: int, language: str) -> None:
        member = await self._services.staff.find(user_id)
        text = staff_texts.FREE_TEXT_HELP if member else customer_texts.short_help(language)
        await message.reply_html(text)


async def _drop_buttons(query: Any) -> None:
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:
        log.info("customer.drop_buttons_failed reason=%s", exc)


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
    app.add_handler(CommandHandler("language", handlers.language_cmd, filters=new))
    app.add_handler(CallbackQueryHandler(handlers.on_order_button, pattern=r"^cust:"))
    app.add_handler(CallbackQueryHandler(handlers.on_language_button, pattern=r"^lang:"))
    app.add_handler(MessageHandler(new & filters.CONTACT, handlers.on_contact))
    app.add_handler(
        MessageHandler(new & private & filters.TEXT & ~filters.COMMAND, handlers.on_text)
    )
    # last: the staff module registers its commands first, so only unknown ones get here
    app.add_handler(MessageHandler(new & private & filters.COMMAND, handlers.unknown_cmd))
    app.add_handler(MessageHandler(new & private, handlers.on_other))
