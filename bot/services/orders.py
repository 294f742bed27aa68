"""Orders: something to be paid, found by a short code a customer can type or open by deep link."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.i18n import N_
from bot.notify.notifier import Notifier
from bot.services.audit import audit
from bot.services.errors import AlreadyPaid
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotFound
from bot.services.errors import OrderCancelled
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from models import Customer
from models import Order
from models import OrderStatus
from models import Payment
from models import Staff
from mpesa.amounts import STK_MINIMUM
from mpesa.amounts import AmountError
from mpesa.amounts import parse_amount

log = logging.getLogger(__name__)

# no 0/O, 1/I/L: a customer reads the code off a screen and types it as a paybill account number
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
# the code is also the pay page's address (/pay/<code>), so it must not be guessable: 10 draws
# from 31 characters by `secrets` are 49 bits (8.2e14 codes), and the page refuses an address
# that keeps trying codes that do not exist. Older 8-character codes stay valid.
CODE_RANDOM_LENGTH = 10
CODE_MAX_LENGTH = 12  # Daraja's AccountReference limit (daraja.md §6.1)
CODE_ATTEMPTS = 5
DESCRIPTION_LIMIT = 255
REFERENCE_LIMIT = 64


def default_code_prefix(business_name: str) -> str:
    """Initials of the first two words of the business name ("Household Planet Kenya" -> "HP")."""
    words = re.findall(r"[A-Za-z]+", business_name)
    return "".join(word[0] for word in words[:2]).upper()


def normalize_code(raw: str) -> str:
    """An order code as stored: whitespace removed, upper case ("hp 7k2q" -> "HP7K2Q")."""
    return re.sub(r"\s+", "", raw or "").upper()


async def settle_order(order_id: int, *, receipt: str | None, paid_at: datetime) -> bool:
    """Mark an open order paid (conditional update); False if it was no longer open."""
    won = await Order.filter(id=order_id, status=OrderStatus.OPEN).update(
        status=OrderStatus.PAID, paid_receipt=receipt, paid_at=paid_at
    )
    return bool(won)


def refuse_settled(order: Order) -> None:
    """Raise AlreadyPaid or OrderCancelled unless the order is still open for a payment."""
    if order.status == OrderStatus.PAID:
        if order.paid_receipt:
            raise AlreadyPaid(
                N_("Order {code} is already paid (receipt {receipt})."),
                params={"code": order.code, "receipt": order.paid_receipt},
            )
        raise AlreadyPaid(N_("Order {code} is already paid."), params={"code": order.code})
    if order.status == OrderStatus.CANCELLED:
        raise OrderCancelled(N_("Order {code} was cancelled."), params={"code": order.code})
    if order.status == OrderStatus.REVERSED:
        raise OrderCancelled(
            N_("Order {code} was paid, then its payment was reversed."),
            params={"code": order.code},
        )


class OrderService:
    """Creates orders and finds them by code."""

    def __init__(
        self,
        *,
        notifier: Notifier,
        settings: Settings,
        clock: Clock = utcnow,
        code_prefix: str | None = None,
    ) -> None:
        self._notifier = notifier
        self._settings = settings
        self._clock = clock
        prefix = default_code_prefix(settings.business_name) if code_prefix is None else code_prefix
        self._prefix = prefix[: CODE_MAX_LENGTH - CODE_RANDOM_LENGTH]

    def new_code(self) -> str:
        """A fresh random order code: the prefix and 10 characters from CODE_ALPHABET."""
        body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_RANDOM_LENGTH))
        return f"{self._prefix}{body}"

    async def create_order(
        self,
        amount: str | int,
        description: str,
        *,
        created_by: Staff | None,
        actor: str,
        reference: str | None = None,
        via: str = "chat",
        customer: Customer | None = None,
    ) -> Order:
        """Open an order for ``amount`` whole shillings with a unique code."""
        try:
            value = parse_amount(
                amount, minimum=STK_MINIMUM, maximum=self._settings.mpesa_max_amount
            )
        except AmountError as exc:
            raise InvalidInput(str(exc), field="amount") from None
        description = (description or "").strip()[:DESCRIPTION_LIMIT]
        reference = (reference or "").strip() or None
        if reference is not None and len(reference) > REFERENCE_LIMIT:
            raise InvalidInput(
                f"The reference is longer than {REFERENCE_LIMIT} characters.", field="reference"
            )
        if reference is not None:
            await self._refuse_taken_reference(reference)
        for _ in range(CODE_ATTEMPTS):
            code = self.new_code()
            try:
                async with in_transaction():
                    order = await Order.create(
                        code=code,
                        amount=value,
                        description=description,
                        reference=reference,
                        created_by=created_by,
                        created_via=via,
                        customer=customer,
                    )
                    await audit(
                        actor,
                        "order.create",
                        subject=f"order:{order.id}",
                        code=code,
                        amount=value,
                        via=via,
                    )
            except IntegrityError:
                if reference is not None:
                    # two requests with the same shop reference raced: the loser is refused
                    await self._refuse_taken_reference(reference)
                log.warning("order.code_collision code=%s", code)
                continue
            log.info("order.created order=%s code=%s amount=%s", order.id, code, value)
            return order
        raise Conflict("Could not pick a free order code; please try again.")

    async def _refuse_taken_reference(self, reference: str) -> None:
        existing = await Order.get_or_none(reference=reference)
        if existing is not None:
            raise Conflict(
                f"An order with the reference {reference} already exists ({existing.code})."
            )

    async def get_by_code(self, code: str) -> Order:
        """The order with this code (case and spaces ignored), or NotFound."""
        order = await self.find_by_code(code)
        if order is None:
            raise NotFound(f"No order has the code {code.strip()}.")
        return order

    async def find_by_code(self, code: str) -> Order | None:
        """The order with this code (case and spaces ignored), or None."""
        normalized = normalize_code(code)
        if not normalized or len(normalized) > CODE_MAX_LENGTH:
            return None
        return await Order.get_or_none(code=normalized)

    async def order_for(self, payment: Payment) -> Order | None:
        """The order a payment is for, or None for a payment without one."""
        return await Order.get_or_none(id=payment.order_id) if payment.order_id else None

    def deep_link(self, order: Order, bot_username: str) -> str:
        """The t.me link that opens the bot on this order."""
        return f"https://t.me/{bot_username.lstrip('@')}?start={order.code}"

    async def orders_for_customer(self, customer: Customer) -> list[Order]:
        """The customer's orders, newest first."""
        return await Order.filter(customer_id=customer.id).order_by("-created_at", "-id")
