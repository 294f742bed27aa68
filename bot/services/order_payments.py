"""Paying an order: start, retry and follow its STK attempts, the one path for every front end.

The shop API, the chat (and the payment page and dashboard) start and retry an order's payment
here; the refusals are ServiceErrors with a precise code (AlreadyPaid, OrderCancelled,
PaymentInProgress with the waiting attempt, NothingToRetry) that each front end translates once.
"""

from __future__ import annotations

from bot.i18n import N_
from bot.services.errors import NothingToRetry, PaymentInProgress
from bot.services.orders import OrderService, refuse_settled
from bot.services.payments import PaymentService
from models import Customer, Order, Payment, PaymentStatus

# an attempt in these states may still reach the customer's phone
WAITING = (PaymentStatus.CREATED, PaymentStatus.PENDING, PaymentStatus.UNKNOWN)


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
    ) -> tuple[Order, Payment]:
        """Send an STK Push of the order's amount to ``raw_phone``; the order and the attempt."""
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
            raise PaymentInProgress(
                N_(
                    "Order {code} already has a payment waiting for the customer's PIN "
                    "(#{payment_id})."
                ),
                params={"code": order.code, "payment_id": last.id},
                payment_id=last.id,
            )
        payment = await self._payments.retry_payment(last.id, initiator=None, actor=actor)
        return await Order.get(id=order.id), payment

    async def status(self, code: str) -> tuple[Order, Payment | None]:
        """The order with this code and its newest attempt (None before the first)."""
        order = await self._orders.get_by_code(code)
        return order, await latest_payment(order)


async def latest_payment(order: Order) -> Payment | None:
    """The order's newest STK attempt, or None."""
    return await Payment.filter(order_id=order.id).order_by("-id").first()
