"""Paying an order: start, retry and follow its STK attempts, the one path for every front end.

The shop API, the chat (and the payment page and dashboard) start and retry an order's payment
here; the refusals are ServiceErrors with a precise code (AlreadyPaid, OrderCancelled,
PaymentInProgress with the waiting attempt, NothingToRetry) that each front end translates once.
"""

from __future__ import annotations

import re

from bot.i18n import N_
from bot.services.errors import InvalidInput
from bot.services.errors import NothingToRetry
from bot.services.orders import OrderService
from bot.services.orders import refuse_settled
from bot.services.payments import PaymentService
from bot.services.payments import order_waiting
from models import Customer
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus

# an attempt in these states may still reach the customer's phone
WAITING = (PaymentStatus.CREATED, PaymentStatus.PENDING, PaymentStatus.UNKNOWN)

# where the receipt e-mail goes: one @, a dot in the domain, no spaces, quotes, angle brackets
# or control characters; the API's document declares exactly this pattern (bot/web/api/grammar)
EMAIL_LIMIT = 254
_EMAIL_CHAR = r'[^@<>"\x00-\x20\x7f]'
EMAIL_PATTERN = rf"^{_EMAIL_CHAR}+@{_EMAIL_CHAR}+\.{_EMAIL_CHAR}+$"
_EMAIL = re.compile(EMAIL_PATTERN)
BAD_EMAIL = N_("{email} is not an e-mail address. Leave the field empty if you want no e-mail.")


class OrderPaymentService:
    """Starts and retries the payment of an order, and says where it stands."""

    def __init__(self, *, orders: OrderService, payments: PaymentService) -> None:
        self._orders = orders
        self._payments = payments

    async def start_for_order(
        self,
        order: Order,
        raw_phone: str,
        *,
        actor: str,
        via: str,
        customer: Customer | None = None,
        chat_id: int | None = None,
        email: str | None = None,
    ) -> tuple[Order, Payment]:
        """Send an STK Push of the order's amount to ``raw_phone``; the order and the attempt.

        ``email``: where the receipt e-mail goes once paid (checked before any prompt is sent).
        """
        address = receipt_email(email)
        if address is not None and order.status == OrderStatus.OPEN:
            await Order.filter(id=order.id, status=OrderStatus.OPEN).update(email=address)
        payment = await self._payments.request_payment(
            raw_phone,
            None,
            initiator=None,
            actor=actor,
            order=order,
            customer=customer,
            chat_id=chat_id,
            via=via,
        )
        return await Order.get(id=order.id), payment

    async def retry_for_order(self, order: Order, *, actor: str) -> tuple[Order, Payment]:
        """Send the order's last attempt again (same phone); the order and the new attempt."""
        order = await Order.get(id=order.id)
        refuse_settled(order)
        last = await latest_payment(order)
        if last is None:
            raise NothingToRetry(
                N_("Order {code} has no payment to retry yet; start one first."),
                params={"code": order.code},
                field="ref",
            )
        if PaymentStatus(last.status) in WAITING:
            raise order_waiting(order, last.id)
        payment = await self._payments.retry_payment(last.id, initiator=None, actor=actor)
        return await Order.get(id=order.id), payment

    async def status(self, code: str) -> tuple[Order, Payment | None]:
        """The order with this code and its newest attempt (None before the first)."""
        order = await self._orders.get_by_code(code)
        return order, await latest_payment(order)


async def latest_payment(order: Order) -> Payment | None:
    """The order's newest STK attempt, or None."""
    return await Payment.filter(order_id=order.id).order_by("-id").first()


def receipt_email(raw: str | None) -> str | None:
    """The address a receipt e-mail goes to (None when left empty); InvalidInput otherwise."""
    text = (raw or "").strip(" \t\r\n")
    if not text:
        return None
    if len(text) > EMAIL_LIMIT or not _EMAIL.fullmatch(text):
        shown = text if len(text) <= 40 else text[:39] + "…"
        raise InvalidInput(BAD_EMAIL, field="email", params={"email": shown})
    return text
