"""The payment page's service: one order followed by its code, paid by STK Push from a browser.

The page never restates a payment rule: it asks the same PaymentService the chat and the API use
(one prompt per phone and order, phone rules, amounts). What is its own are the abuse limits of
a public link: M-Pesa prompts per order and per client address within a window, counted in the
database (every attempt is audited), so they hold across restarts and instances.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from bot.config import Settings
from bot.i18n import N_
from bot.i18n import normalize
from bot.notify.notifier import Notifier
from bot.services.audit import audit
from bot.services.documents import masked_local
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import LimitExceeded
from bot.services.errors import NotFound
from bot.services.order_payments import OrderPaymentService
from bot.services.order_payments import receipt_email
from bot.services.orders import OrderService
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from bot.services.payments import PaymentService
from bot.services.providers import route_phone
from models import AuditEvent
from models import Customer
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import Staff
from mpesa.phone import mask_msisdn
from mpesa.security import NAIROBI

log = logging.getLogger(__name__)

REQUEST_ACTION = "payment.request"

NOT_FOUND = N_("There is no order at this link. Check the link the shop sent you.")
ORDER_LIMIT = N_(
    "This link has already sent {limit} M-Pesa prompts in the last {minutes} minutes, the most "
    "we allow. You can try again after {time}, or ask the shop for help."
)
ADDRESS_LIMIT = N_(
    "Too many M-Pesa prompts were asked for from your network: at most {limit} in "
    "{minutes} minutes. You can try again after {time}."
)
NOTHING_TO_RETRY = N_("There is no failed payment to try again on this order.")


@dataclass(frozen=True)
class Checkout:
    """What the payment page shows for one order: never another customer's personal data."""

    order: Order
    payment: Payment | None  # the newest attempt (the paid one once the order is paid)
    state: str  # open | waiting | failed | paid | review | cancelled

    @property
    def masked_phone(self) -> str | None:
        """The paying phone as the page shows it: 0708 *** 149."""
        if self.payment is None:
            return None
        return masked_local(self.payment.msisdn)


def checkout_state(order: Order, payment: Payment | None) -> str:
    """Where an order stands for the person paying it."""
    if order.status == OrderStatus.PAID:
        return "paid"
    if order.status == OrderStatus.CANCELLED:
        return "cancelled"
    if payment is None:
        return "open"
    status = PaymentStatus(payment.status)
    if status is PaymentStatus.REVIEW:
        return "review"
    if not status.is_final:
        return "waiting"
    return "failed"


