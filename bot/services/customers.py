"""Customers who pay in the chat: the order they opened, the phone they pay with, their payments.

The conversation lives in the database (``Customer.conversation_state`` and
``conversation_order_id``), so a restart or a second instance continues it where it stopped.
"""

from __future__ import annotations

import logging

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from bot.config import Settings
from bot.i18n import LANGUAGE_NAMES
from bot.i18n import N_
from bot.i18n import normalize
from bot.services.audit import actor_for_telegram
from bot.services.audit import audit
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotAllowed
from bot.services.errors import NotFound
from bot.services.order_payments import OrderPaymentService
from bot.services.orders import OrderService
from bot.services.payments import PaymentService
from bot.services.providers import route_phone
from models import Customer
from models import Order
from models import OrderStatus
from models import Payment
from mpesa.phone import mask_msisdn

log = logging.getLogger(__name__)

# what the next message of the customer is expected to be
IDLE = ""
AWAITING_PHONE = "awaiting_phone"

CODE_ECHO_LIMIT = 24
NAME_LIMIT = 128
ORDERS_LIMIT = 50
NOT_YOURS = N_("This payment was not started from your chat, so you cannot change it here.")
OWN_NUMBER = N_(
    "Please share your own number with the button below, or type the Safaricom number "
    "you want to pay with."
)
NO_ORDER = N_("There is no order to pay yet. Open the payment link the shop sent you.")
NOT_OPENED = N_("This button belongs to an order you have not opened. Open its link again.")
NO_PHONE = N_("Share your phone number or type your Safaricom number first.")
UNKNOWN_LANGUAGE = N_("{language} is not a language I speak. Choose English or Kiswahili.")


