"""Settling B2C payouts: result callbacks, queue time-outs, status answers and reconciliation.

PayoutService inherits these; they share its daraja, notifier, settings and clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.services.audit import audit
from bot.services.outcome import ApplyOutcome
from models import CallbackKind, DarajaQuery, Payout, PayoutStatus, QueryKind, QueryStatus
from models.enums import PAYOUT_TRANSITIONS, sources_for
from mpesa.callbacks import B2CResult, QueueTimeout, TransactionStatusResult
from mpesa.codes import Api, ResultCategory, describe_result
from mpesa.errors import DarajaError

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.notify.notifier import Notifier

log = logging.getLogger(__name__)

CLAIM_S = 120.0  # how long one reconciler owns a payout it claimed
IN_FLIGHT = (PayoutStatus.SUBMITTING, PayoutStatus.SUBMITTED, PayoutStatus.UNKNOWN)
FAILED_WORDS = ("fail", "declin", "cancel", "expire", "revers")


class PayoutResults:
    """How a payout reaches its final state; never downgrades a settled one."""

    _daraja: Any
    _notifier: Notifier
    _settings: Settings
    _clock: Callable[[], datetime]

    async def apply_b2c_result(self, r: B2CResult) -> ApplyOutcome:
        """Apply a B2C result, matched by our OriginatorConversationID or by its ConversationID."""
        async with in_transaction():
            payout = await _match(r.originator_conversation_id, r.conversation_id)
            if payout is None:
                log.info(
                    "payout.result.unmatched originator=%s conversation_id=%s",
                    r.originator_conversation_id,
                    r.conversation_id,
                )
                return ApplyOutcome.UNMATCHED
            if r.succeeded:
                if r.amount is not None and r.amount != payout.amount:
                    # still paid out (M-Pesa says so), but a person must look at it
                    await self._notifier.admin_alert(
                        f"payout:{payout.id}:amount",
                        f"Payout #{payout.id} was for KES {payout.amount:,} but M-Pesa reports "
                        f"KES {r.amount:,} paid; check it.",
                    )
                return await self._settle_completed(
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
            return await self._settle_failed(
                payout,
                code=r.result_code,
                desc=r.result_desc,
                actor="daraja",
                conversation_id=r.conversation_id,
            )

    async def apply_b2c_timeout(self, t: QueueTimeout) -> ApplyOutcome:
        """A queue time-out: the outcome is unknown (never failed); reconcile by status query."""
        async with in_transaction():
            payout = await _match(t.originator_conversation_id, t.conversation_id)
            if payout is None:
                return ApplyOutcome.UNMATCHED
            changed = await self._to_unknown(payout.id, reason="queue time-out", actor="daraja")
            return ApplyOutcome.APPLIED if changed else ApplyOutcome.DUPLICATE

    async def reconcile_pending(self, *, limit: int = 50) -> list[Payout]:
        """Claim due in-flight payouts atomically; resend stuck ones, query the others' status."""
        now = self._clock()
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        due = Q(next_query_at__isnull=True) | Q(next_query_at__lte=now)
        candidates = (
            await Payout.filter(free, due, status__in=IN_FLIGHT).order_by("id").limit(limit)
        )
        handled: list[Payout] = []
        for candidate in candidates:
            won = await Payout.filter(free, due, id=candidate.id, status=candidate.status).update(
                claimed_until=now + timedelta(seconds=CLAIM_S)
            )
            if not won:
                continue  # another process holds it
            payout = await Payout.get(id=candidate.id)
            try:
                if payout.status is PayoutStatus.SUBMITTING:
                    # never accepted (unreachable) or we died mid-call: the same id is safe to
                    # resend, Daraja's duplicate check answers if the first one landed
                    payout = await self._submit(payout)  # type: ignore[attr-defined]
                else:
                    await self.query_status(payout, actor="system")
            finally:
                await Payout.filter(id=payout.id).update(claimed_until=None)
            handled.append(await Payout.get(id=payout.id))
        return handled

    async def query_status(self, payout: Payout, *, actor: str) -> DarajaQuery:
        """Ask Daraja's Transaction Status for this payout by its OriginatorConversationID."""
        now = self._clock()
        async with in_transaction():
            query = await DarajaQuery.create(kind=QueryKind.TRANSACTION_STATUS, payout=payout)
            await Payout.filter(id=payout.id).update(
                query_count=payout.query_count + 1,
                next_query_at=now + timedelta(seconds=self._settings.b2c_query_after_s),
            )
            await audit(actor, "payout.status_query", subject=f"payout:{payout.id}")
        if payout.query_count + 1 == self._settings.stk_query_max_attempts:
            await self._notifier.admin_alert(
                f"payout:{payout.id}:unsettled",
                f"Payout #{payout.id} is still not settled after "
                f"{payout.query_count + 1} status queries; check it on the M-Pesa portal.",
            )
        try:
            answer = await self._daraja.transaction_status(
                originator_conversation_id=payout.originator_conversation_id,
                transaction_id=payout.receipt,
                remarks="Payout status",
            )
        except DarajaError as exc:
            await DarajaQuery.filter(id=query.id).update(
                status=QueryStatus.FAILED, result={"error": str(exc)}
            )
            log.warning("payout.status_query.failed payout=%s reason=%s", payout.id, exc)
            return await DarajaQuery.get(id=query.id)
        await DarajaQuery.filter(id=query.id).update(
            conversation_id=answer.conversation_id,
            originator_conversation_id=answer.originator_conversation_id,
        )
        await self._replay(CallbackKind.STATUS_RESULT, answer.conversation_id)  # type: ignore[attr-defined]
        return await DarajaQuery.get(id=query.id)

    async def apply_status(self, payout: Payout, r: TransactionStatusResult) -> ApplyOutcome:
        """Apply a Transaction Status answer about a payout (in the caller's transaction)."""
        state = (r.transaction_status or "").casefold()
        if not r.succeeded:
            return ApplyOutcome.DUPLICATE  # the question failed, not the payout: ask again later
        if state == "completed":
            return await self._settle_completed(
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
            return await self._settle_failed(
                payout,
                code=r.result_code,
                desc=f"Transaction status: {r.transaction_status}",
                actor="daraja",
                conversation_id=r.queried_conversation_id,
            )
        return ApplyOutcome.DUPLICATE  # still processing: the next pass asks again

    # -- transitions ----------------------------------------------------------------------------

    async def _settle_completed(
        self,
        payout: Payout,
        *,
        receipt: str | None,
        receiver_name: str | None,
        completed_at: datetime | None,
        code: str,
        desc: str,
        conversation_id: str | None,
        source: str,
    ) -> ApplyOutcome:
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
            claimed_until=None,
            next_query_at=None,
        )
        if not won:
            return await self._drift(payout, f"{source} reports it completed")
        await self._keep_conversation_id(payout, conversation_id)
        payout = await Payout.get(id=payout.id)
        await audit("daraja", "payout.completed", subject=f"payout:{payout.id}", receipt=receipt)
        await self._notifier.payout_changed(payout)
        log.info("payout.completed payout=%s receipt=%s", payout.id, receipt)
        return ApplyOutcome.APPLIED

    async def _settle_failed(
        self,
        payout: Payout,
        *,
        code: str | None,
        desc: str,
        actor: str,
        conversation_id: str | None = None,
    ) -> ApplyOutcome:
        if PayoutStatus(payout.status) is PayoutStatus.FAILED:
            return ApplyOutcome.DUPLICATE
        async with in_transaction():
            won = await Payout.filter(
                id=payout.id, status__in=sources_for(PAYOUT_TRANSITIONS, PayoutStatus.FAILED)
            ).update(
                status=PayoutStatus.FAILED,
                result_code=code,
                result_desc=desc[:255],
                claimed_until=None,
                next_query_at=None,
            )
            if not won:
                return await self._drift(payout, f"M-Pesa reports it failed ({code}: {desc})")
            await self._keep_conversation_id(payout, conversation_id)
            payout = await Payout.get(id=payout.id)
            info = describe_result(code, desc, api=Api.B2C)
            await audit(actor, "payout.failed", subject=f"payout:{payout.id}", code=code)
            await self._notifier.payout_changed(payout)
            if info.alert_admin:
                await self._notifier.admin_alert(
                    f"payout:{payout.id}:failed",
                    f"Payout #{payout.id} failed: {info.meaning} {info.next_step}",
                )
        log.info("payout.failed payout=%s code=%s", payout.id, code)
        return ApplyOutcome.APPLIED

    async def _to_unknown(self, payout_id: int, *, reason: str, actor: str) -> bool:
        """Mark an in-flight payout as outcome unknown; the reconciler asks its status."""
        async with in_transaction():
            won = await Payout.filter(
                id=payout_id, status__in=sources_for(PAYOUT_TRANSITIONS, PayoutStatus.UNKNOWN)
            ).update(status=PayoutStatus.UNKNOWN, next_query_at=self._clock())
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
            subject=f"payout:{payout.id}",
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


async def _match(originator_id: str | None, conversation_id: str | None) -> Payout | None:
    """The payout with our OriginatorConversationID or Daraja's ConversationID, if any."""
    conditions = []
    if originator_id:
        conditions.append(Q(originator_conversation_id=originator_id))
    if conversation_id:
        conditions.append(Q(conversation_id=conversation_id))
    if not conditions:
        return None
    return await Payout.filter(Q(*conditions, join_type=Q.OR)).first()


def _name(party: str | None) -> str | None:
    """The name part of "254708374149 - John Doe"."""
    if not party:
        return None
    return party.partition(" - ")[2].strip() or party