class CheckoutService:
    """Shows an order by its code and pays it from the payment page."""

    def __init__(
        self,
        *,
        payments: PaymentService,
        orders: OrderService,
        order_payments: OrderPaymentService,
        settings: Settings,
        notifier: Notifier | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._payments = payments
        self._orders = orders
        self._order_payments = order_payments
        self._settings = settings
        self._notifier = notifier
        self._clock = clock

    async def send_link(
        self,
        raw_phone: str,
        amount: str | int,
        description: str,
        *,
        created_by: Staff | None,
        actor: str,
    ) -> tuple[Order, str]:
        """Create an order and text its pay link to ``raw_phone`` (in that phone's language).

        Returns the order and the normalised phone. The SMS goes through the outbox: once per
        order and phone, retried until Africa's Talking takes it.
        """
        msisdn = route_phone(raw_phone, self._settings).msisdn
        if self._notifier is None:
            raise Conflict("SMS is not set up, so the link cannot be texted.")
        customer = await Customer.filter(msisdn=msisdn).order_by("-updated_at").first()
        if customer is None:
            customer = await Customer.create(msisdn=msisdn)
        order = await self._orders.create_order(
            amount, description, created_by=created_by, actor=actor, via="link", customer=customer
        )
        language = customer.language or self._settings.default_language
        await self._notifier.pay_link_sms(order, msisdn, self.pay_url(order), language=language)
        await audit(actor, "order.link_sms", subject=f"order:{order.id}", phone=mask_msisdn(msisdn))
        return order, msisdn

    def pay_url(self, order: Order) -> str:
        """PUBLIC_BASE_URL/pay/<code>: the order's payment page."""
        return f"{(self._settings.public_base_url or '').rstrip('/')}/pay/{order.code}"

    async def view(self, code: str) -> Checkout:
        """The order behind ``code`` and its newest payment attempt, or NotFound."""
        order = await self._orders.find_by_code(code)
        if order is None:
            raise NotFound(NOT_FOUND, field="code")
        return await self._checkout(order)

    async def _checkout(self, order: Order) -> Checkout:
        order = await Order.get(id=order.id)
        payment = None
        if order.status == OrderStatus.PAID:
            payment = (
                await Payment.filter(order_id=order.id, status=PaymentStatus.PAID)
                .order_by("-id")
                .first()
            )
        if payment is None:
            payment = await Payment.filter(order_id=order.id).order_by("-id").first()
        return Checkout(order, payment, checkout_state(order, payment))

    async def pay(
        self,
        code: str,
        raw_phone: str,
        *,
        client: str,
        language: str,
        email: str | None = None,
    ) -> Checkout:
        """Send the PIN prompt for the order to ``raw_phone``; a paid or waiting order is shown.

        ``client`` is the browser's address (the per-address limit); ``language`` the page's,
        remembered for that phone's SMS and e-mail receipts; ``email`` gets the receipt.
        """
        current = await self.view(code)
        if current.state in ("paid", "waiting", "review", "cancelled"):
            return current  # never a second prompt for an order that is paid or waiting
        actor = _actor(client)
        address = receipt_email(email)  # a bad address is refused before any prompt
        # limits first: a flood of bad numbers counts too
        await self._check_limits(current.order, actor)
        try:
            msisdn = route_phone(raw_phone, self._settings).msisdn
        except InvalidInput as exc:
            await audit(actor, REQUEST_ACTION, outcome="refused", reason=str(exc), via="web")
            raise InvalidInput(exc.template + ".", field="phone", params=exc.params) from None
        customer = await self._remember(msisdn, language)
        await self._order_payments.start_for_order(
            current.order, msisdn, actor=actor, via="web", customer=customer, email=address
        )
        return await self._checkout(current.order)

    async def retry(self, code: str, *, client: str) -> Checkout:
        """Try the order's failed payment again (same phone): the page's [Try again]."""
        current = await self.view(code)
        if current.state != "failed" or current.payment is None:
            if current.state in ("paid", "waiting", "review", "cancelled"):
                return current
            raise Conflict(NOTHING_TO_RETRY)
        actor = _actor(client)
        await self._check_limits(current.order, actor)
        await self._order_payments.retry_for_order(current.order, actor=actor)
        return await self._checkout(current.order)

    async def _check_limits(self, order: Order, actor: str) -> None:
        """Refuse a prompt past PAY_LINK_MAX_PROMPTS_PER_ORDER or _PER_ADDRESS in the window."""
        settings = self._settings
        window = timedelta(seconds=settings.pay_link_limit_window_s)
        since = self._clock() - window
        minutes = max(1, round(window.total_seconds() / 60))
        # the same rule over two counts: the order's prompts, and this address's requests
        for which, rows, limit, text in (
            (
                "order",
                Payment.filter(order_id=order.id, created_at__gte=since),
                settings.pay_link_max_prompts_per_order,
                ORDER_LIMIT,
            ),
            (
                "address",
                AuditEvent.filter(actor=actor, action=REQUEST_ACTION, created_at__gte=since),
                settings.pay_link_max_prompts_per_address,
                ADDRESS_LIMIT,
            ),
        ):
            if await rows.count() >= limit:
                oldest = await rows.order_by("created_at").first()
                await audit(actor, "pay_page.limited", subject=f"order:{order.id}", limit=which)
                raise LimitExceeded(
                    text,
                    params={
                        "limit": limit,
                        "minutes": minutes,
                        "time": _clock_time(oldest.created_at + window if oldest else None),
                    },
                )

    async def _remember(self, msisdn: str, language: str) -> Customer:
        """The customer known by this phone (created if new), with the page's language."""
        customer = await Customer.filter(msisdn=msisdn).order_by("-updated_at").first()
        language = normalize(language) or self._settings.default_language
        if customer is None:
            customer = await Customer.create(msisdn=msisdn, language=language)
            log.info("checkout.customer_new customer=%s phone=%s", customer.id, mask_msisdn(msisdn))
        elif customer.language != language and not customer.language_chosen:
            customer.language = language
            await customer.save(update_fields=["language", "updated_at"])
        return customer

    async def receipt(self, code: str) -> Checkout:
        """A paid order and the payment that paid it (NotFound when it is not paid)."""
        current = await self.view(code)
        if current.state != "paid":
            raise NotFound(N_("This order is not paid yet, so it has no receipt."))
        return current


def _actor(client: str) -> str:
    """The audit actor of a browser: web:<address> (the per-address limit counts these)."""
    return f"web:{(client or 'unknown')[:56]}"


def _clock_time(moment: datetime | None) -> str:
    """HH:MM in Nairobi."""
    if moment is None:
        return "-"
    return moment.astimezone(NAIROBI).strftime("%H:%M")
