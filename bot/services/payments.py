"""STK Push payments: ask a customer's phone for money, then follow the request until it settles.

The request is recorded (and committed) before Daraja is called; the answer is recorded in a new
transaction. ``in_flight_msisdn`` and ``in_flight_order_id`` are unique while a prompt is open, so a
second push to the same phone or for the same order is refused by the database, not by luck.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.i18n import N_
from bot.notify.notifier import Notifier
from bot.services.audit import audit
from bot.services.errors import (
    AlreadyPaid,
    Conflict,
    InvalidInput,
    NotFound,
    OrderCancelled,
    PaymentInProgress,
    ServiceError,
    UpstreamError,
)
from bot.services.outcome import ApplyOutcome, ReplayUnmatched
from bot.services.payment_callbacks import SETTLED, PaymentSettler, subject
from bot.services.payment_lookup import display_phone, find_payment_or_order
from bot.services.payment_reconcile import PaymentReconciler
from models import CallbackKind, Customer, Order, OrderStatus, Payment, PaymentStatus, Staff
from mpesa.amounts import STK_MINIMUM, AmountError, format_kes, parse_amount
from mpesa.callbacks import StkCallback
from mpesa.errors import (
    AuthFailed,
    ConfigurationError,
    DarajaError,
    DarajaUnreachable,
    OutcomeUnknown,
    RateLimited,
)
from mpesa.models import StkPushResponse
from mpesa.phone import PhoneError, mask_id, mask_msisdn, normalize_msisdn

log = logging.getLogger(__name__)

UNREACHABLE = N_("M-Pesa could not be reached; nothing was sent. Try again in a moment.")
BUSY = N_("M-Pesa is busy right now; nothing was sent. Try again in a minute.")
# an unanswered push (or one whose process died mid-call) is given up after this long
UNKNOWN_EXPIRY_S = 180.0
ORDER_TRANSACTION_DESC = "Order payment"  # 13 characters: Daraja's documented maximum


class PaymentService:
    """Requests STK payments, applies what M-Pesa reports, and reconciles the silent ones."""

    def __init__(
        self,
        *,
        daraja: Any,
        notifier: Notifier,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._daraja = daraja
        self._notifier = notifier
        self._settings = settings
        self._clock = clock
        self.replay_unmatched: ReplayUnmatched | None = None
        self._settler = PaymentSettler(
            daraja=daraja, notifier=notifier, settings=settings, clock=clock
        )
        self._reconciler = PaymentReconciler(
            daraja=daraja,
            notifier=notifier,
            settings=settings,
            settler=self._settler,
            clock=clock,
            sleep=sleep,
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
            msisdn, amount, order = await self._validate(raw_phone, raw_amount, order)
        except ServiceError as exc:
            await audit(actor, "payment.request", outcome="refused", reason=str(exc))
            raise
        attempt = 1
        if order is not None:
            attempt += await Payment.filter(order_id=order.id).count()
        payment = await self._record(
            msisdn,
            amount,
            actor=actor,
            initiator=initiator,
            order=order,
            customer=customer,
            description=description,
            chat_id=chat_id,
            via=via,
            attempt=attempt,
        )
        return await self._push(payment, actor)

    async def retry_payment(
        self, payment_id: int, *, initiator: Staff | None, actor: str, chat_id: int | None = None
    ) -> Payment:
        """Send a new attempt of a cancelled, failed or timed-out payment (same phone, amount)."""
        old = await Payment.get_or_none(id=payment_id)
        if old is None:
            raise NotFound(f"There is no payment #{payment_id}.")
        status = PaymentStatus(old.status)
        if not status.can_retry:
            await audit(actor, "payment.retry", subject=subject(old), outcome="refused")
            raise Conflict(
                f"Payment #{old.id} is {status.value.replace('_', ' ')}; only a cancelled, "
                "failed or timed-out payment can be sent again."
            )
        order = await Order.get(id=old.order_id) if old.order_id is not None else None
        customer = await Customer.get_or_none(id=old.customer_id) if old.customer_id else None
        try:
            msisdn, amount, order = await self._validate(old.msisdn, old.amount, order)
        except ServiceError:
            await audit(actor, "payment.retry", subject=subject(old), outcome="refused")
            raise
        attempt = old.attempt + 1
        if order is not None:
            attempt = max(attempt, await Payment.filter(order_id=order.id).count() + 1)
        payment = await self._record(
            msisdn,
            amount,
            actor=actor,
            initiator=initiator,
            order=order,
            customer=customer,
            description=old.description,
            chat_id=chat_id if chat_id is not None else old.chat_id,
            via=old.initiated_via,
            attempt=attempt,
            retry_of=old.id,
        )
        return await self._push(payment, actor)

    async def _validate(
        self, raw_phone: str, raw_amount: str | int | None, order: Order | None
    ) -> tuple[str, int, Order | None]:
        """The normalised phone, whole-shilling amount and fresh order, or a clear refusal."""
        try:
            msisdn = normalize_msisdn(raw_phone, extra_prefixes=self._settings.mpesa_extra_prefixes)
        except PhoneError as exc:
            raise InvalidInput(exc.template, field="phone", params=exc.params) from None
        if order is not None:
            order = await Order.get(id=order.id)
            if order.status == OrderStatus.PAID:
                if order.paid_receipt:
                    raise AlreadyPaid(
                        N_("Order {code} is already paid (receipt {receipt})."),
                        params={"code": order.code, "receipt": order.paid_receipt},
                    )
                raise AlreadyPaid(N_("Order {code} is already paid."), params={"code": order.code})
            if order.status == OrderStatus.CANCELLED:
                raise OrderCancelled(N_("Order {code} was cancelled."), params={"code": order.code})
            review = await Payment.filter(order_id=order.id, status=PaymentStatus.REVIEW).first()
            if review is not None:
                raise Conflict(
                    N_(
                        "Order {code} has a payment under review (#{payment_id}); "
                        "an admin must settle it first."
                    ),
                    params={"code": order.code, "payment_id": review.id},
                )
            if raw_amount is None:
                return msisdn, order.amount, order
        if raw_amount is None:
            raise InvalidInput("No amount given; enter whole shillings, e.g. 1500", field="amount")
        try:
            amount = parse_amount(
                raw_amount, minimum=STK_MINIMUM, maximum=self._settings.mpesa_max_amount
            )
        except AmountError as exc:
            raise InvalidInput(str(exc), field="amount") from None
        if order is not None and amount != order.amount:
            raise InvalidInput(
                f"Order {order.code} is for {format_kes(order.amount)}, not {format_kes(amount)}.",
                field="amount",
            )
        return msisdn, amount, order

    async def _record(
        self,
        msisdn: str,
        amount: int,
        *,
        actor: str,
        initiator: Staff | None,
        order: Order | None,
        customer: Customer | None,
        description: str | None,
        chat_id: int | None,
        via: str,
        attempt: int,
        retry_of: int | None = None,
    ) -> Payment:
        """Write the request (in flight) and commit it before anything goes to Daraja."""
        reference = order.code if order is not None else self._settings.mpesa_account_reference
        note = description if description is not None else (order.description if order else "")
        customer_id = customer.id if customer else (order.customer_id if order else None)
        try:
            async with in_transaction():
                payment = await Payment.create(
                    order_id=order.id if order else None,
                    customer_id=customer_id,
                    initiated_by=initiator,
                    initiated_via=via,
                    msisdn=msisdn,
                    amount=amount,
                    account_reference=reference,
                    description=(note or "").strip()[:255],
                    attempt=attempt,
                    in_flight_msisdn=msisdn,
                    in_flight_order_id=order.id if order else None,
                    # a process dying mid-call leaves CREATED: reconciliation gives up after this
                    next_query_at=self._clock() + timedelta(seconds=UNKNOWN_EXPIRY_S),
                    chat_id=chat_id,
                )
                await audit(
                    actor,
                    "payment.request",
                    subject=subject(payment),
                    amount=amount,
                    phone=mask_msisdn(msisdn),
                    order=order.code if order else None,
                    attempt=attempt,
                    retry_of=retry_of,
                )
        except IntegrityError:
            refusal = await self._in_flight_refusal(msisdn, order)
            await audit(actor, "payment.request", outcome="refused", reason=str(refusal))
            raise refusal from None
        return payment

    async def _in_flight_refusal(self, msisdn: str, order: Order | None) -> Conflict:
        """The refusal for a second push while one is open (one prompt per phone and order)."""
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
                return PaymentInProgress(
                    N_(
                        "Order {code} already has a payment waiting for the customer's PIN "
                        "(#{payment_id})."
                    ),
                    params={"code": order.code, "payment_id": busy.id},
                    payment_id=busy.id,
                )
        return PaymentInProgress(
            N_("Another payment request just started for this phone or order; try again.")
        )

    async def _push(self, payment: Payment, actor: str) -> Payment:
        """Call STK Push for a recorded payment and record the answer."""
        try:
            answer = await self._daraja.stk_push(
                msisdn=payment.msisdn,
                amount=payment.amount,
                reference=payment.account_reference,
                # the order code is the reference; the description stays within Daraja's 13
                description=(
                    ORDER_TRANSACTION_DESC
                    if payment.order_id is not None
                    else self._settings.mpesa_transaction_desc
                ),
            )
        except OutcomeUnknown as exc:
            return await self._mark_unknown(payment, actor, str(exc))
        except DarajaUnreachable as exc:
            return await self._mark_failed(payment, actor, exc.code, UNREACHABLE)
        except DarajaError as exc:
            alert = isinstance(exc, AuthFailed | ConfigurationError)
            reason = str(exc)
            if isinstance(exc, RateLimited):
                reason = BUSY
            return await self._mark_failed(payment, actor, exc.code, reason, alert=alert)
        except Exception:
            # we cannot tell whether the request left: reconcile, never resend blindly
            await self._mark_unknown(payment, actor, "unexpected error while sending")
            raise
        if answer.response_code != "0":
            return await self._mark_failed(
                payment, actor, answer.response_code, answer.response_description
            )
        return await self._mark_pending(payment, actor, answer)

    async def _mark_pending(self, payment: Payment, actor: str, answer: StkPushResponse) -> Payment:
        after = timedelta(seconds=self._settings.stk_query_after_s)
        async with in_transaction():
            won = await Payment.filter(
                id=payment.id, status__in=[PaymentStatus.CREATED, PaymentStatus.UNKNOWN]
            ).update(
                status=PaymentStatus.PENDING,
                merchant_request_id=answer.merchant_request_id,
                checkout_request_id=answer.checkout_request_id,
                next_query_at=self._clock() + after,
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
                    f"({answer.checkout_request_id}) after we had given up on it. "
                    "Check the M-Pesa portal before asking the customer again.",
                )
        log.info(
            "stk.sent payment=%s checkout=%s phone=%s amount=%s",
            payment.id,
            mask_id(answer.checkout_request_id),
            mask_msisdn(payment.msisdn),
            payment.amount,
        )
        if won and self.replay_unmatched is not None:
            try:
                await self.replay_unmatched(CallbackKind.STK, answer.checkout_request_id)
            except Exception:
                log.exception("stk.replay_failed payment=%s", payment.id)
        return await Payment.get(id=payment.id)

    async def _mark_failed(
        self, payment: Payment, actor: str, code: str | None, reason: str, *, alert: bool = False
    ) -> Payment:
        async with in_transaction():
            await Payment.filter(id=payment.id, status=PaymentStatus.CREATED).update(
                status=PaymentStatus.FAILED,
                result_code=(code or "")[:32] or None,
                result_desc=reason[:255],
                **SETTLED,
            )
            await audit(
                actor, "payment.sent", subject=subject(payment), outcome="failed", reason=reason
            )
            if alert:
                await self._notifier.admin_alert(
                    f"payment:{payment.id}:refused",
                    f"M-Pesa refused payment #{payment.id}: {reason}",
                )
        log.warning("stk.refused payment=%s code=%s reason=%s", payment.id, code, reason)
        return await Payment.get(id=payment.id)

    async def _mark_unknown(self, payment: Payment, actor: str, reason: str) -> Payment:
        async with in_transaction():
            await Payment.filter(id=payment.id, status=PaymentStatus.CREATED).update(
                status=PaymentStatus.UNKNOWN,
                result_desc=reason[:255],
                next_query_at=self._clock() + timedelta(seconds=UNKNOWN_EXPIRY_S),
            )
            await audit(
                actor, "payment.sent", subject=subject(payment), outcome="unknown", reason=reason
            )
        log.warning("stk.outcome_unknown payment=%s reason=%s", payment.id, reason)
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
        if payment.checkout_request_id is None:
            return payment  # never accepted by M-Pesa: there is nothing to ask about
        try:
            answer = await self._daraja.stk_query(payment.checkout_request_id)
        except RateLimited:
            raise UpstreamError("M-Pesa is busy; ask again in a minute.") from None
        except DarajaUnreachable:
            raise UpstreamError("M-Pesa could not be reached; ask again shortly.") from None
        except DarajaError as exc:
            raise UpstreamError(f"M-Pesa did not answer the status query: {exc}") from None
        outcome = await self._settler.apply_query_answer(payment, answer, actor=actor)
        await audit(
            actor,
            "payment.refresh",
            subject=subject(payment),
            outcome=outcome.value if outcome else "pending",
            code=answer.result_code,
        )
        return await Payment.get(id=payment.id)

    # -- what M-Pesa reports ------------------------------------------------------------------

    async def apply_stk_callback(self, cb: StkCallback) -> ApplyOutcome:
        """Apply an STK callback (it may make an STK query first when confirm_by_query is on)."""
        return await self._settler.apply_callback(cb)

    async def reconcile_pending(self, *, limit: int = 50) -> list[Payment]:
        """Query overdue pending payments and expire unanswered pushes; return those touched."""
        return await self._reconciler.reconcile(limit=limit)