class CustomerService:
    """Opens orders for customers, remembers their phone and pays by STK Push from the chat."""

    def __init__(
        self,
        *,
        payments: PaymentService,
        orders: OrderService,
        order_payments: OrderPaymentService,
        settings: Settings,
    ) -> None:
        self._payments = payments
        self._orders = orders
        self._order_payments = order_payments
        self._settings = settings

    async def get_or_create(
        self, telegram_id: int, *, name: str, chat_id: int, language_code: str | None = None
    ) -> Customer:
        """The customer with this Telegram id (created if new), name, chat and language current.

        ``language_code`` is Telegram's (the app's language); it is remembered for SMS and e-mail
        until the customer chooses one with /language.
        """
        name = (name or "").strip()[:NAME_LIMIT]
        detected = normalize(language_code)
        customer = await Customer.get_or_none(telegram_id=telegram_id)
        if customer is None:
            try:
                return await Customer.create(
                    telegram_id=telegram_id, name=name, chat_id=chat_id, language=detected
                )
            except IntegrityError:
                # two updates of the same new user raced: the other one created the row
                customer = await Customer.get(telegram_id=telegram_id)
        language = customer.language
        if detected is not None and not customer.language_chosen:
            language = detected
        current = (customer.name, customer.chat_id, customer.language)
        if current != (name or customer.name, chat_id, language):
            customer.name = name or customer.name
            customer.chat_id = chat_id
            customer.language = language
            await customer.save(update_fields=["name", "chat_id", "language", "updated_at"])
        return customer

    async def chat_language(self, telegram_id: int, language_code: str | None) -> str:
        """The language to answer this Telegram user in: chosen, else their app's, else default."""
        customer = await Customer.get_or_none(telegram_id=telegram_id)
        if customer is not None and customer.language_chosen and customer.language:
            return customer.language
        return normalize(language_code) or (
            customer.language if customer and customer.language else self.default_language
        )

    @property
    def default_language(self) -> str:
        """DEFAULT_LANGUAGE: what customers read when nothing says otherwise."""
        return self._settings.default_language

    async def set_language(
        self, telegram_id: int, raw_language: str, *, name: str, chat_id: int
    ) -> Customer:
        """Remember the language the customer chose ("sw", "Kiswahili", "en", "English")."""
        wanted = (raw_language or "").strip()
        language = normalize(wanted)
        if language is None:
            by_name = {label.lower(): code for code, label in LANGUAGE_NAMES.items()}
            by_name.update({"swahili": "sw", "kiingereza": "en"})
            language = by_name.get(wanted.lower())
        if language is None:
            shown = wanted[:CODE_ECHO_LIMIT] or "?"
            raise InvalidInput(UNKNOWN_LANGUAGE, field="language", params={"language": shown})
        customer = await self.get_or_create(telegram_id, name=name, chat_id=chat_id)
        customer.language = language
        customer.language_chosen = True
        await customer.save(update_fields=["language", "language_chosen", "updated_at"])
        await audit(actor_for_telegram(telegram_id), "customer.language", language=language)
        return customer

    async def find(self, telegram_id: int) -> Customer | None:
        """The customer with this Telegram id, or None."""
        return await Customer.get_or_none(telegram_id=telegram_id)

    async def open_order(
        self,
        telegram_id: int,
        code: str,
        *,
        name: str,
        chat_id: int,
        language_code: str | None = None,
    ) -> tuple[Customer, Order]:
        """Open the order a deep link names and wait for the phone to pay it with."""
        customer = await self.get_or_create(
            telegram_id, name=name, chat_id=chat_id, language_code=language_code
        )
        order = await self._orders.find_by_code(code)
        if order is None:
            shown = code.strip()
            if len(shown) > CODE_ECHO_LIMIT:
                shown = shown[: CODE_ECHO_LIMIT - 1] + "…"
            raise NotFound(
                N_("No order {code} exists. Check the link you were sent."),
                field="code",
                params={"code": shown},
            )
        if order.status == OrderStatus.PAID:
            if order.paid_receipt:
                raise Conflict(
                    N_("Order {code} is already paid (receipt {receipt}). Nothing more to pay."),
                    params={"code": order.code, "receipt": order.paid_receipt},
                )
            raise Conflict(
                N_("Order {code} is already paid. Nothing more to pay."),
                params={"code": order.code},
            )
        if order.status == OrderStatus.CANCELLED:
            raise Conflict(
                N_("Order {code} was cancelled. Ask the shop for a new link."),
                params={"code": order.code},
            )
        if order.customer_id is None:
            # the first customer to open a link owns it (a forwarded link can still be paid)
            await Order.filter(id=order.id, customer_id=None).update(customer_id=customer.id)
        customer.conversation_state = AWAITING_PHONE
        customer.conversation_order_id = order.id
        await customer.save(
            update_fields=["conversation_state", "conversation_order_id", "updated_at"]
        )
        await audit(
            actor_for_telegram(telegram_id),
            "order.open",
            subject=f"order:{order.id}",
            code=order.code,
        )
        return customer, await Order.get(id=order.id)

    async def ask_phone(
        self, telegram_id: int, *, name: str, chat_id: int, order_id: int | None = None
    ) -> Customer:
        """Wait for a phone number: to remember (/phone), or to pay ``order_id`` with."""
        customer = await self.get_or_create(telegram_id, name=name, chat_id=chat_id)
        if order_id is not None:
            order = await Order.get_or_none(id=order_id)
            if order is None or not _is_theirs(customer, order):
                raise NotAllowed(NOT_OPENED)
        if order_id is not None or customer.conversation_state != AWAITING_PHONE:
            # /phone in the middle of paying an order keeps that order
            customer.conversation_order_id = order_id
        customer.conversation_state = AWAITING_PHONE
        await customer.save(
            update_fields=["conversation_state", "conversation_order_id", "updated_at"]
        )
        return customer

    async def set_phone(
        self, telegram_id: int, raw_phone: str, *, contact_user_id: int | None = None
    ) -> Customer:
        """Remember the Safaricom number to pay with; a shared contact must be the sender's own.

        ``contact_user_id`` is the user id on a shared contact (0 when the contact has none).
        """
        if contact_user_id is not None and contact_user_id != telegram_id:
            raise InvalidInput(OWN_NUMBER, field="phone")
        try:
            msisdn = route_phone(raw_phone, self._settings).msisdn
        except InvalidInput as exc:
            raise InvalidInput(exc.template + ".", field="phone", params=exc.params) from None
        customer, _ = await Customer.get_or_create(telegram_id=telegram_id)
        customer.msisdn = msisdn
        if customer.conversation_state != AWAITING_PHONE:
            # a contact shared out of the blue is only remembered: nothing gets paid by it
            customer.conversation_order_id = None
        if customer.conversation_order_id is None:
            customer.conversation_state = IDLE
        await customer.save(
            update_fields=["msisdn", "conversation_state", "conversation_order_id", "updated_at"]
        )
        await audit(actor_for_telegram(telegram_id), "customer.phone", phone=mask_msisdn(msisdn))
        log.info("customer.phone customer=%s phone=%s", customer.id, mask_msisdn(msisdn))
        return customer

    async def pay_order(
        self, telegram_id: int, *, chat_id: int, order_id: int | None = None
    ) -> Payment:
        """Send an STK Push for the open order (or ``order_id``, one of theirs) to their phone."""
        customer = await Customer.get_or_none(telegram_id=telegram_id)
        if customer is None:
            raise Conflict(NO_ORDER)
        wanted = customer.conversation_order_id if order_id is None else order_id
        if wanted is None:
            raise Conflict(NO_ORDER)
        order = await Order.get_or_none(id=wanted)
        if order is None or not _is_theirs(customer, order):
            raise NotAllowed(NOT_OPENED)
        if not customer.msisdn:
            raise InvalidInput(NO_PHONE, field="phone")
        # the conversation ends here whatever M-Pesa answers: a retry goes by the card's button
        customer.chat_id = chat_id
        customer.conversation_state = IDLE
        customer.conversation_order_id = None
        await customer.save(
            update_fields=["chat_id", "conversation_state", "conversation_order_id", "updated_at"]
        )
        _, payment = await self._order_payments.start_for_order(
            order,
            customer.msisdn,
            actor=actor_for_telegram(telegram_id),
            via="telegram",
            customer=customer,
            chat_id=chat_id,
        )
        return await _with_order(payment)

    async def retry_payment(self, telegram_id: int, payment_id: int, *, chat_id: int) -> Payment:
        """Send a new attempt of the customer's own failed payment (same phone, same amount)."""
        await self._own_payment(telegram_id, payment_id)
        payment = await self._payments.retry_payment(
            payment_id, initiator=None, actor=actor_for_telegram(telegram_id), chat_id=chat_id
        )
        return await _with_order(payment)

    async def check_payment(self, telegram_id: int, payment_id: int) -> Payment:
        """Ask M-Pesa now where the customer's own payment stands."""
        await self._own_payment(telegram_id, payment_id)
        payment = await self._payments.refresh_status(
            f"#{payment_id}", actor=actor_for_telegram(telegram_id)
        )
        return await _with_order(payment)

    async def _own_payment(self, telegram_id: int, payment_id: int) -> Payment:
        customer = await Customer.get_or_none(telegram_id=telegram_id)
        payment = await Payment.get_or_none(id=payment_id)
        # an unknown payment gets the same answer as someone else's: ids reveal nothing
        if customer is None or payment is None or payment.customer_id != customer.id:
            await audit(
                actor_for_telegram(telegram_id),
                "payment.access",
                subject=f"payment:{payment_id}",
                outcome="refused",
            )
            raise NotAllowed(NOT_YOURS)
        return payment

    async def orders(self, telegram_id: int) -> list[Order]:
        """The customer's orders (opened by them or paid from their chat), newest first."""
        customer = await Customer.get_or_none(telegram_id=telegram_id)
        if customer is None:
            return []
        return (
            await Order.filter(Q(customer_id=customer.id) | Q(payments__customer_id=customer.id))
            .distinct()
            .order_by("-created_at", "-id")
            .limit(ORDERS_LIMIT)
        )

    async def conversation(self, telegram_id: int) -> tuple[Customer | None, Order | None]:
        """The customer and the order their conversation is about (either may be None)."""
        customer = await Customer.get_or_none(telegram_id=telegram_id)
        if customer is None or customer.conversation_order_id is None:
            return customer, None
        return customer, await Order.get_or_none(id=customer.conversation_order_id)


def _is_theirs(customer: Customer, order: Order) -> bool:
    """True for the order the customer's conversation is about, or one they opened first."""
    return order.id == customer.conversation_order_id or order.customer_id == customer.id


async def _with_order(payment: Payment) -> Payment:
    """The payment with its order loaded (``payment.order`` is then an Order or None)."""
    await payment.fetch_related("order")
    return payment
