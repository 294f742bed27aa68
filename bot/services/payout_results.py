"""Settling B2C payouts from what M-Pesa reports: results, queue time-outs, status answers.

PayoutService holds one of these (composition): it settles a payout that is in flight and never
downgrades a settled one; a later contradiction is drift, audited, and told to the admins.
"""

from __future__ import annotations

import logging
from datetime import datetime
from datetime import timedelta

from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services import daraja_queries
from bot.services.audit import audit
from bot.services.daraja import Daraja
from bot.services.intents import Intents
from bot.services.intents import Lease
from bot.services.outcome import ApplyOutcome
from bot.services.outcome import Clock
from bot.services.outcome import ReplayUnmatched
from bot.services.outcome import by_conversation
from bot.services.outcome import replay_early
from models import CallbackKind
from models import DarajaQuery
from models import Payout
from models import PayoutStatus
from models import Provider
from models import Staff
from models.enums import PAYOUT_TRANSITIONS
from models.enums import sources_for
from mpesa.amounts import format_kes
from mpesa.callbacks import B2CResult
from mpesa.callbacks import QueueTimeout
from mpesa.callbacks import TransactionStatusResult
from mpesa.codes import Api
from mpesa.codes import ResultCategory
from mpesa.codes import describe_result
from mpesa.errors import DarajaError

log = logging.getLogger(__name__)

IN_FLIGHT = (PayoutStatus.SUBMITTING, PayoutStatus.SUBMITTED, PayoutStatus.UNKNOWN)
FAILED_WORDS = ("fail", "declin", "cancel", "expire", "revers")
# a status query that keeps saying "not found" is asked less and less often, up to hourly
QUERY_EVERY_MAX_S = 3600.0


def query_delay_s(settings: Settings, asked: int) -> float:
    """Seconds until the next status query after ``asked`` queries: steady, then doubling."""
    extra = max(0, asked - settings.b2c_query_max_attempts)
    return min(settings.b2c_query_after_s * 2**extra, QUERY_EVERY_MAX_S)


def subject(payout: Payout) -> str:
    """The audit subject of a payout."""
    return f"payout:{payout.id}"


