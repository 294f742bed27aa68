"""Airtel Money payments: the USSD push, its callback and its enquiry, on the money-intent rules.

A push is a Payment with ``provider = airtel`` and our own ``transaction_id``, chosen and stored
before anything is sent, so even a push whose answer was lost can be asked about: Airtel's
enquiry by that id settles it (there is no linking by amount and phone as for M-Pesa). The
callback carries no amount and no phone (airtel.md §5.2): it is matched by our transaction id
only, and with AIRTEL_CONFIRM_BY_ENQUIRY (on in production) an enquiry decides what it says.

Writing a settlement is PaymentSettler's, shared with M-Pesa: the conditional UPDATE, the order,
the audit, the outbox. A settled payment is never overwritten; a contradiction is drift.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from tortoise.expressions import F
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from airtel.callbacks import CollectionCallback
from airtel.codes import Api
from airtel.codes import ResultCategory
from airtel.codes import ResultInfo
from airtel.codes import TransactionStatus
from airtel.codes import describe
from airtel.errors import AirtelError
from airtel.errors import RateLimited
from airtel.models import CollectionStatus
from airtel.models import DisbursementStatus
from airtel.models import PushAccepted
from airtel.models import new_transaction_id
from airtel.phone import mask_msisdn
from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services.airtel_money import AirtelMoney
from bot.services.audit import audit
from bot.services.errors import UpstreamError
from bot.services.intents import Intents
from bot.services.intents import Lease
from bot.services.outcome import ApplyOutcome
from bot.services.outcome import Clock
from bot.services.payment_callbacks import Drift
from bot.services.payment_callbacks import PaymentSettler
from bot.services.payment_callbacks import Settlement
from bot.services.payment_callbacks import subject
from models import Payment
from models import PaymentStatus
from models import Provider
from mpesa.amounts import format_kes

log = logging.getLogger(__name__)

AIRTEL_DRIFT = Drift("Airtel payment", "an Airtel", "the Airtel Money portal")

TRANSACTION_PREFIX = "C"  # collections; payouts use "P"
REFERENCE_MIN, REFERENCE_MAX = 4, 64  # "alphanumeric, 4-64" (airtel.md §2)
# an enquiry that keeps saying "not yet" is asked less and less often, up to hourly
ENQUIRY_EVERY_MAX_S = 3600.0

CATEGORY_STATUS: dict[ResultCategory, PaymentStatus] = {
    ResultCategory.SUCCESS: PaymentStatus.PAID,
    ResultCategory.CANCELLED: PaymentStatus.CANCELLED,
    ResultCategory.INSUFFICIENT_FUNDS: PaymentStatus.INSUFFICIENT_FUNDS,
    ResultCategory.WRONG_PIN: PaymentStatus.WRONG_PIN,
    ResultCategory.TIMED_OUT: PaymentStatus.TIMED_OUT,
}
IN_FLIGHT = (PaymentStatus.PENDING, PaymentStatus.UNKNOWN)


def new_collection_id() -> str:
    """A fresh transaction id for one USSD push (20 letters and digits)."""
    return new_transaction_id(TRANSACTION_PREFIX)


def airtel_reference(text: str, *, fallback: str) -> str:
    """Airtel's ``reference`` (4 to 64 letters and digits): ``text`` cleaned, else ``fallback``."""
    cleaned = re.sub(r"[^A-Za-z0-9]", "", text or "")[:REFERENCE_MAX]
    return cleaned if len(cleaned) >= REFERENCE_MIN else fallback


def enquiry_delay_s(settings: Settings, asked: int) -> float:
    """Seconds until the next enquiry after ``asked`` ones: steady, then doubling, up to hourly."""
    extra = max(0, asked - settings.airtel_enquiry_max_attempts)
    return min(settings.airtel_enquiry_every_s * 2**extra, ENQUIRY_EVERY_MAX_S)


def result_of(code: str | None, description: str | None, *, api: Api) -> ResultInfo:
    """A stored Airtel result code (TS, TF, DP...) explained again, for cards and pages."""
    text = (code or "").strip().upper()
    try:
        status = TransactionStatus(text)
    except ValueError:
        return describe(api=api, response_code=text or None, message=description or "")
    return describe(api=api, status=status.value, message=description or "")


