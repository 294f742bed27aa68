"""Airtel Money payouts: the KYC check before anything is sent, the disbursement, its enquiry.

A payout to an Airtel number is an ordinary Payout (``provider = airtel``): confirmed,
approved and limited like any other, and sent through the same money-intent path by
PayoutService. Its ``originator_conversation_id`` is our Airtel ``transaction.id``. Airtel
answers a disbursement synchronously: TS means the money moved; anything unclear (TA, TIP, a
time-out, a duplicate id) is ``unknown`` and settled by the disbursement enquiry by that same
id, never by sending again. Airtel documents no disbursement callback.

Before a payout is recorded, the KYC lookup confirms the number has an Airtel Money account
that can receive money (a prefix is only a hint); the holder's name is shown on the card.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from tortoise.transactions import in_transaction

from airtel.callbacks import CollectionCallback
from airtel.codes import TransactionStatus
from airtel.errors import AirtelError
from airtel.models import DisbursementResult
from airtel.models import DisbursementStatus
from airtel.models import KycUser
from airtel.models import new_transaction_id
from airtel.phone import mask_msisdn
from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services.airtel_money import AirtelMoney
from bot.services.airtel_payments import airtel_reference
from bot.services.airtel_payments import enquiry_delay_s
from bot.services.airtel_payments import report_of_enquiry
from bot.services.audit import audit
from bot.services.errors import InvalidInput
from bot.services.errors import UpstreamError
from bot.services.intents import Intents
from bot.services.intents import Lease
from bot.services.outcome import ApplyOutcome
from bot.services.outcome import Clock
from bot.services.payment_lookup import display_phone
from bot.services.payout_results import IN_FLIGHT
from bot.services.payout_results import PayoutResults
from bot.services.payout_results import subject
from models import Payout
from models import PayoutStatus
from models import Provider
from mpesa.amounts import format_kes

log = logging.getLogger(__name__)

TRANSACTION_PREFIX = "P"


def new_payout_id() -> str:
    """A fresh Airtel transaction id for one payout (20 letters and digits)."""
    return new_transaction_id(TRANSACTION_PREFIX)


class AirtelPayouts:
    """Checks Airtel recipients, sends disbursements, and settles them by enquiry."""

    def __init__(
        self,
        *,
        airtel: AirtelMoney,
        notifier: Notifier,
        settings: Settings,
        results: PayoutResults,
        intents: Intents,
        clock: Clock,
    ) -> None:
        # the same wiring as the other services, kept explicit: each says what it is given
        self._airtel = airtel
        self._notifier = notifier
        self._settings = settings
        self._results = results
        self._intents = intents
        self._clock = clock

    async def recipient(self, msisdn: str) -> KycUser:
        """Who holds the Airtel Money account of ``msisdn``; refused unless it can receive."""
        if self._settings.airtel_disbursement_pin is None:
            raise UpstreamError(
                "Airtel Money payouts are not set up here (AIRTEL_DISBURSEMENT_PIN is missing); "
                "nothing was sent. Ask an administrator."
            )
        try:
            user = await self._airtel.lookup_user(msisdn)
        except AirtelError as exc:
            raise UpstreamError(
                f"Airtel could not be asked who holds {display_phone(msisdn)} ({exc}); nothing "
                "was sent. Try again in a moment."
            ) from None
        if user is None:
            raise InvalidInput(
                f"{display_phone(msisdn)} is not registered on Airtel Money, so it cannot "
                "receive a payout; nothing was sent. Check the number with the recipient.",
                field="phone",
            )
        if not user.can_receive:
            raise InvalidInput(
                f"The Airtel Money account of {display_phone(msisdn)} is barred and cannot "
                "receive money; nothing was sent.",
                field="phone",
            )
        log.info("airtel.kyc.ok msisdn=%s named=%s", mask_msisdn(msisdn), user.name is not None)
        return user

    async def disburse(self, payout: Payout) -> DisbursementResult:
        """The disbursement of a recorded payout (called once, inside the intent's POST)."""
        return await self._airtel.disburse(
            msisdn=payout.msisdn,
            amount=payout.amount,
            transaction_id=payout.originator_conversation_id,
            reference=airtel_reference(payout.remarks, fallback=f"PAYOUT{payout.id:04d}"),
        )

    async def record_paid(self, payout: Payout, result: DisbursementResult) -> None:
        """Airtel answered TS: the money moved. The answer is recorded, then the payout settled."""
        # one transaction: a crash before it commits leaves the payout "sending", read as
        # unknown once its lease lapses and settled by the enquiry, never sent again
        async with in_transaction():
            await Payout.filter(id=payout.id).update(
                status=PayoutStatus.SUBMITTED,
                conversation_id=result.reference_id or None,
                **self._intents.answered(),
            )
            await audit(
                "airtel",
                "payout.submit",
                subject=subject(payout),
                provider=Provider.AIRTEL.value,
                reference_id=result.reference_id,
            )
            payout = await Payout.get(id=payout.id)
            await self._results.settle_completed(
                payout,
                receipt=result.airtel_money_id or None,
                receiver_name=payout.receiver_name,
                completed_at=None,
                code=TransactionStatus.SUCCESS.value,
                desc=result.message or "Airtel Money: paid",
                conversation_id=None,
                source="answer",
                actor="airtel",
            )
        log.info(
            "airtel.payout.paid payout=%s airtel_money_id=%s balance_cents=%s",
            payout.id,
            result.airtel_money_id,
            result.balance_cents,
        )

    async def enquire(
        self, payout: Payout, *, actor: str, lease: Lease | None = None
    ) -> ApplyOutcome | None:
        """Ask Airtel how a payout stands, by our transaction id; apply a final answer."""
        now = self._clock()
        asked = payout.query_count + 1
        async with in_transaction():
            await self._intents.asked(
                payout,
                lease=lease,
                next_query_at=now + timedelta(seconds=enquiry_delay_s(self._settings, asked)),
            )
            await audit(
                actor,
                "payout.status_query",
                subject=subject(payout),
                queries=asked,
                provider="airtel",
            )
            if asked == self._settings.airtel_enquiry_max_attempts:
                await self._notifier.admin_alert(
                    f"payout:{payout.id}:unsettled",
                    f"Airtel payout #{payout.id} ({format_kes(payout.amount)}) is still not "
                    f"settled after {asked} enquiries; Airtel is asked less often from now on. "
                    "Check it in the Airtel Money portal (transaction "
                    f"{payout.originator_conversation_id}), then /resolve P{payout.id} sent or "
                    "failed.",
                )
        try:
            answer = await self._airtel.disbursement_status(payout.originator_conversation_id)
        except AirtelError as exc:
            log.warning("airtel.payout.enquiry_failed payout=%s error=%s", payout.id, exc)
            return None
        return await self.apply_status(await Payout.get(id=payout.id), answer, actor=actor)

    async def disbursement_status(self, payout: Payout) -> DisbursementStatus:
        """Airtel's enquiry about ``payout``; failures as an UpstreamError saying what to do."""
        try:
            return await self._airtel.disbursement_status(payout.originator_conversation_id)
        except AirtelError as exc:
            raise UpstreamError(f"Airtel did not answer the enquiry: {exc}") from None

    async def apply_status(
        self, payout: Payout, answer: DisbursementStatus, *, actor: str
    ) -> ApplyOutcome | None:
        """Apply a disbursement enquiry's answer; None while Airtel is unsure (TIP, TA, none)."""
        report = report_of_enquiry(answer)
        if not report.final:
            return None
        if report.succeeded:
            return await self._results.settle_completed(
                payout,
                receipt=report.airtel_money_id or payout.receipt,
                receiver_name=payout.receiver_name,
                completed_at=None,
                code=TransactionStatus.SUCCESS.value,
                desc=f"Airtel Money enquiry: {report.info.meaning}",
                conversation_id=None,
                source="enquiry",
                actor=actor,
            )
        info = report.info
        alert = None
        if info.alert_admin:
            alert = f"Airtel payout #{payout.id} failed: {info.meaning} {info.next_step}"
        return await self._results.settle_failed(
            payout,
            code=info.code,
            desc=info.description or info.meaning,
            actor=actor,
            alert=alert,
        )

    async def apply_callback(self, cb: CollectionCallback) -> ApplyOutcome:
        """A disbursement callback (none is documented): settled by an enquiry, never by itself."""
        payout = await Payout.get_or_none(
            originator_conversation_id=cb.transaction_id, provider=Provider.AIRTEL
        )
        if payout is None:
            return ApplyOutcome.UNMATCHED
        if PayoutStatus(payout.status) not in IN_FLIGHT:
            return ApplyOutcome.DUPLICATE
        outcome = await self.enquire(payout, actor="airtel")
        return outcome or ApplyOutcome.DUPLICATE
