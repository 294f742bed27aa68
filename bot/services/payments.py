"""STK Push payments: ask a customer's phone for money, then follow the request until it settles.

Each push is one money intent (intents.py): recorded and held before Daraja is called, marked
sending (committed), then its answer recorded in a new transaction; a push whose answer was lost
is ``unknown`` and only a callback, a query or a person settles it, never time. In flight,
``in_flight_msisdn`` and ``in_flight_order_id`` are unique, so a second push to the same phone or
for the same order is refused by the database, not by luck.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from airtel import errors as airtel_errors
from airtel.callbacks import CollectionCallback
from bot.config import Settings
from bot.i18n import N_
from bot.notify.notifier import Notifier
from bot.services.airtel_money import AirtelMoney
from bot.services.airtel_payments import AirtelCollections
from bot.services.airtel_payments import new_collection_id
from bot.services.audit import audit
from bot.services.daraja import Daraja
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotFound
from bot.services.errors import PaymentInProgress
from bot.services.errors import ServiceError
from bot.services.errors import UpstreamError
from bot.services.intents import PROVIDER_ERRORS
from bot.services.intents import Accepted
from bot.services.intents import Intents
from bot.services.intents import Lease
from bot.services.intents import NeverLeft
from bot.services.intents import NotSent
from bot.services.intents import Refused
from bot.services.intents import Unknown
from bot.services.orders import refuse_settled
from bot.services.outcome import ApplyOutcome
from bot.services.outcome import Clock
from bot.services.outcome import ReplayUnmatched
from bot.services.outcome import busy_reason
from bot.services.outcome import utcnow
from bot.services.payment_callbacks import SETTLED
from bot.services.payment_callbacks import PaymentSettler
from bot.services.payment_callbacks import subject
from bot.services.payment_lookup import display_phone
from bot.services.payment_lookup import find_payment_or_order
from bot.services.payment_reconcile import PaymentReconciler
from bot.services.providers import Routed
from bot.services.providers import max_amount
from bot.services.providers import provider_name
from bot.services.providers import request_amount
from bot.services.providers import route_phone
from bot.services.stk_links import StkLinker
from bot.services.stk_links import is_success
from models import CallbackKind
from models import Customer
from models import Order
from models import Payment
from models import PaymentStatus
from models import PostState
from models import Provider
from models import Staff
from mpesa.amounts import format_kes
from mpesa.callbacks import StkCallback
from mpesa.errors import AuthFailed
from mpesa.errors import ConfigurationError
from mpesa.errors import DarajaError
from mpesa.errors import DarajaUnreachable
from mpesa.errors import RateLimited
from mpesa.models import StkPushResponse
from mpesa.models import StkQueryResponse
from mpesa.phone import mask_id
from mpesa.phone import mask_msisdn

log = logging.getLogger(__name__)

UNREACHABLE = N_("M-Pesa could not be reached; nothing was sent. Try again in a moment.")
AIRTEL_UNREACHABLE = N_(
    "Airtel Money could not be reached; nothing was sent. Try again in a moment."
)
AIRTEL_OFF = N_("{phone} is an Airtel number, and Airtel Money is not set up here yet.")
# Airtel's refusals that only an administrator can fix (our credentials or set-up)
AIRTEL_ALERTS = (
    airtel_errors.InvalidRequest,
    airtel_errors.AuthFailed,
    airtel_errors.ConfigurationError,
)
NEVER_SENT = N_("The request was never sent to M-Pesa (its worker stopped first); send it again.")
ORDER_TRANSACTION_DESC = "Order payment"  # 13 characters: Daraja's documented maximum


def order_waiting(order: Order, payment_id: int) -> PaymentInProgress:
    """The refusal of a second payment for an order whose prompt awaits the customer's PIN."""
    return PaymentInProgress(
        N_("Order {code} already has a payment waiting for the customer's PIN (#{payment_id})."),
        params={"code": order.code, "payment_id": payment_id},
        payment_id=payment_id,
    )


@dataclass(frozen=True)
class RequestCheck:
    """A payment request's phone and amount as /request reads them, and per field why not."""

    routed: Routed | None
    amount: int | None
    errors: dict[str, InvalidInput]

    @property
    def ok(self) -> bool:
        """True when /request would take both."""
        return not self.errors


