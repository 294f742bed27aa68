"""Settling STK payments from what M-Pesa reports: callbacks and STK query answers.

The rules are one pure function per report (``judge_callback``, ``judge_query``, ``judge_link``):
given the payment as stored and the report, they decide a ``Settlement`` (the target status, the
columns to write, from which statuses) or why nothing changes. ``PaymentSettler`` carries a
settlement out one by one; the callback batch (callback_batch.py) carries out many at once with
the same columns. Neither restates the rules.

A settled payment is never overwritten: a later message that disagrees is recorded as drift and
the admins are alerted. Every change is a conditional UPDATE, so a duplicate or a racing second
report changes nothing and notifies nobody twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services.audit import audit
from bot.services.daraja import Daraja
from bot.services.orders import settle_order
from bot.services.outcome import ApplyOutcome
from bot.services.outcome import Clock
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from mpesa.amounts import format_kes
from mpesa.callbacks import StkCallback
from mpesa.codes import ResultCategory
from mpesa.codes import ResultInfo
from mpesa.codes import describe_result
from mpesa.codes import is_still_processing
from mpesa.errors import DarajaError
from mpesa.models import StkQueryResponse
from mpesa.phone import mask_id
from mpesa.phone import mask_msisdn
from mpesa.phone import reported_phone_matches

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
    "claimed_by": None,
    "claimed_until": None,
}

PENDING_ONLY = (PaymentStatus.PENDING,)


def subject(payment: Payment) -> str:
    """The audit subject of a payment."""
    return f"payment:{payment.id}"


# -- the rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settlement:
    """A change the rules decided: where to, which columns, from which statuses, what to say."""

    status: PaymentStatus
    columns: dict[str, Any]
    sources: tuple[PaymentStatus, ...]
    action: str  # the audit action
    actor: str
    detail: dict[str, Any] = field(default_factory=dict)
    alert: tuple[str, str] | None = None  # (event key, text) for the admins
    info: ResultInfo | None = None  # what M-Pesa reported, when it reported a result

    @property
    def outcome(self) -> str:
        """The audit outcome: "ok" for paid, else the status reached."""
        return "ok" if self.status is PaymentStatus.PAID else self.status.value

    @property
    def plain_paid(self) -> bool:
        """A paid settlement with nothing extra to do: the callback batch may group it."""
        return (
            self.status is PaymentStatus.PAID
            and self.sources == PENDING_ONLY
            and self.alert is None
            and "checkout_request_id" not in self.columns
        )

    def values(self) -> dict[str, Any]:
        """Every column the conditional UPDATE writes (the status and the settled columns too)."""
        return {"status": self.status, **self.columns, **SETTLED}


@dataclass(frozen=True)
class NoChange:
    """The report changes nothing: a duplicate, still processing, or no such payment yet."""

    outcome: ApplyOutcome
    why: str


@dataclass(frozen=True)
class AlreadySettled:
    """The payment is past PENDING: compare the report with what is recorded (drift?)."""

    info: ResultInfo


@dataclass(frozen=True)
class ConfirmFirst:
    """A plausible success with confirm-by-query on: ask M-Pesa before believing it."""

    info: ResultInfo


Verdict = Settlement | NoChange | AlreadySettled | ConfirmFirst


@dataclass(frozen=True)
class Drift:
    """How a drift alert names the record, the provider and where to check it."""

    record: str  # "Payment", "Airtel payment"
    provider: str  # "an M-Pesa", "an Airtel"
    portal: str  # "the M-Pesa portal"


def mismatch(payment: Payment, amount: int | None, phone: str | None) -> str | None:
    """Why a reported success does not fit the request, or None when it fits."""
    if amount is None:
        return "M-Pesa reported the payment without an amount"
    if amount != payment.amount:
        return (
            f"M-Pesa reported {format_kes(amount)} but {format_kes(payment.amount)} was requested"
        )
    # a masked or missing number is never a mismatch: only the digits shown are compared
    if not reported_phone_matches(payment.msisdn, phone):
        return (
            f"M-Pesa reported the payer as {phone} but the request went to "
            f"{mask_msisdn(payment.msisdn)}"
        )
    return None


def _reported(cb: StkCallback, now: datetime) -> dict[str, Any]:
    return {
        "receipt": cb.receipt,
        "paid_amount": cb.amount,
        "paid_phone": cb.phone,
        "paid_at": cb.transaction_date or now,
    }


def _result(info: ResultInfo) -> dict[str, Any]:
    return {"result_code": info.code[:32], "result_desc": (info.description or info.meaning)[:255]}


def paid(
    payment: Payment,
    info: ResultInfo,
    *,
    actor: str,
    source: str,
    now: datetime,
    cb: StkCallback | None = None,
    sources: tuple[PaymentStatus, ...] = PENDING_ONLY,
    extra: dict[str, Any] | None = None,
) -> Settlement:
    """The payment is paid (by a callback, a query answer, or a person)."""
    reported = (
        _reported(cb, now)
        if cb is not None
        else {
            "receipt": payment.receipt,
            "paid_amount": payment.paid_amount,
            "paid_phone": payment.paid_phone,
            "paid_at": payment.paid_at or now,
        }
    )
    columns = {**reported, **_result(info), **(extra or {})}
    detail = {"source": source, "receipt": reported["receipt"], "amount": payment.amount}
    return Settlement(
        PaymentStatus.PAID, columns, sources, "payment.paid", actor, detail, info=info
    )


def review(
    payment: Payment,
    reason: str,
    *,
    actor: str,
    now: datetime,
    cb: StkCallback | None = None,
    sources: tuple[PaymentStatus, ...] = PENDING_ONLY,
) -> Settlement:
    """M-Pesa says paid, but something does not fit: a person decides (after a fresh query)."""
    columns: dict[str, Any] = {"review_reason": reason[:255]}
    if cb is not None:
        columns.update(_reported(cb, now))
        columns.update(result_code=cb.result_code[:32], result_desc=cb.result_desc[:255])
        if cb.checkout_request_id != payment.checkout_request_id:
            columns["checkout_request_id"] = cb.checkout_request_id
    return Settlement(
        PaymentStatus.REVIEW, columns, sources, "payment.review", actor, {"reason": reason}
    )


def failed(payment: Payment, info: ResultInfo, *, actor: str, source: str) -> Settlement:
    """M-Pesa says the payment did not happen (cancelled, no funds, wrong PIN, ...)."""
    target = CATEGORY_STATUS[info.category]
    alert = None
    if info.alert_admin:
        alert = (
            f"payment:{payment.id}:config:{info.code}",
            f"Payment #{payment.id} failed because of our M-Pesa set-up: "
            f"{info.meaning} {info.next_step}",
        )
    detail = {"source": source, "code": info.code}
    return Settlement(
        target, _result(info), PENDING_ONLY, "payment.settled", actor, detail, alert, info
    )


def judge_callback(
    payment: Payment | None, cb: StkCallback, *, confirm_by_query: bool, now: datetime
) -> Verdict:
    """What an STK callback does to the payment with its CheckoutRequestID."""
    if payment is None:
        # the callback can beat our own write of the CheckoutRequestID: keep it for later
        return NoChange(ApplyOutcome.UNMATCHED, "no payment has this CheckoutRequestID yet")
    info = describe_result(cb.result_code, cb.result_desc)
    if info.category is ResultCategory.PENDING:
        return NoChange(ApplyOutcome.DUPLICATE, "still processing")
    if payment.status != PaymentStatus.PENDING:
        return AlreadySettled(info)
    if info.category is not ResultCategory.SUCCESS:
        if payment.receipt:
            # a success is held for its confirming query: a failure now contradicts it
            reason = (
                f"A callback said paid (receipt {payment.receipt}) but a later one says: "
                f"{info.meaning} (code {info.code})"
            )
            return review(payment, reason, actor="daraja", now=now)
        return failed(payment, info, actor="daraja", source="callback")
    problem = mismatch(payment, cb.amount, cb.phone)
    if problem is not None:
        return review(payment, problem, actor="daraja", now=now, cb=cb)
    if confirm_by_query:
        return ConfirmFirst(info)
    return paid(payment, info, actor="daraja", source="callback", now=now, cb=cb)


def judge_query(
    payment: Payment, answer: StkQueryResponse, *, actor: str, now: datetime
) -> Verdict:
    """What a final STK query answer does to the payment (stored as it is now)."""
    if answer.pending or not answer.result_code:
        return NoChange(ApplyOutcome.DUPLICATE, "still processing")
    if is_still_processing(answer.result_code, answer.result_desc):
        return NoChange(ApplyOutcome.DUPLICATE, "still processing")
    info = describe_result(answer.result_code, answer.result_desc)
    if info.category is ResultCategory.PENDING:
        return NoChange(ApplyOutcome.DUPLICATE, "still processing")
    if payment.status != PaymentStatus.PENDING:
        return AlreadySettled(info)
    if info.category is ResultCategory.SUCCESS:
        return paid(payment, info, actor=actor, source="query", now=now)
    if payment.receipt:
        # a success callback is waiting for this query to confirm it, and the query disagrees
        reason = (
            f"The callback said paid (receipt {payment.receipt}) but the status query says: "
            f"{info.meaning} (code {info.code})"
        )
        return review(payment, reason, actor=actor, now=now)
    return failed(payment, info, actor=actor, source="query")


def judge_link(payment: Payment, cb: StkCallback, *, confirmed: bool, now: datetime) -> Settlement:
    """A success callback nobody asked for, tied to the one unknown push it fits.

    Paid when M-Pesa showed the payer's whole number (or a query on the callback's
    CheckoutRequestID confirmed it); otherwise a person confirms it first.
    """
    info = describe_result(cb.result_code, cb.result_desc)
    columns = {"checkout_request_id": cb.checkout_request_id}
    whole_number = cb.phone is not None and cb.phone == payment.msisdn
    if whole_number or confirmed:
        return paid(
            payment,
            info,
            actor="daraja",
            source="linked callback",
            now=now,
            cb=cb,
            sources=(PaymentStatus.UNKNOWN,),
            extra=columns,
        )
    reason = (
        "M-Pesa never answered the request, but a payment with the same amount and phone "
        f"arrived (receipt {cb.receipt}); an admin confirms it before goods are handed over"
    )
    return review(payment, reason, actor="daraja", now=now, cb=cb, sources=(PaymentStatus.UNKNOWN,))


# -- carrying it out ----------------------------------------------------------------------------


class PaymentSettler:
    """Applies STK callbacks and query answers to payments, one by one."""

    def __init__(
        self, *, daraja: Daraja, notifier: Notifier, settings: Settings, clock: Clock
    ) -> None:
        self._daraja = daraja
        self._notifier = notifier
        self._settings = settings
        self._clock = clock

    mismatch = staticmethod(mismatch)

    async def apply_callback(self, cb: StkCallback) -> ApplyOutcome:
        """Apply an STK callback to the payment with its CheckoutRequestID."""
        payment = await Payment.get_or_none(checkout_request_id=cb.checkout_request_id)
        verdict = judge_callback(
            payment, cb, confirm_by_query=self._settings.confirm_by_query, now=self._clock()
        )
        if isinstance(verdict, ConfirmFirst):
            assert payment is not None
            return await self._confirm_by_query(payment, cb, verdict.info)
        if isinstance(verdict, NoChange) and verdict.outcome is ApplyOutcome.UNMATCHED:
            log.info("stk.callback_unmatched checkout=%s", mask_id(cb.checkout_request_id))
        return await self.carry_out(payment, verdict, source="callback", cb=cb)

    async def apply_query_answer(
        self, payment: Payment, answer: StkQueryResponse, *, actor: str
    ) -> ApplyOutcome | None:
        """Apply a final STK query answer; None while M-Pesa is still processing."""
        payment = await Payment.get(id=payment.id)
        verdict = judge_query(payment, answer, actor=actor, now=self._clock())
        if isinstance(verdict, NoChange):
            return None
        return await self.carry_out(payment, verdict, source="query", actor=actor)

    async def link(self, payment: Payment, cb: StkCallback) -> ApplyOutcome:
        """Settle an unknown push with the unmatched success callback that fits it."""
        confirmed = False
        if self._settings.confirm_by_query:
            confirmed = await self._query_confirms(cb) is True
        verdict = judge_link(payment, cb, confirmed=confirmed, now=self._clock())
        return await self.carry_out(payment, verdict, source="linked callback", cb=cb)

    async def carry_out(
        self,
        payment: Payment | None,
        verdict: Verdict,
        *,
        source: str,
        cb: StkCallback | None = None,
        actor: str = "daraja",
    ) -> ApplyOutcome:
        """Carry out a verdict on one payment (its own transaction)."""
        if isinstance(verdict, NoChange):
            return verdict.outcome
        assert payment is not None
        if isinstance(verdict, AlreadySettled):
            return await self._settled_again(payment, verdict.info, source, actor, cb=cb)
        if isinstance(verdict, ConfirmFirst):  # only apply_callback asks first
            raise ValueError("confirm-by-query verdicts are carried out by apply_callback")
        won = await self.settle(payment, verdict)
        if won is None:
            if verdict.info is None:
                return ApplyOutcome.DUPLICATE
            # another report settled it first: judge this one against what it recorded
            fresh = await Payment.get(id=payment.id)
            return await self._settled_again(fresh, verdict.info, source, actor, cb=cb)
        if verdict.status is PaymentStatus.REVIEW:
            return ApplyOutcome.REVIEW
        return ApplyOutcome.APPLIED

    async def settle(self, payment: Payment, s: Settlement) -> Payment | None:
        """Write one settlement (conditional UPDATE, order, audit, outbox); None if it lost."""
        async with in_transaction():
            won = await Payment.filter(id=payment.id, status__in=list(s.sources)).update(
                **s.values()
            )
            if not won:
                return None
            payment = await Payment.get(id=payment.id)
            if s.status is PaymentStatus.PAID:
                await self._settle_order(payment, payment.paid_at or self._clock())
            await audit(s.actor, s.action, subject=subject(payment), outcome=s.outcome, **s.detail)
            await self._notifier.payment_changed(payment)  # a review alerts the admins too
            if s.alert is not None:
                await self._notifier.admin_alert(*s.alert)
        log.info(
            "payment.%s payment=%s receipt=%s actor=%s",
            s.status.value,
            payment.id,
            payment.receipt,
            s.actor,
        )
        return payment

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

    async def _query_confirms(self, cb: StkCallback) -> bool | None:
        """True/False when an STK query on the callback's id confirms or denies it; None: unsure."""
        try:
            answer = await self._daraja.stk_query(cb.checkout_request_id)
        except DarajaError as exc:
            log.warning(
                "stk.confirm_query_failed checkout=%s error=%s",
                mask_id(cb.checkout_request_id),
                exc,
            )
            return None
        if answer.pending or not answer.result_code:
            return None
        info = describe_result(answer.result_code, answer.result_desc)
        if info.category is ResultCategory.PENDING:
            return None
        return info.category is ResultCategory.SUCCESS

    async def _confirm_by_query(
        self, payment: Payment, cb: StkCallback, info: ResultInfo
    ) -> ApplyOutcome:
        """Ask M-Pesa whether the success callback is true before marking the payment paid."""
        now = self._clock()
        try:
            answer = await self._daraja.stk_query(cb.checkout_request_id)
        except DarajaError as exc:
            log.warning("stk.confirm_query_failed payment=%s error=%s", payment.id, exc)
            answer = None
        if answer is not None and not answer.pending and answer.result_code:
            said = describe_result(answer.result_code, answer.result_desc)
            if said.category is ResultCategory.SUCCESS:
                verdict: Verdict = paid(
                    payment, info, actor="daraja", source="callback", now=now, cb=cb
                )
                return await self.carry_out(payment, verdict, source="callback", cb=cb)
            if said.category is not ResultCategory.PENDING:
                reason = (
                    f"The callback said paid (receipt {cb.receipt}) but the status query says: "
                    f"{said.meaning} (code {said.code})"
                )
                verdict = review(payment, reason, actor="daraja", now=now, cb=cb)
                return await self.carry_out(payment, verdict, source="callback", cb=cb)
        # not confirmed yet: keep what the callback said and let reconciliation ask again now
        async with in_transaction():
            won = await Payment.filter(id=payment.id, status=PaymentStatus.PENDING).update(
                **_reported(cb, now), next_query_at=now
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
        if reported is status or (
            success and status in (PaymentStatus.REVIEW, PaymentStatus.REVERSED)
        ):
            log.info("payment.duplicate payment=%s source=%s", payment.id, source)
            return ApplyOutcome.DUPLICATE
        return await self._drift(payment, info, source, actor, receipt=cb.receipt if cb else None)

    async def _add_receipt(self, payment: Payment, cb: StkCallback) -> ApplyOutcome:
        """A query settled the payment before the callback brought its receipt: fill it in."""
        problem = mismatch(payment, cb.amount, cb.phone)
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
        return await self.record_drift(
            payment,
            Drift("Payment", "an M-Pesa", "the M-Pesa portal"),
            actor=actor,
            source=source,
            code=info.code,
            meaning=info.meaning,
            receipt=receipt,
            reported_desc=info.description,
        )

    async def record_drift(
        self,
        payment: Payment,
        words: Drift,
        *,
        actor: str,
        source: str,
        code: str,
        meaning: str,
        receipt: str | None,
        **detail: Any,
    ) -> ApplyOutcome:
        """A provider contradicts a settled payment: audit it, alert the admins, change nothing."""
        status = PaymentStatus(payment.status)
        text = (
            f"{words.record} #{payment.id} is recorded as {status.value}"
            + (f" (receipt {payment.receipt})" if payment.receipt else "")
            + f", but {words.provider} {source} now says: {meaning} (code {code}"
            + (f", receipt {receipt}" if receipt else "")
            + f"). The record was not changed; check it in {words.portal}."
        )
        async with in_transaction():
            await audit(
                actor,
                "payment.drift",
                subject=subject(payment),
                outcome="drift",
                recorded=status.value,
                reported_code=code,
                **detail,
                source=source,
                receipt=receipt,
            )
            await self._notifier.admin_alert(
                f"payment:{payment.id}:drift:{code}:{receipt or ''}", text
            )
        log.warning(
            "payment.drift payment=%s recorded=%s reported=%s source=%s",
            payment.id,
            status,
            code,
            source,
        )
        return ApplyOutcome.DUPLICATE