# -- what Airtel reported ---------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """One thing Airtel said about a push: by callback or by enquiry."""

    source: str  # "callback" or "enquiry"
    found: bool
    status: TransactionStatus | None
    info: ResultInfo
    airtel_money_id: str | None = None

    @property
    def final(self) -> bool:
        """True for TS, TF and TE: the payment will not change at Airtel any more."""
        return self.found and self.status is not None and self.status.final

    @property
    def succeeded(self) -> bool:
        """True when Airtel reports the customer paid."""
        return self.status is TransactionStatus.SUCCESS

    @property
    def landed(self) -> bool:
        """True when Airtel knows the push at all (any status): it reached Airtel."""
        return self.found and self.status is not None


def report_of_callback(cb: CollectionCallback) -> Report:
    """A collection callback as a report (it has no DP code unless an old format sends one)."""
    info = describe(
        api=Api.COLLECTION, status=cb.status_code or None, response_code=cb.code, message=cb.message
    )
    return Report("callback", True, cb.status, info, cb.airtel_money_id)


def report_of_enquiry(answer: CollectionStatus | DisbursementStatus) -> Report:
    """A collection (or disbursement) enquiry's answer as a report."""
    return Report("enquiry", answer.found, answer.status, answer.info, answer.airtel_money_id)


def _result(info: ResultInfo) -> dict[str, Any]:
    return {"result_code": info.code[:32], "result_desc": (info.description or info.meaning)[:255]}


def judge(payment: Payment, report: Report, *, actor: str, now: datetime) -> Settlement | None:
    """What a final report does to an in-flight Airtel payment; None when it changes nothing."""
    status = PaymentStatus(payment.status)
    if status not in IN_FLIGHT or not report.final:
        return None
    if report.succeeded:
        receipt = report.airtel_money_id or payment.receipt
        columns = {
            "receipt": receipt,
            "paid_amount": payment.amount,  # Airtel reports no amount: our own, matched by id
            "paid_at": payment.paid_at or now,
            **_result(report.info),
        }
        detail = {"source": report.source, "receipt": receipt, "amount": payment.amount}
        return Settlement(
            PaymentStatus.PAID, columns, IN_FLIGHT, "payment.paid", actor, detail, info=None
        )
    if payment.receipt:
        # a success callback was held for its enquiry, and the enquiry disagrees
        reason = (
            f"Airtel's callback said paid (receipt {payment.receipt}) but its {report.source} "
            f"says: {report.info.meaning} (code {report.info.code})"
        )
        return Settlement(
            PaymentStatus.REVIEW,
            {"review_reason": reason[:255], **_result(report.info)},
            IN_FLIGHT,
            "payment.review",
            actor,
            {"reason": reason},
        )
    target = CATEGORY_STATUS.get(report.info.category, PaymentStatus.FAILED)
    alert = None
    if report.info.alert_admin:
        alert = (
            f"payment:{payment.id}:config:{report.info.code}",
            f"Airtel payment #{payment.id} failed because of our Airtel set-up: "
            f"{report.info.meaning} {report.info.next_step}",
        )
    detail = {"source": report.source, "code": report.info.code}
    # an unknown push is first shown to have landed (it is pending), then settled from there
    pending = (PaymentStatus.PENDING,)
    return Settlement(
        target, _result(report.info), pending, "payment.settled", actor, detail, alert
    )


# -- carrying it out ----------------------------------------------------------------------------