class PaymentService:
    """Requests payments (M-Pesa STK Push, Airtel USSD push), applies what the provider reports,
    and reconciles the silent ones."""

    def __init__(
        self,
        *,
        daraja: Daraja,
        notifier: Notifier,
        settings: Settings,
        clock: Clock = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        intents: Intents | None = None,
        airtel: AirtelMoney | None = None,
    ) -> None:
        self._daraja = daraja
        self._notifier = notifier
        self._settings = settings
        self._clock = clock
        self._intents = intents or Intents(clock=clock, lease_s=settings.daraja_call_max_s)
        self.replay_unmatched: ReplayUnmatched | None = None
        self.settler = PaymentSettler(
            daraja=daraja, notifier=notifier, settings=settings, clock=clock
        )
        self.links = StkLinker(settler=self.settler, clock=clock)
        self._reconciler = PaymentReconciler(
            daraja=daraja,
            notifier=notifier,
            settings=settings,
            settler=self.settler,
            links=self.links,
            intents=self._intents,
            clock=clock,
            sleep=sleep,
        )
        # Airtel Money pushes, when the provider is configured (composition, like the settler)
        self.airtel: AirtelCollections | None = None
        if airtel is not None:
            self.airtel = AirtelCollections(
                airtel=airtel,
                notifier=notifier,
                settings=settings,
                settler=self.settler,
                intents=self._intents,
                clock=clock,
            )

    # -- requesting ---------------------------------------------------------------------------

    async def request_payment(
        self,
        raw_phone: str,
        raw_amount: str | int | None,
        *,
        initiator: Staff | None,
        actor: str,
        order: Order | None = None,
        customer: Customer | None = None,
        description: str | None = None,
        chat_id: int | None = None,
        via: str = "chat",
    ) -> Payment:
        """Send an STK Push for ``raw_amount`` shillings (the order's amount when None)."""
        try:
            provider, msisdn, amount, order = await self._validate(raw_phone, raw_amount, order)
        except ServiceError as exc:
            await audit(actor, "payment.request", outcome="refused", reason=str(exc))
            raise
        payment, lease = await self._record(
            msisdn,
            amount,
            provider=provider,
            actor=actor,
            initiator=initiator,
            order=order,
            customer=customer,
            description=description,
            chat_id=chat_id,
            via=via,
            previous=None,
        )
        return await self._push(payment, lease, actor)

    # the same _record call as request_payment on purpose: a retry names each field it copies
    async def retry_payment(
        self, payment_id: int, *, initiator: Staff | None, actor: str, chat_id: int | None = None
    ) -> Payment:
        """Send the newest attempt again after it was cancelled, failed or timed out."""
        old = await Payment.get_or_none(id=payment_id)
        if old is None:
            raise NotFound(f"There is no payment #{payment_id}.")
        refusal = await self._retry_refusal(old)
        if refusal is not None:
            await audit(actor, "payment.retry", subject=subject(old), outcome="refused")
            raise refusal
        order = await Order.get(id=old.order_id) if old.order_id is not None else None
        customer = await Customer.get_or_none(id=old.customer_id) if old.customer_id else None
        try:
            provider, msisdn, amount, order = await self._validate(old.msisdn, old.amount, order)
        except ServiceError:
            await audit(actor, "payment.retry", subject=subject(old), outcome="refused")
            raise
        payment, lease = await self._record(
            msisdn,
            amount,
            provider=provider,
            actor=actor,
            initiator=initiator,
            order=order,
            customer=customer,
            description=old.description,
            chat_id=chat_id if chat_id is not None else old.chat_id,
            via=old.initiated_via,
            previous=old,
        )
        return await self._push(payment, lease, actor)

    async def _retry_refusal(self, old: Payment) -> Conflict | None:
        """Why ``old`` may not be sent again, or None (only the newest attempt may be)."""
        if old.superseded_by_id is not None:
            newer = await Payment.get_or_none(id=old.superseded_by_id)
            return Conflict(
                N_(
                    "Payment #{payment_id} was already sent again as #{newer_id} (attempt "
                    "{attempt}, {status}); use that one instead."
                ),
                params={
                    "payment_id": old.id,
                    "newer_id": old.superseded_by_id,
                    "attempt": newer.attempt if newer else old.attempt + 1,
                    "status": _words(newer.status) if newer else "sent",
                },
            )
        status = PaymentStatus(old.status)
        if status is PaymentStatus.UNKNOWN:
            return Conflict(
                N_(
                    "{provider} never answered payment #{payment_id}, so the customer may have "
                    "paid. An admin must resolve it first (/resolve #{payment_id})."
                ),
                params={"payment_id": old.id, "provider": provider_name(old.provider)},
            )
        if not status.can_retry:
            return Conflict(
                N_(
                    "Payment #{payment_id} is {status}; only a cancelled, failed or timed-out "
                    "payment can be sent again."
                ),
                params={"payment_id": old.id, "status": _words(status)},
            )
        return None

    def route(self, raw_phone: str) -> Routed:
        """The provider and 2547XXXXXXXX number a request to ``raw_phone`` would use here."""
        routed = route_phone(raw_phone, self._settings)
        if routed.provider is Provider.AIRTEL and self.airtel is None:
            raise InvalidInput(AIRTEL_OFF, field="phone", params={"phone": str(raw_phone)})
        return routed

    def check_request(self, raw_phone: str, raw_amount: str | int) -> RequestCheck:
        """What /request would say of this phone and amount, each on its own, sending nothing.

        The dashboard's form asks this as the cashier types; the amount is read against the
        phone's provider (M-Pesa's limits while the phone is still wrong).
        """
        errors: dict[str, InvalidInput] = {}
        routed: Routed | None = None
        try:
            routed = self.route(raw_phone)
        except InvalidInput as exc:
            errors["phone"] = exc
        provider = routed.provider if routed is not None else Provider.MPESA
        amount: int | None = None
        try:
            amount = request_amount(raw_amount, provider, self._settings)
        except InvalidInput as exc:
            errors["amount"] = exc
        return RequestCheck(routed, amount, errors)

    async def _validate(
        self, raw_phone: str, raw_amount: str | int | None, order: Order | None
    ) -> tuple[Provider, str, int, Order | None]:
        """The provider, normalised phone, whole-shilling amount and fresh order, or a refusal."""
        routed = self.route(raw_phone)
        provider, msisdn = routed.provider, routed.msisdn
        if order is not None:
            order = await Order.get(id=order.id)
            refuse_settled(order)
            parked = (
                await Payment.filter(
                    order_id=order.id, status__in=[PaymentStatus.REVIEW, PaymentStatus.UNKNOWN]
                )
                .order_by("id")
                .first()
            )
            if parked is not None:
                raise Conflict(
                    N_(
                        "Order {code} has a payment that may have been paid (#{payment_id}); "
                        "an admin must resolve it first (/resolve #{payment_id})."
                    ),
                    params={"code": order.code, "payment_id": parked.id},
                )
            if raw_amount is None:
                if order.amount > max_amount(provider, self._settings):
                    raise InvalidInput(
                        f"Order {order.code} is for {format_kes(order.amount)}, over the "
                        f"{format_kes(max_amount(provider, self._settings))} limit of "
                        f"{provider_name(provider)} per transaction.",
                        field="amount",
                    )
                return provider, msisdn, order.amount, order
        if raw_amount is None:
            raise InvalidInput("No amount given; enter whole shillings, e.g. 1500", field="amount")
        amount = request_amount(raw_amount, provider, self._settings)
        if order is not None and amount != order.amount:
            raise InvalidInput(
                f"Order {order.code} is for {format_kes(order.amount)}, not {format_kes(amount)}.",
                field="amount",
            )
        return provider, msisdn, amount, order

    async def _next_attempt(self, order: Order | None, previous: Payment | None) -> int:
        """The attempt number of a new push: one more than the order's, or than ``previous``."""
        attempt = previous.attempt + 1 if previous is not None else 1
        if order is not None:
            attempt = max(attempt, await Payment.filter(order_id=order.id).count() + 1)
        return attempt

    async def _record(
        self,
        msisdn: str,
        amount: int,
        *,
        provider: Provider = Provider.MPESA,
        actor: str,
        initiator: Staff | None,
        order: Order | None,
        customer: Customer | None,
        description: str | None,
        chat_id: int | None,
        via: str,
        previous: Payment | None,
    ) -> tuple[Payment, Lease]:
        """Write the request, in flight and held by us, and commit it before anything is sent."""
        reference = order.code if order is not None else self._settings.mpesa_account_reference
        note = description if description is not None else (order.description if order else "")
        customer_id = customer.id if customer else (order.customer_id if order else None)
        holder = self._intents.new_holder()
        attempt = await self._next_attempt(order, previous)
        try:
            async with in_transaction():
                payment = await Payment.create(
                    provider=provider,
                    # Airtel: our id for the push, stored before it is sent (enquiries use it)
                    transaction_id=new_collection_id() if provider is Provider.AIRTEL else None,
                    order_id=order.id if order else None,
                    customer_id=customer_id,
                    initiated_by=initiator,
                    initiated_via=via,
                    msisdn=msisdn,
                    amount=amount,
                    account_reference=reference,
                    description=(note or "").strip()[:255],
                    attempt=attempt,
                    retry_of_id=previous.id if previous is not None else None,
                    in_flight_msisdn=msisdn,
                    in_flight_order_id=order.id if order else None,
                    chat_id=chat_id,
                    created_at=self._clock(),
                    **self._intents.held_fields(holder),
                )
                superseded = await self._supersede(payment, order, previous)
                await audit(
                    actor,
                    "payment.request",
                    subject=subject(payment),
                    amount=amount,
                    phone=mask_msisdn(msisdn),
                    provider=provider.value,
                    order=order.code if order else None,
                    attempt=attempt,
                    retry_of=previous.id if previous else None,
                )
                for older in superseded:
                    await self._notifier.payment_superseded(older)
        except IntegrityError:
            refusal = await self._in_flight_refusal(msisdn, order, previous)
            await audit(actor, "payment.request", outcome="refused", reason=str(refusal))
            raise refusal from None
        return payment, self._intents.lease_for(payment, holder)

    @staticmethod
    async def _supersede(
        payment: Payment, order: Order | None, previous: Payment | None
    ) -> list[Payment]:
        """Mark the earlier attempts of this intent as replaced by ``payment`` (its transaction)."""
        if order is not None:
            older = Payment.filter(order_id=order.id, superseded_by_id__isnull=True)
        elif previous is not None:
            older = Payment.filter(id=previous.id, superseded_by_id__isnull=True)
        else:
            return []
        rows = await older.exclude(id=payment.id)
        if previous is not None and previous.id not in {row.id for row in rows}:
            raise IntegrityError(f"payment {previous.id} was already sent again")
        ids = [row.id for row in rows]
        if ids:
            await Payment.filter(id__in=ids, superseded_by_id__isnull=True).update(
                superseded_by_id=payment.id
            )
        return await Payment.filter(id__in=ids) if ids else []

    async def _in_flight_refusal(
        self, msisdn: str, order: Order | None, previous: Payment | None
    ) -> Conflict:
        """The refusal for a second push while one is open (one prompt per phone and order)."""
        if previous is not None:
            fresh = await Payment.get(id=previous.id)
            refusal = await self._retry_refusal(fresh)
            if refusal is not None:
                return refusal
        busy = await Payment.get_or_none(in_flight_msisdn=msisdn)
        if busy is not None:
            # a second STK to a phone cancels the first prompt on the handset
            return PaymentInProgress(
                N_(
                    "A payment to {phone} is already waiting for the customer's PIN "
                    "(#{payment_id})."
                ),
                params={"phone": display_phone(msisdn), "payment_id": busy.id},
                payment_id=busy.id,
                field="phone",
            )
        if order is not None:
            busy = await Payment.get_or_none(in_flight_order_id=order.id)
            if busy is not None:
                return order_waiting(order, busy.id)
        return PaymentInProgress(
            N_("Another payment request just started for this phone or order; try again.")
        )

    async def _push(self, payment: Payment, lease: Lease, actor: str) -> Payment:
        """Make the STK Push of a recorded, held payment (once) and record what came of it."""
        if payment.provider == Provider.AIRTEL:
            return await self._push_airtel(payment, lease, actor)
        outcome = await self._intents.post(
            lease,
            lambda: self._daraja.stk_push(
                msisdn=payment.msisdn,
                amount=payment.amount,
                reference=payment.account_reference,
                # the order code is the reference; the description stays within Daraja's 13
                description=(
                    ORDER_TRANSACTION_DESC
                    if payment.order_id is not None
                    else self._settings.mpesa_transaction_desc
                ),
            ),
        )
        if isinstance(outcome, Accepted):
            answer: StkPushResponse = outcome.answer
            if answer.response_code != "0":
                return await self._mark_failed(
                    payment, actor, answer.response_code, answer.response_description
                )
            return await self._mark_pending(payment, actor, answer)
        if isinstance(outcome, NeverLeft):
            return await self._mark_failed(
                payment, actor, outcome.error.code, UNREACHABLE, never_left=True
            )
        if isinstance(outcome, Refused):
            exc = outcome.error
            reason = busy_reason(exc) if isinstance(exc, RateLimited) else str(exc)
            alert = isinstance(exc, AuthFailed | ConfigurationError)
            return await self._mark_failed(payment, actor, exc.code, reason, alert=alert)
        if isinstance(outcome, Unknown):
            payment = await self.mark_unknown(payment, actor, outcome.reason)
            if outcome.error is not None and not isinstance(outcome.error, PROVIDER_ERRORS):
                raise outcome.error  # recorded first; the error handler tells the admins
            return payment
        assert isinstance(outcome, NotSent)
        log.warning("stk.not_sent payment=%s reason=%s", payment.id, outcome.reason)
        return await Payment.get(id=payment.id)

    async def _push_airtel(self, payment: Payment, lease: Lease, actor: str) -> Payment:
        """The Airtel USSD push of a recorded, held payment (once), and what came of it."""
        assert self.airtel is not None
        airtel = self.airtel
        outcome = await self._intents.post(lease, lambda: airtel.push(payment))
        if isinstance(outcome, Accepted):
            payment = await airtel.mark_pending(payment, actor, outcome.answer)
            await self._replay_airtel(payment)
            return await Payment.get(id=payment.id)
        if isinstance(outcome, NeverLeft):
            return await self._mark_failed(
                payment, actor, outcome.error.code, AIRTEL_UNREACHABLE, never_left=True
            )
        if isinstance(outcome, Refused):
            exc = outcome.error
            info = getattr(exc, "info", None)
            reason = (info.description or info.meaning) if info is not None else str(exc)
            code = info.code if info is not None else exc.code
            alert = isinstance(exc, AIRTEL_ALERTS)
            return await self._mark_failed(payment, actor, code, reason, alert=alert)
        if isinstance(outcome, Unknown):
            payment = await self.mark_unknown(payment, actor, outcome.reason)
            await self._replay_airtel(payment)
            if outcome.error is not None and not isinstance(outcome.error, PROVIDER_ERRORS):
                raise outcome.error
            return await Payment.get(id=payment.id)
        assert isinstance(outcome, NotSent)
        log.warning("airtel.push.not_sent payment=%s reason=%s", payment.id, outcome.reason)
        return await Payment.get(id=payment.id)

    async def _replay_airtel(self, payment: Payment) -> None:
        """Apply an Airtel callback that arrived while the push's answer was being recorded."""
        if self.replay_unmatched is None or payment.transaction_id is None:
            return
        try:
            await self.replay_unmatched(CallbackKind.AIRTEL_COLLECTION, payment.transaction_id)
        except Exception:
            log.exception("airtel.replay_failed payment=%s", payment.id)

    async def _mark_pending(self, payment: Payment, actor: str, answer: StkPushResponse) -> Payment:
        now = self._clock()
        after = timedelta(seconds=self._settings.stk_query_after_s)
        pending = {
            "status": PaymentStatus.PENDING,
            "merchant_request_id": answer.merchant_request_id,
            "checkout_request_id": answer.checkout_request_id,
            "next_query_at": now + after,
            **self._intents.answered(),
        }
        async with in_transaction():
            won = await Payment.filter(id=payment.id, status=PaymentStatus.CREATED).update(
                **pending
            )
            # a slow answer may come after the lease lapsed and the push was marked unknown:
            # its CheckoutRequestID is never lost, and the card leaves "unknown"
            late = not won and await Payment.filter(
                id=payment.id, status=PaymentStatus.UNKNOWN
            ).update(**pending)
            if late:
                await self._notifier.payment_changed(await Payment.get(id=payment.id))
            won = won or late
            if not won:
                # settled meanwhile (linked or resolved): keep the id, so its callback is judged
                await Payment.filter(id=payment.id, checkout_request_id__isnull=True).update(
                    checkout_request_id=answer.checkout_request_id,
                    merchant_request_id=answer.merchant_request_id,
                    **self._intents.answered(),
                )
            await audit(
                actor,
                "payment.sent",
                subject=subject(payment),
                outcome="ok" if won else "late",
                checkout_request_id=answer.checkout_request_id,
            )
            if not won:
                await self._notifier.admin_alert(
                    f"payment:{payment.id}:late_accept",
                    f"M-Pesa accepted payment #{payment.id} "
                    f"({answer.checkout_request_id}) after it was settled here. "
                    "Check the M-Pesa portal before asking the customer again.",
                )
        log.info(
            "stk.sent payment=%s checkout=%s phone=%s amount=%s",
            payment.id,
            mask_id(answer.checkout_request_id),
            mask_msisdn(payment.msisdn),
            payment.amount,
        )
        if self.replay_unmatched is not None:
            try:
                await self.replay_unmatched(CallbackKind.STK, answer.checkout_request_id)
            except Exception:
                log.exception("stk.replay_failed payment=%s", payment.id)
        return await Payment.get(id=payment.id)

    async def _mark_failed(
        self,
        payment: Payment,
        actor: str,
        code: str | None,
        reason: str,
        *,
        alert: bool = False,
        never_left: bool = False,
        notify: bool = False,
    ) -> Payment:
        """Record that nothing reached the customer (the caller shows it, unless ``notify``)."""
        post = self._intents.not_sent() if never_left else self._intents.answered()
        async with in_transaction():
            won = await Payment.filter(id=payment.id, status=PaymentStatus.CREATED).update(
                status=PaymentStatus.FAILED,
                result_code=(code or "")[:32] or None,
                result_desc=reason[:255],
                **{**SETTLED, **post},
            )
            await audit(
                actor, "payment.sent", subject=subject(payment), outcome="failed", reason=reason
            )
            if won and notify:
                await self._notifier.payment_changed(await Payment.get(id=payment.id))
            if alert:
                await self._notifier.admin_alert(
                    f"payment:{payment.id}:refused",
                    f"{provider_name(payment.provider)} refused payment #{payment.id}: {reason}",
                )
        log.warning("stk.refused payment=%s code=%s reason=%s", payment.id, code, reason)
        return await Payment.get(id=payment.id)

    async def mark_unknown(
        self, payment: Payment, actor: str, reason: str, *, notify: bool = False
    ) -> Payment:
        """The push may have reached M-Pesa: unknown until a callback, query or person says.

        An Airtel push is asked about by its transaction id (enquiry); an M-Pesa one, which has
        no id yet, waits for the callback that fits it.
        """
        now = self._clock()
        airtel = payment.provider == Provider.AIRTEL
        every = (
            self._settings.airtel_enquiry_every_s if airtel else self._settings.stk_query_every_s
        )
        async with in_transaction():
            won = await Payment.filter(id=payment.id, status=PaymentStatus.CREATED).update(
                status=PaymentStatus.UNKNOWN,
                result_desc=reason[:255],
                next_query_at=now + timedelta(seconds=every),
                **self._intents.unknown(),
            )
            await audit(
                actor, "payment.sent", subject=subject(payment), outcome="unknown", reason=reason
            )
            if won and notify:
                await self._notifier.payment_changed(await Payment.get(id=payment.id))
        log.warning("stk.outcome_unknown payment=%s reason=%s", payment.id, reason)
        if won and not airtel:
            # its callback may already be here, waiting unmatched
            await self.links.on_unknown(await Payment.get(id=payment.id))
        return await Payment.get(id=payment.id)

    async def set_status_message(self, payment_id: int, chat_id: int, message_id: int) -> None:
        """Remember the chat message that shows this payment's live status."""
        await Payment.filter(id=payment_id).update(chat_id=chat_id, message_id=message_id)

    # -- looking up ---------------------------------------------------------------------------

    async def find(self, ref: str) -> Payment | Order:
        """The payment (by #id, receipt or CheckoutRequestID) or order (by code) ``ref`` names."""
        return await find_payment_or_order(ref)

    async def status(self, ref: str) -> Payment | Order:
        """Where a payment or order stands (no Daraja call)."""
        return await self.find(ref)

    async def refresh_status(self, ref: str, *, actor: str) -> Payment:
        """Ask M-Pesa now (STK query) about a payment, apply a final answer, return the payment."""
        found = await self.find(ref)
        if isinstance(found, Order):
            payment = await Payment.filter(order_id=found.id).order_by("-id").first()
            if payment is None:
                raise NotFound(f"Order {found.code} has no M-Pesa request yet.")
        else:
            payment = found
        if payment.provider == Provider.AIRTEL:
            return await self._refresh_airtel(payment, actor)
        if payment.checkout_request_id is None:
            if payment.status == PaymentStatus.UNKNOWN:
                # nothing to ask M-Pesa about: look for its callback among the unmatched ones
                await self.links.on_unknown(payment)
            return await Payment.get(id=payment.id)
        answer = await self.query(payment)
        outcome = await self.settler.apply_query_answer(payment, answer, actor=actor)
        await audit(
            actor,
            "payment.refresh",
            subject=subject(payment),
            outcome=outcome.value if outcome else "pending",
            code=answer.result_code,
        )
        return await Payment.get(id=payment.id)

    async def _refresh_airtel(self, payment: Payment, actor: str) -> Payment:
        """Ask Airtel now (enquiry by our transaction id) and apply a final answer."""
        if self.airtel is None or payment.transaction_id is None:
            return await Payment.get(id=payment.id)
        if PaymentStatus(payment.status) is PaymentStatus.CREATED:
            return await Payment.get(id=payment.id)  # being sent right now: nothing to ask yet
        outcome = await self.airtel.enquire(payment, actor=actor)
        await audit(
            actor,
            "payment.refresh",
            subject=subject(payment),
            outcome=outcome.value if outcome else "pending",
            provider=Provider.AIRTEL.value,
        )
        return await Payment.get(id=payment.id)

    async def query(self, payment: Payment) -> StkQueryResponse:
        """One STK query for ``payment`` (it has a CheckoutRequestID); refusals as UpstreamError."""
        assert payment.checkout_request_id is not None
        try:
            return await self._daraja.stk_query(payment.checkout_request_id)
        except RateLimited:
            raise UpstreamError("M-Pesa is busy; ask again in a minute.") from None
        except DarajaUnreachable:
            raise UpstreamError("M-Pesa could not be reached; ask again shortly.") from None
        except DarajaError as exc:
            raise UpstreamError(f"M-Pesa did not answer the status query: {exc}") from None

    # -- what M-Pesa reports ------------------------------------------------------------------

    async def apply_stk_callback(self, cb: StkCallback) -> ApplyOutcome:
        """Apply an STK callback (it may make an STK query first when confirm_by_query is on)."""
        outcome = await self.settler.apply_callback(cb)
        if outcome is ApplyOutcome.UNMATCHED and is_success(cb):
            # a push whose answer was lost may be waiting for exactly this
            linked = await self.links.on_arrival(cb)
            if linked is not None:
                return linked
        return outcome

    async def apply_airtel_callback(self, cb: CollectionCallback) -> ApplyOutcome:
        """Apply an Airtel collection callback (matched by our transaction id)."""
        if self.airtel is None:
            log.warning("airtel.callback_ignored: Airtel Money is not enabled")
            return ApplyOutcome.UNMATCHED
        return await self.airtel.apply_callback(cb)

    async def reconcile_pending(self, *, limit: int = 50) -> list[Payment]:
        """One reconciliation pass over STK payments; return those it worked on."""
        touched = await self._crashed_sends(limit)
        touched += await self._reconciler.reconcile(limit=limit)
        if self.airtel is not None:
            touched += await self.airtel.reconcile(limit=limit)
        return touched

    async def _crashed_sends(self, limit: int) -> list[Payment]:
        """Pushes whose sender stopped holding them: unknown if the POST may have left."""
        touched = []
        # a CREATED row is created held; a free one was left by a worker that died or hung
        for _lease, payment in await self._intents.take(
            Payment, statuses=[PaymentStatus.CREATED], limit=limit
        ):
            if payment.post_state == PostState.SENDING:
                reason = "the request was on its way when its worker stopped; M-Pesa may have it"
                await self.mark_unknown(payment, "system", reason, notify=True)
            else:
                await self._mark_failed(
                    payment, "system", None, NEVER_SENT, never_left=True, notify=True
                )
            touched.append(await Payment.get(id=payment.id))
        return touched

    async def due(self) -> int:
        """How many payments a reconciliation pass would work on now (held ones included)."""
        airtel = await self.airtel.due() if self.airtel is not None else 0
        return await self._reconciler.due() + airtel


def _words(status: object) -> str:
    return str(getattr(status, "value", status)).replace("_", " ")