class PayoutResults:
    """How a payout reaches its final state from M-Pesa's reports and our status queries."""

    def __init__(
        self,
        *,
        daraja: Daraja,
        notifier: Notifier,
        settings: Settings,
        clock: Clock,
        intents: Intents,
    ) -> None:
        self._daraja = daraja
        self._notifier = notifier
        self._settings = settings
        self._clock = clock
        self._intents = intents
        # set by the container: re-applies callbacks that arrived before their ids were stored
        self.replay_unmatched: ReplayUnmatched | None = None

    async def replay(self, kind: CallbackKind, key: str | None) -> None:
        """Apply callbacks that arrived before ``key`` was stored."""
        await replay_early(self.replay_unmatched, kind, key)

    async def apply_b2c_result(self, r: B2CResult) -> ApplyOutcome:
        """Apply a B2C result, matched by our OriginatorConversationID or by its ConversationID."""
        async with in_transaction():
            payout = await by_conversation(Payout, r.originator_conversation_id, r.conversation_id)
            if payout is None:
                log.info(
                    "payout.result.unmatched originator=%s conversation_id=%s",
                    r.originator_conversation_id,
                    r.conversation_id,
                )
                return ApplyOutcome.UNMATCHED
            if r.succeeded:
                await self._check_amount(payout, r.amount, "the B2C result")
                return await self.settle_completed(
                    payout,
                    receipt=r.receipt or r.transaction_id,
                    receiver_name=r.receiver_name,
                    completed_at=r.completed_at,
                    code=r.result_code,
                    desc=r.result_desc,
                    conversation_id=r.conversation_id,
                    source="result",
                )
            info = describe_result(r.result_code, r.result_desc, api=Api.B2C)
            if info.category is ResultCategory.PENDING:
                return ApplyOutcome.DUPLICATE
            # a failure's TransactionID may be a placeholder like UKK0000000: never a receipt
            return await self.settle_failed(
                payout,
                code=r.result_code,
                desc=r.result_desc,
                actor="daraja",
                conversation_id=r.conversation_id,
            )

    async def apply_b2c_timeout(self, t: QueueTimeout) -> ApplyOutcome:
        """A queue time-out: the outcome is unknown (never failed); reconcile by status query."""
        async with in_transaction():
            payout = await by_conversation(Payout, t.originator_conversation_id, t.conversation_id)
            if payout is None:
                return ApplyOutcome.UNMATCHED
            changed = await self.to_unknown(payout.id, reason="queue time-out", actor="daraja")
            return ApplyOutcome.APPLIED if changed else ApplyOutcome.DUPLICATE

    async def query_status(
        self,
        payout: Payout,
        *,
        actor: str,
        lease: Lease | None = None,
        asked_by: Staff | None = None,
        chat_id: int | None = None,
    ) -> DarajaQuery:
        """Ask Daraja's Transaction Status about this payout by its OriginatorConversationID."""
        now = self._clock()
        asked = payout.query_count + 1
        async with in_transaction():
            query = await daraja_queries.status_asked(
                payout,
                next_query_at=now + timedelta(seconds=query_delay_s(self._settings, asked)),
                intents=self._intents,
                lease=lease,
                asked_by=asked_by,
                chat_id=chat_id,
            )
            await audit(actor, "payout.status_query", subject=subject(payout), queries=asked)
            if asked == self._settings.b2c_query_max_attempts:
                await self._notifier.admin_alert(
                    f"payout:{payout.id}:unsettled",
                    f"Payout #{payout.id} ({format_kes(payout.amount)}) is still not settled "
                    f"after {asked} status queries; M-Pesa is asked less often from now on. "
                    f"Check it on the M-Pesa portal, then /resolve P{payout.id} sent or failed.",
                )
        try:
            answer = await self._daraja.transaction_status(
                originator_conversation_id=payout.originator_conversation_id,
                transaction_id=payout.receipt,
                remarks="Payout status",
            )
        except DarajaError as exc:
            log.warning("payout.status_query.failed payout=%s reason=%s", payout.id, exc)
            return await daraja_queries.failed(query.id, exc)
        return await daraja_queries.accepted(
            query.id, answer, CallbackKind.STATUS_RESULT, self.replay_unmatched
        )

    async def apply_status(self, payout: Payout, r: TransactionStatusResult) -> ApplyOutcome:
        """Apply a Transaction Status answer about a payout (in the caller's transaction)."""
        state = (r.transaction_status or "").casefold()
        if not r.succeeded:
            # the question failed (e.g. 2032 "not found"), not the payout: ask again later
            return ApplyOutcome.DUPLICATE
        if state == "completed":
            await self._check_amount(payout, r.amount, "the transaction status")
            return await self.settle_completed(
                payout,
                receipt=r.receipt,
                receiver_name=_name(r.credit_party_name),
                completed_at=r.finalised_at,
                code=r.result_code,
                desc=f"Transaction status: {r.transaction_status}",
                conversation_id=r.queried_conversation_id,
                source="status",
            )
        if any(word in state for word in FAILED_WORDS):
            # ResultCode 0 says the question was answered, not that the payout succeeded
            return await self.settle_failed(
                payout,
                code=None,
                desc=(
                    f"M-Pesa's transaction status says {r.transaction_status}: the money did not "
                    "reach the recipient."
                ),
                actor="daraja",
                conversation_id=r.queried_conversation_id,
                alert=(
                    f"Payout #{payout.id} ({format_kes(payout.amount)}) failed according to "
                    f"M-Pesa's transaction status ({r.transaction_status}). Nothing was paid; "
                    "send it again if it is still owed."
                ),
            )
        return ApplyOutcome.DUPLICATE  # still processing: the next pass asks again

    # -- transitions ----------------------------------------------------------------------------

    async def _check_amount(self, payout: Payout, amount: int | None, source: str) -> None:
        """Tell the admins when M-Pesa paid out another amount than we asked (still completed)."""
        if amount is None or amount == payout.amount:
            return
        await self._notifier.admin_alert(
            f"payout:{payout.id}:amount",
            f"Payout #{payout.id} was for {format_kes(payout.amount)} but {source} reports "
            f"{format_kes(amount)} paid; check it on the M-Pesa portal.",
        )
        await audit(
            "daraja",
            "payout.amount_mismatch",
            subject=subject(payout),
            outcome="drift",
            requested=payout.amount,
            reported=amount,
            source=source,
        )

    async def settle_completed(
        self,
        payout: Payout,
        *,
        receipt: str | None,
        receiver_name: str | None,
        completed_at: datetime | None,
        code: str | None,
        desc: str,
        conversation_id: str | None,
        source: str,
        actor: str = "daraja",
    ) -> ApplyOutcome:
        """Move an in-flight payout to COMPLETED (once); a settled one is only compared."""
        status = PayoutStatus(payout.status)
        if status is PayoutStatus.COMPLETED:
            if receipt and payout.receipt and receipt != payout.receipt:
                return await self._drift(payout, f"{source} reports receipt {receipt}")
            return ApplyOutcome.DUPLICATE
        won = await Payout.filter(
            id=payout.id, status__in=sources_for(PAYOUT_TRANSITIONS, PayoutStatus.COMPLETED)
        ).update(
            status=PayoutStatus.COMPLETED,
            receipt=receipt,
            receiver_name=receiver_name,
            completed_at=completed_at or self._clock(),
            result_code=code,
            result_desc=desc[:255],
            next_query_at=None,
            **self._intents.released(),
        )
        if not won:
            return await self._drift(payout, f"{source} reports it completed")
        await self._keep_conversation_id(payout, conversation_id)
        payout = await Payout.get(id=payout.id)
        await audit(
            actor, "payout.completed", subject=subject(payout), receipt=receipt, source=source
        )
        await self._notifier.payout_changed(payout)
        log.info("payout.completed payout=%s receipt=%s", payout.id, receipt)
        return ApplyOutcome.APPLIED

    async def settle_failed(
        self,
        payout: Payout,
        *,
        code: str | None,
        desc: str,
        actor: str,
        conversation_id: str | None = None,
        alert: str | None = None,
        post: dict | None = None,
    ) -> ApplyOutcome:
        """Move an in-flight payout to FAILED (once); nothing was paid out."""
        if PayoutStatus(payout.status) is PayoutStatus.FAILED:
            return ApplyOutcome.DUPLICATE
        async with in_transaction():
            won = await Payout.filter(
                id=payout.id, status__in=sources_for(PAYOUT_TRANSITIONS, PayoutStatus.FAILED)
            ).update(
                status=PayoutStatus.FAILED,
                result_code=code,
                result_desc=desc[:255],
                next_query_at=None,
                **(post or self._intents.released()),
            )
            if not won:
                return await self._drift(payout, f"M-Pesa reports it failed ({code}: {desc})")
            await self._keep_conversation_id(payout, conversation_id)
            payout = await Payout.get(id=payout.id)
            await audit(actor, "payout.failed", subject=subject(payout), code=code)
            await self._notifier.payout_changed(payout)
            # Airtel's codes are explained by the Airtel service, which passes its own alert
            mpesa = payout.provider != Provider.AIRTEL
            info = describe_result(code, desc, api=Api.B2C) if code and mpesa else None
            if alert is None and info is not None and info.alert_admin:
                alert = f"Payout #{payout.id} failed: {info.meaning} {info.next_step}"
            if alert is not None:
                await self._notifier.admin_alert(f"payout:{payout.id}:failed", alert)
        log.info("payout.failed payout=%s code=%s", payout.id, code)
        return ApplyOutcome.APPLIED

    async def to_unknown(
        self, payout_id: int, *, reason: str, actor: str, post: dict | None = None
    ) -> bool:
        """Mark an in-flight payout as outcome unknown; the reconciler asks its status."""
        async with in_transaction():
            won = await Payout.filter(
                id=payout_id, status__in=sources_for(PAYOUT_TRANSITIONS, PayoutStatus.UNKNOWN)
            ).update(
                status=PayoutStatus.UNKNOWN,
                next_query_at=self._clock(),
                result_desc=reason[:255],
                **(post or self._intents.unknown()),
            )
            if not won:
                return False
            payout = await Payout.get(id=payout_id)
            await audit(actor, "payout.unknown", subject=f"payout:{payout_id}", reason=reason)
            await self._notifier.payout_changed(payout)
        log.warning("payout.unknown payout=%s reason=%s", payout_id, reason)
        return True

    async def _drift(self, payout: Payout, what: str) -> ApplyOutcome:
        """A later message contradicts a settled payout: keep the record, tell the admins."""
        status = PayoutStatus(payout.status).value
        text = f"Payout #{payout.id} is {status} here, but {what}. The record was kept; check it."
        await audit(
            "daraja",
            "payout.drift",
            subject=subject(payout),
            outcome="drift",
            status=status,
            report=what,
        )
        await self._notifier.admin_alert(f"payout:{payout.id}:drift:{what}"[:100], text)
        log.warning("payout.drift payout=%s status=%s report=%s", payout.id, status, what)
        return ApplyOutcome.DUPLICATE

    @staticmethod
    async def _keep_conversation_id(payout: Payout, conversation_id: str | None) -> None:
        if conversation_id and not payout.conversation_id:
            await Payout.filter(id=payout.id, conversation_id__isnull=True).update(
                conversation_id=conversation_id
            )


def _name(party: str | None) -> str | None:
    """The name part of "254708374149 - John Doe"."""
    if not party:
        return None
    return party.partition(" - ")[2].strip() or party