class AirtelCollections:
    """Pushes to Airtel Money phones, applies callbacks and enquiries, reconciles silent pushes."""

    def __init__(
        self,
        *,
        airtel: AirtelMoney,
        notifier: Notifier,
        settings: Settings,
        settler: PaymentSettler,
        intents: Intents,
        clock: Clock,
    ) -> None:
        # the same wiring as the other services, kept explicit: each says what it is given
        self._airtel = airtel
        self._notifier = notifier
        self._settings = settings
        self._settler = settler
        self._intents = intents
        self._clock = clock

    # -- sending ----------------------------------------------------------------------------------

    async def push(self, payment: Payment) -> PushAccepted:
        """The USSD push of a recorded payment (called once, inside the intent's POST)."""
        assert payment.transaction_id is not None
        return await self._airtel.ussd_push(
            msisdn=payment.msisdn,
            amount=payment.amount,
            transaction_id=payment.transaction_id,
            reference=airtel_reference(payment.account_reference, fallback=f"PAY{payment.id:05d}"),
        )

    # Same shape as PaymentService._mark_pending on purpose: Airtel has no CheckoutRequestID to
    # keep when the push lost its race, and its own enquiry delay
    async def mark_pending(self, payment: Payment, actor: str, answer: PushAccepted) -> Payment:
        """Airtel sent the prompt: wait for the callback, and enquire if none comes."""
        now = self._clock()
        pending = {
            "status": PaymentStatus.PENDING,
            "next_query_at": now + timedelta(seconds=self._settings.airtel_enquiry_after_s),
            **self._intents.answered(),
        }
        async with in_transaction():
            won = await Payment.filter(id=payment.id, status=PaymentStatus.CREATED).update(
                **pending
            )
            # a slow answer after the lease lapsed and the push was marked unknown
            late = not won and await Payment.filter(
                id=payment.id, status=PaymentStatus.UNKNOWN
            ).update(**pending)
            if late:
                await self._notifier.payment_changed(await Payment.get(id=payment.id))
            if not (won or late):
                await Payment.filter(id=payment.id).update(**self._intents.answered())
            await audit(
                actor,
                "payment.sent",
                subject=subject(payment),
                outcome="ok" if (won or late) else "late",
                provider=Provider.AIRTEL.value,
                transaction_id=payment.transaction_id,
                response_code=answer.response_code,
            )
        log.info(
            "airtel.push.sent payment=%s transaction_id=%s phone=%s amount=%s",
            payment.id,
            payment.transaction_id,
            mask_msisdn(payment.msisdn),
            payment.amount,
        )
        return await Payment.get(id=payment.id)

    # -- what Airtel reports ---------------------------------------------------------------------

    async def apply_callback(self, cb: CollectionCallback) -> ApplyOutcome:
        """Apply a collection callback to the Airtel payment with its transaction id."""
        payment = await Payment.get_or_none(
            transaction_id=cb.transaction_id, provider=Provider.AIRTEL
        )
        if payment is None:
            # we store the id before pushing, so no race: not ours (or not yet replayed)
            log.info("airtel.callback_unmatched transaction_id=%s", cb.transaction_id)
            return ApplyOutcome.UNMATCHED
        if PaymentStatus(payment.status) is PaymentStatus.CREATED:
            # the callback beat our own record of the push's answer: kept, and applied again
            # the moment the answer is recorded (PaymentService replays it)
            log.info("airtel.callback_early payment=%s", payment.id)
            return ApplyOutcome.UNMATCHED
        report = report_of_callback(cb)
        if not report.final:
            return ApplyOutcome.DUPLICATE
        if self._settings.airtel_confirm and PaymentStatus(payment.status) in IN_FLIGHT:
            return await self._confirm(payment, report)
        return await self.apply(payment, report, actor="airtel")

    async def _confirm(self, payment: Payment, report: Report) -> ApplyOutcome:
        """Ask Airtel whether the callback is true before settling on it."""
        try:
            answer = await self._airtel.collection_status(payment.transaction_id or "")
        except AirtelError as exc:
            log.warning("airtel.confirm_failed payment=%s error=%s", payment.id, exc)
            answer = None
        if answer is not None and report_of_enquiry(answer).final:
            return await self.apply(payment, report_of_enquiry(answer), actor="airtel")
        # not confirmed yet: keep the callback's receipt and let reconciliation ask again now
        now = self._clock()
        held: dict[str, Any] = {"next_query_at": now}
        if report.succeeded and report.airtel_money_id:
            held["receipt"] = report.airtel_money_id
        async with in_transaction():
            won = await Payment.filter(id=payment.id, status__in=list(IN_FLIGHT)).update(**held)
            if won:
                await audit(
                    "airtel",
                    "payment.callback_held",
                    subject=subject(payment),
                    outcome="held",
                    status=report.status.value if report.status else None,
                    receipt=report.airtel_money_id,
                )
        return ApplyOutcome.APPLIED if won else ApplyOutcome.DUPLICATE

    async def enquire(self, payment: Payment, *, actor: str) -> ApplyOutcome | None:
        """One enquiry about ``payment`` now; apply a final answer; None while Airtel is unsure."""
        answer = await self.collection_status(payment)
        return await self.apply(payment, report_of_enquiry(answer), actor=actor)

    async def collection_status(self, payment: Payment) -> CollectionStatus:
        """Airtel's enquiry about ``payment``; failures as an UpstreamError saying what to do."""
        assert payment.transaction_id is not None
        try:
            return await self._airtel.collection_status(payment.transaction_id)
        except RateLimited:
            raise UpstreamError("Airtel is busy; ask again in a minute.") from None
        except AirtelError as exc:
            raise UpstreamError(f"Airtel did not answer the enquiry: {exc}") from None

    async def apply(self, payment: Payment, report: Report, *, actor: str) -> ApplyOutcome | None:
        """Apply one report; None when it settles nothing (Airtel still processing, not found)."""
        payment = await Payment.get(id=payment.id)
        status = PaymentStatus(payment.status)
        if status in IN_FLIGHT:
            if status is PaymentStatus.UNKNOWN and report.landed and not report.succeeded:
                payment = await self._landed(payment, report, actor)
            settlement = judge(payment, report, actor=actor, now=self._clock())
            if settlement is None:
                return None
            won = await self._settler.settle(payment, settlement)
            if won is not None:
                return (
                    ApplyOutcome.REVIEW
                    if settlement.status is PaymentStatus.REVIEW
                    else ApplyOutcome.APPLIED
                )
            payment = await Payment.get(id=payment.id)
        if not report.final:
            return None if PaymentStatus(payment.status) in IN_FLIGHT else ApplyOutcome.DUPLICATE
        return await self._settled_again(payment, report, actor)

    async def _landed(self, payment: Payment, report: Report, actor: str) -> Payment:
        """An unknown push Airtel knows after all: it is pending (and settled from there)."""
        async with in_transaction():
            won = await Payment.filter(id=payment.id, status=PaymentStatus.UNKNOWN).update(
                status=PaymentStatus.PENDING
            )
            if won:
                await audit(
                    actor,
                    "payment.sent",
                    subject=subject(payment),
                    outcome="late",
                    source=report.source,
                    status=report.status.value if report.status else None,
                )
                await self._notifier.payment_changed(await Payment.get(id=payment.id))
        return await Payment.get(id=payment.id)

    async def _settled_again(self, payment: Payment, report: Report, actor: str) -> ApplyOutcome:
        """A final report about a settled payment: a duplicate, or drift told to the admins."""
        status = PaymentStatus(payment.status)
        reported = (
            PaymentStatus.PAID
            if report.succeeded
            else CATEGORY_STATUS.get(report.info.category, PaymentStatus.FAILED)
        )
        same_receipt = not report.airtel_money_id or report.airtel_money_id == payment.receipt
        if (reported is status and same_receipt) or (
            report.succeeded
            and status in (PaymentStatus.REVIEW, PaymentStatus.REVERSED)
            and same_receipt
        ):
            log.info("payment.duplicate payment=%s source=%s", payment.id, report.source)
            return ApplyOutcome.DUPLICATE
        if not report.succeeded and status not in (PaymentStatus.PAID, PaymentStatus.REVIEW):
            return ApplyOutcome.DUPLICATE  # one failure reported in other words
        return await self._settler.record_drift(
            payment,
            AIRTEL_DRIFT,
            actor=actor,
            source=report.source,
            code=report.info.code,
            meaning=report.info.meaning,
            receipt=report.airtel_money_id,
        )

    # -- reconciling ----------------------------------------------------------------------------

    def _due(self, now: datetime) -> Q:
        return (
            Q(provider=Provider.AIRTEL)
            & Q(transaction_id__isnull=False)
            & Q(next_query_at__lte=now)
        )

    async def reconcile(self, *, limit: int = 50) -> list[Payment]:
        """Enquire about due Airtel pushes (pending or unknown); return the payments touched."""
        now = self._clock()
        taken = await self._intents.take(
            Payment,
            statuses=list(IN_FLIGHT),
            where=self._due(now),
            limit=limit,
            order_by=("next_query_at", "id"),
        )
        touched: list[Payment] = []
        for lease, payment in taken:
            slowed = await self._enquire_one(lease, payment)
            touched.append(await Payment.get(id=payment.id))
            if slowed:
                for rest, _ in taken[len(touched) :]:
                    await self._intents.release(rest)
                break
        return touched

    async def due(self) -> int:
        """Airtel pushes a pass would enquire about now (held ones included)."""
        now = self._clock()
        return await Payment.filter(self._due(now), status__in=list(IN_FLIGHT)).count()

    async def _enquire_one(self, lease: Lease, payment: Payment) -> bool:
        """Enquire about one held payment; True when Airtel asked us to slow down."""
        try:
            answer = await self._airtel.collection_status(payment.transaction_id or "")
        except RateLimited as exc:
            await self._reschedule(lease, payment, "rate limited", at_least_s=exc.retry_after_s)
            return True
        except AirtelError as exc:
            log.warning("airtel.enquiry_failed payment=%s error=%s", payment.id, exc)
            await self._reschedule(lease, payment, str(exc))
            return False
        outcome = await self.apply(payment, report_of_enquiry(answer), actor="system")
        if outcome is None:
            why = answer.info.meaning if answer.found else "Airtel does not know it (yet)"
            await self._reschedule(lease, payment, why)
        else:
            await self._intents.release(lease)
        return False

    async def _reschedule(
        self, lease: Lease, payment: Payment, why: str, *, at_least_s: float = 0.0
    ) -> None:
        """Ask again later; tell the admins once when it drags on; free a long-gone prompt."""
        now = self._clock()
        payment = await Payment.get(id=payment.id)  # the enquiry may have moved it (landed)
        asked = payment.query_count + 1
        delay = max(enquiry_delay_s(self._settings, asked), at_least_s)
        # not Intents.asked: only an in-flight payment is pushed back, and a gone prompt frees
        # its phone in the same update
        changes: dict[str, Any] = {
            "query_count": F("query_count") + 1,
            "next_query_at": now + timedelta(seconds=delay),
            **self._intents.released(),
        }
        window = timedelta(seconds=self._settings.stk_prompt_window_s)
        ended = payment.answered_at or payment.sent_at or payment.created_at
        unknown = PaymentStatus(payment.status) is PaymentStatus.UNKNOWN
        if unknown and payment.in_flight_msisdn and now >= ended + window:
            # the prompt is gone from the handset: the phone may be asked again; the order
            # stays held, since the customer may have paid it
            changes["in_flight_msisdn"] = None
        async with in_transaction():
            await Payment.filter(
                id=payment.id, status__in=list(IN_FLIGHT), claimed_by=lease.holder
            ).update(**changes)
            if asked == self._settings.airtel_enquiry_max_attempts:
                await audit(
                    "system",
                    "payment.stuck",
                    subject=subject(payment),
                    outcome=PaymentStatus(payment.status).value,
                    queries=asked,
                    last_answer=why,
                )
                await self._notifier.admin_alert(
                    f"payment:{payment.id}:stuck",
                    f"Airtel payment #{payment.id} ({format_kes(payment.amount)} from "
                    f"{mask_msisdn(payment.msisdn)}) is still not settled after {asked} "
                    f"enquiries (last answer: {why}). The customer may have paid: check the "
                    f"Airtel Money portal (transaction {payment.transaction_id}), then "
                    f"/resolve #{payment.id}. Airtel is asked less often from now on.",
                )
