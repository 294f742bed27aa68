"""Settling STK payments from what M-Pesa reports: callbacks and STK query answers.

A settled payment is never overwritten: a later message that disagrees is recorded as drift and
the admins are alerted. Every change is a conditional UPDATE, so a duplicate or a racing second
report changes nothing and notifies nobody twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services.audit import audit
from bot.services.orders import settle_order
from bot.services.outcome import ApplyOutcome
from models import Order, OrderStatus, Payment, PaymentStatus
from mpesa.amounts import format_kes
from mpesa.callbacks import StkCallback
from mpesa.codes import ResultCategory, ResultInfo, describe_result, is_still_processing
from mpesa.errors import DarajaError
from mpesa.models import StkQueryResponse
from mpesa.phone import mask_id, mask_msisdn, reported_phone_matches

log = logging.getLogger(__name__)

CATEGORY_STATUS: dict[ResultCategory, PaymentStatus] = {
    ResultCategory.SUCCESS: PaymentStatus.PAID,
    ResultCategory.CANCELLED: PaymentStatus.CANCELLED,
    ResultCategory.INSUFFICIENT_FUNDS: PaymentStatus.INSUFFICIENT_FUNDS,
    ResultCategory.WRONG_PIN: PaymentStatus.WRONG_PIN,
    ResultCategory.TIMED_OUT: PaymentStatus.TIMED_OUT,
    ResultCategory.FAILED: PaymentStatus.FAILED,
}

# columns cleared whenever a payment stops waiting for M-Pesa
SETTLED = {
    "in_flight_msisdn": None,
    "in_flight_order_id": None,
    "next_query_at": None,
    "claimed_until": None,
}


def subject(payment: Payment) -> str:
    """The audit subject of a payment."""
    return f"payment:{payment.id}"


class PaymentSettler:
    """Applies STK callbacks and query answers to payments."""

    def __init__(
        self,
        *,
        daraja: Any,
        notifier: Notifier,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self._daraja = daraja
        self._notifier = notifier
        self._settings = settings
        self._clock = clock

    # -- entry points -------------------------------------------------------------------------

    async def apply_callback(self, cb: StkCallback) -> ApplyOutcome:
        """Apply an STK callback to the payment with its CheckoutRequestID."""
        payment = await Payment.get_or_none(checkout_request_id=cb.checkout_request_id)
        if payment is None:
            # the callback can beat our own write of the CheckoutRequestID: keep it for later
            log.info("stk.callback_unmatched checkout=%s", mask_id(cb.checkout_request_id))
            return ApplyOutcome.UNMATCHED
        info = describe_result(cb.result_code, cb.result_desc)
        if info.category is ResultCategory.PENDING:
            return ApplyOutcome.DUPLICATE
        if payment.status != PaymentStatus.PENDING:
            return await self._settled_again(payment, info, "callback", "daraja", cb=cb)
        if info.category is not ResultCategory.SUCCESS:
            return await self._fail(payment, info, "daraja", "callback")
        problem = self.mismatch(payment, cb.amount, cb.phone)
        if problem is not None:
            return await self._review(payment, problem, "daraja", cb=cb)
        if self._settings.confirm_by_query:
            held = await self._confirm_by_query(payment, cb)
            if held is not None:
                return held
        return await self._pay(payment, info, "daraja", "callback", cb=cb)

    async def apply_query_answer(
        self, payment: Payment, answer: StkQueryResponse, *, actor: str
    ) -> ApplyOutcome | None:
        """Apply a final STK query answer; None while M-Pesa is still processing."""
        if answer.pending or not answer.result_code:
            return None
        if is_still_processing(answer.result_code, answer.result_desc):
            return None
        info = describe_result(answer.result_code, answer.result_desc)
        if info.category is ResultCategory.PENDING:
            return None
        payment = await Payment.get(id=payment.id)
        if payment.status != PaymentStatus.PENDING:
            return await self._settled_again(payment, info, "query", actor)
        if info.category is ResultCategory.SUCCESS:
            return await self._pay(payment, info, actor, "query")
        if payment.receipt:
            # a success callback is waiting for this query to confirm it, and the query disagrees
            reason = (
                f"The callback said paid (receipt {payment.receipt}) but the status query says: "
                f"{info.meaning} (code {info.code})"
            )
            return await self._review(payment, reason, actor)
        return await self._fail(payment, info, actor, "query")

    @staticmethod
    def mismatch(payment: Payment, amount: int | None, phone: str | None) -> str | None:
        """Why a reported success does not fit the request, or None when it fits."""
        if amount is None:
            return "M-Pesa reported the payment without an amount"
        if amount != payment.amount:
            return (
                f"M-Pesa reported {format_kes(amount)} but {format_kes(payment.amount)} "
                "was requested"
            )
        # a masked or missing number is never a mismatch: only the digits shown are compared
        if not reported_phone_matches(payment.msisdn, phone):
            return (
                f"M-Pesa reported the payer as {phone} but the request went to "
                f"{mask_msisdn(payment.msisdn)}"
            )
        return None

    # -- transitions --------------------------------------------------------------------------

    async def _pay(
        self,
        payment: Payment,
        info: ResultInfo,
        actor: str,
        source: str,
        *,
        cb: StkCallback | None = None,
        sources: Sequence[PaymentStatus] = (PaymentStatus.PENDING,),
    ) -> ApplyOutcome:
        now = self._clock()
        paid_at = (cb.transaction_date if cb else None) or payment.paid_at or now
        receipt = (cb.receipt if cb else None) or payment.receipt
        async with in_transaction():
            won = await Payment.filter(id=payment.id, status__in=list(sources)).update(
                status=PaymentStatus.PAID,
                receipt=receipt,
                paid_amount=cb.amount if cb else payment.paid_amount,
                paid_phone=cb.phone if cb else payment.paid_phone,
                paid_at=paid_at,
                result_code=info.code,
                result_desc=(info.description or info.meaning)[:255],
                **SETTLED,
            )
            if won:
                payment = await Payment.get(id=payment.id)
                await self._settle_order(payment, paid_at)
                await audit(
                    actor,
                    "payment.paid",
                    subject=subject(payment),
                    source=source,
                    receipt=receipt,
                    amount=payment.amount,
                )
                await self._notifier.payment_changed(payment)
        if not won:
            return await self._lost_race(payment, info, source, actor, cb)
        log.info("payment.paid payment=%s receipt=%s source=%s", payment.id, receipt, source)
        return ApplyOutcome.APPLIED

    async def _settle_order(self, payment: Payment, paid_at: datetime) -> None:
        if payment.order_id is None:
            return
        if await settle_order(payment.order_id, receipt=payment.receipt, paid_at=paid_at):
            return
        order = await Order.get(id=payment.order_id)
        if order.status == OrderStatus.PAID and order.paid_receipt == payment.receipt:
            return  # the C2B echo of this very payment settled it first
        await self._notifier.admin_alert(
            f"payment:{payment.id}:order_not_open",
            f"Payment #{payment.id} ({payment.receipt or 'no receipt yet'}) paid order "
            f"{order.code}, which was already {OrderStatus(order.status).value}"
            + (f" (receipt {order.paid_receipt})" if order.paid_receipt else "")
            + ". The customer may have paid twice: check and refund if so.",
        )

    async def _fail(
        self, payment: Payment, info: ResultInfo, actor: str, source: str
    ) -> ApplyOutcome:
        target = CATEGORY_STATUS[info.category]
        async with in_transaction():
            won = await Payment.filter(id=payment.id, status=PaymentStatus.PENDING).update(
                status=target,
                result_code=info.code[:32],
                result_desc=(info.description or info.meaning)[:255],
                **SETTLED,
            )
            if won:
                payment = await Payment.get(id=payment.id)
                await audit(
                    actor,
                    "payment.settled",
                    subject=subject(payment),
                    outcome=target.value,
                    source=source,
                    code=info.code,
                )
                await self._notifier.payment_changed(payment)
                if info.alert_admin:
                    await self._notifier.admin_alert(
                        f"payment:{payment.id}:config:{info.code}",
                        f"Payment #{payment.id} failed because of our M-Pesa set-up: "
                        f"{info.meaning} {info.next_step}",
                    )
        if not won:
            return await self._lost_race(payment, info, source, actor, None)
        log.info("payment.settled payment=%s status=%s code=%s", payment.id, target, info.code)
        return ApplyOutcome.APPLIED

    async def _review(
        self,
        payment: Payment,
        reason: str,
        actor: str,
        *,
        cb: StkCallback | None = None,
        sources: Sequence[PaymentStatus] = (PaymentStatus.PENDING,),
    ) -> ApplyOutcome:
        fields: dict[str, Any] = {}
        if cb is not None:
            fields = {
                "receipt": cb.receipt,
                "paid_amount": cb.amount,
                "paid_phone": cb.phone,
                "paid_at": cb.transaction_date or self._clock(),
                "result_code": cb.result_code[:32],
                "result_desc": cb.result_desc[:255],
            }
            if cb.checkout_request_id != payment.checkout_request_id:
                fields["checkout_request_id"] = cb.checkout_request_id
        async with in_transaction():
            won = await Payment.filter(id=payment.id, status__in=list(sources)).update(
                status=PaymentStatus.REVIEW, review_reason=reason[:255], **fields, **SETTLED
            )
            if won:
                payment = await Payment.get(id=payment.id)
                await audit(
                    actor,
                    "payment.review",
                    subject=subject(payment),
                    outcome="review",
                    reason=reason,
                )
                await self._notifier.payment_changed(payment)  # alerts the admins
        if not won:
            return ApplyOutcome.DUPLICATE
        log.warning("payment.review payment=%s reason=%s", payment.id, reason)
        return ApplyOutcome.REVIEW

    async def link_unknown(self, payment: Payment, cb: StkCallback) -> ApplyOutcome:
        """Tie a callback that arrived for an unanswered push to it, for a person to confirm."""
        reason = (
            "M-Pesa never answered the request, but a payment with the same amount and phone "
            f"arrived (receipt {cb.receipt}): confirm it before handing over goods"
        )
        return await self._review(
            payment, reason, "system", cb=cb, sources=(PaymentStatus.UNKNOWN,)
        )

    async def _confirm_by_query(self, payment: Payment, cb: StkCallback) -> ApplyOutcome | None:
        """Ask M-Pesa whether the callback is true; None when it confirms the payment."""
        try:
            answer = await self._daraja.stk_query(cb.checkout_request_id)
        except DarajaError as exc:
            log.warning("stk.confirm_query_failed payment=%s error=%s", payment.id, exc)
            answer = None
        if answer is not None and not answer.pending and answer.result_code:
            info = describe_result(answer.result_code, answer.result_desc)
            if info.category is ResultCategory.SUCCESS:
                return None
            if info.category is not ResultCategory.PENDING:
                reason = (
                    f"The callback said paid (receipt {cb.receipt}) but the status query says: "
                    f"{info.meaning} (code {info.code})"
                )
                return await self._review(payment, reason, "daraja", cb=cb)
        # not confirmed yet: keep what the callback said and let reconciliation ask again now
        async with in_transaction():
            won = await Payment.filter(id=payment.id, status=PaymentStatus.PENDING).update(
                receipt=cb.receipt,
                paid_amount=cb.amount,
                paid_phone=cb.phone,
                paid_at=cb.transaction_date or self._clock(),
                next_query_at=self._clock(),
            )
            if won:
                await audit(
                    "daraja",
                    "payment.callback_held",
                    subject=subject(payment),
                    outcome="held",
                    receipt=cb.receipt,
                )
        return ApplyOutcome.APPLIED if won else ApplyOutcome.DUPLICATE

    # -- settled records ----------------------------------------------------------------------

    async def _lost_race(
        self,
        payment: Payment,
        info: ResultInfo,
        source: str,
        actor: str,
        cb: StkCallback | None,
    ) -> ApplyOutcome:
        """Another report settled the payment first: judge this one against it."""
        payment = await Payment.get(id=payment.id)
        return await self._settled_again(payment, info, source, actor, cb=cb)

    async def _settled_again(
        self,
        payment: Payment,
        info: ResultInfo,
        source: str,
        actor: str,
        *,
        cb: StkCallback | None = None,
    ) -> ApplyOutcome:
        """A report about an already settled payment: a duplicate, a missing receipt, or drift."""
        status = PaymentStatus(payment.status)
        reported = CATEGORY_STATUS.get(info.category)
        success = info.category is ResultCategory.SUCCESS
        if status is PaymentStatus.PAID and success and cb is not None and cb.receipt:
            if payment.receipt is None:
                return await self._add_receipt(payment, cb)
            if cb.receipt != payment.receipt:
                return await self._drift(payment, info, source, actor, receipt=cb.receipt)
        if reported is status or (status is PaymentStatus.REVIEW and success):
            log.info("payment.duplicate payment=%s source=%s", payment.id, source)
            return ApplyOutcome.DUPLICATE
        return await self._drift(payment, info, source, actor, receipt=cb.receipt if cb else None)

    async def _add_receipt(self, payment: Payment, cb: StkCallback) -> ApplyOutcome:
        """A query settled the payment before the callback brought its receipt: fill it in."""
        problem = self.mismatch(payment, cb.amount, cb.phone)
        async with in_transaction():
            won = await Payment.filter(id=payment.id, receipt__isnull=True).update(
                receipt=cb.receipt, paid_amount=cb.amount, paid_phone=cb.phone
            )
            if won and payment.order_id is not None:
                await Order.filter(id=payment.order_id, paid_receipt__isnull=True).update(
                    paid_receipt=cb.receipt
                )
            if won:
                await audit(
                    "daraja", "payment.receipt", subject=subject(payment), receipt=cb.receipt
                )
            if won and problem is not None:
                await self._notifier.admin_alert(
                    f"payment:{payment.id}:late_mismatch",
                    f"Payment #{payment.id} was confirmed by query, but its callback disagrees: "
                    f"{problem}. Check it in the M-Pesa portal.",
                )
        return ApplyOutcome.APPLIED if won else ApplyOutcome.DUPLICATE

    async def _drift(
        self,
        payment: Payment,
        info: ResultInfo,
        source: str,
        actor: str,
        *,
        receipt: str | None,
    ) -> ApplyOutcome:
        """Record that M-Pesa contradicts a settled payment; change nothing, alert the admins."""
        status = PaymentStatus(payment.status)
        text = (
            f"Payment #{payment.id} is recorded as {status.value}"
            + (f" (receipt {payment.receipt})" if payment.receipt else "")
            + f", but an M-Pesa {source} now says: {info.meaning} (code {info.code}"
            + (f", receipt {receipt}" if receipt else "")
            + "). The record was not changed; check it in the M-Pesa portal."
        )
        async with in_transaction():
            await audit(
                actor,
                "payment.drift",
                subject=subject(payment),
                outcome="drift",
                recorded=status.value,
                reported_code=info.code,
                reported_desc=info.description,
                source=source,
                receipt=receipt,
            )
            await self._notifier.admin_alert(
                f"payment:{payment.id}:drift:{info.code}:{receipt or ''}", text
            )
        log.warning(
            "payment.drift payment=%s recorded=%s reported=%s source=%s",
            payment.id,
            status,
            info.code,
            source,
        )
        return ApplyOutcome.DUPLICATE
