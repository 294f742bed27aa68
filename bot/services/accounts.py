"""Account questions and corrections: balance, transaction status answers, reversals."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services.audit import actor_for_telegram, audit
from bot.services.errors import Conflict, InvalidInput, NotFound, UpstreamError
from bot.services.outcome import ApplyOutcome
from bot.services.payouts import PayoutService
from bot.services.staff import StaffService
from models import (
    C2BTransaction,
    CallbackKind,
    DarajaQuery,
    Payment,
    PaymentStatus,
    Payout,
    QueryKind,
    QueryStatus,
    Reversal,
    ReversalStatus,
    Staff,
    StaffRole,
)
from models.enums import REVERSAL_TRANSITIONS, sources_for
from mpesa.callbacks import (
    AccountBalanceResult,
    QueueTimeout,
    ReversalResult,
    TransactionStatusResult,
)
from mpesa.codes import Api, describe_result
from mpesa.errors import (
    AuthFailed,
    ConfigurationError,
    DarajaError,
    DarajaUnreachable,
    InvalidRequest,
    RateLimited,
)

log = logging.getLogger(__name__)

ALREADY_REVERSED = "R000001"  # Daraja's result code: this receipt was reversed before

Clock = Callable[[], datetime]
# errors after which Daraja certainly did not act on the request
NOT_SENT = (DarajaUnreachable, RateLimited, InvalidRequest, AuthFailed, ConfigurationError)
Replay = Callable[[CallbackKind, str], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AccountService:
    """Asks M-Pesa about our accounts and transactions, and reverses payments we received."""

    def __init__(
        self,
        *,
        daraja: Any,
        notifier: Notifier,
        staff: StaffService,
        settings: Settings,
        payouts: PayoutService,
        clock: Clock = _utcnow,
    ) -> None:
        self._daraja = daraja
        self._notifier = notifier
        self._staff = staff
        self._settings = settings
        self._payouts = payouts
        self._clock = clock
        # set by the container: re-applies callbacks that arrived before their ids were stored
        self.replay_unmatched: Replay | None = None

    # -- balance --------------------------------------------------------------------------------

    async def request_balance(self, *, by_telegram_id: int, chat_id: int | None) -> DarajaQuery:
        """Ask for the shortcode's account balances (admins); the answer comes by callback."""
        actor = actor_for_telegram(by_telegram_id)
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="balance")
        async with in_transaction():
            query = await DarajaQuery.create(
                kind=QueryKind.BALANCE, requested_by=staff, chat_id=chat_id
            )
            await audit(actor, "balance.request", subject=f"query:{query.id}")
        try:
            answer = await self._daraja.account_balance(remarks="Balance check")
        except DarajaError as exc:
            await DarajaQuery.filter(id=query.id).update(
                status=QueryStatus.FAILED, result={"error": str(exc)}
            )
            await audit(actor, "balance.request", subject=f"query:{query.id}", outcome="failed")
            raise UpstreamError(f"M-Pesa could not be asked for the balance: {exc}") from exc
        await DarajaQuery.filter(id=query.id).update(
            conversation_id=answer.conversation_id,
            originator_conversation_id=answer.originator_conversation_id,
        )
        await self._replay(CallbackKind.BALANCE_RESULT, answer.conversation_id)
        return await DarajaQuery.get(id=query.id)

    async def apply_balance_result(self, r: AccountBalanceResult) -> ApplyOutcome:
        """Store an Account Balance answer (balances in cents) and tell whoever asked."""
        async with in_transaction():
            query = await _query(QueryKind.BALANCE, r.originator_conversation_id, r.conversation_id)
            if query is None:
                return ApplyOutcome.UNMATCHED
            result = {
                "result_desc": r.result_desc,
                "accounts": [account.model_dump(mode="json") for account in r.accounts],
                "completed_at": r.completed_at.isoformat() if r.completed_at else None,
            }
            return await self._answer(query, r.result_code, result, api=Api.BALANCE)

    # -- transaction status ---------------------------------------------------------------------

    async def query_transaction_status(self, payout: Payout, *, actor: str) -> DarajaQuery:
        """Ask Daraja's Transaction Status about a payout; the answer comes by callback."""
        return await self._payouts.query_status(payout, actor=actor)

    async def apply_status_result(self, r: TransactionStatusResult) -> ApplyOutcome:
        """Store a Transaction Status answer and settle the payout it is about (never downgrade)."""
        async with in_transaction():
            query = await _query(
                QueryKind.TRANSACTION_STATUS, r.originator_conversation_id, r.conversation_id
            )
            if query is None:
                return ApplyOutcome.UNMATCHED
            result = {
                "result_desc": r.result_desc,
                "transaction_status": r.transaction_status,
                "receipt": r.receipt,
                "amount": r.amount,
                "originator_conversation_id": r.queried_originator_conversation_id,
                "credit_party_name": r.credit_party_name,
            }
            outcome = await self._answer(query, r.result_code, result, api=Api.STATUS)
            if outcome is not ApplyOutcome.APPLIED:
                return outcome
            payout = await self._payout_for(query, r)
            if payout is None:
                return outcome
            return await self._payouts.apply_status(payout, r)

    async def _payout_for(self, query: DarajaQuery, r: TransactionStatusResult) -> Payout | None:
        """The payout a status answer is about: the query's, else by queried id or receipt."""
        conditions = []
        if r.queried_originator_conversation_id:
            conditions.append(Q(originator_conversation_id=r.queried_originator_conversation_id))
        if r.receipt:
            conditions.append(Q(receipt=r.receipt))
        if query.payout_id is not None:
            payout = await Payout.get(id=query.payout_id)
            queried = r.queried_originator_conversation_id
            if queried not in (None, payout.originator_conversation_id):
                log.warning(
                    "status.mismatch query=%s payout=%s queried=%s",
                    query.id,
                    payout.id,
                    r.queried_originator_conversation_id,
                )
                return None
            return payout
        if not conditions:
            return None
        return await Payout.filter(Q(*conditions, join_type=Q.OR)).first()

    async def apply_query_timeout(self, kind: CallbackKind, t: QueueTimeout) -> ApplyOutcome:
        """A queue time-out for a status, balance or reversal request."""
        if kind is CallbackKind.REVERSAL_TIMEOUT:
            async with in_transaction():
                reversal = await _reversal(t.originator_conversation_id, t.conversation_id)
                if reversal is None:
                    return ApplyOutcome.UNMATCHED
                return await self._move_reversal(
                    reversal, ReversalStatus.UNKNOWN, code=None, desc="queue time-out"
                )
        wanted = QueryKind.TRANSACTION_STATUS
        if kind is CallbackKind.BALANCE_TIMEOUT:
            wanted = QueryKind.BALANCE
        async with in_transaction():
            query = await _query(wanted, t.originator_conversation_id, t.conversation_id)
            if query is None:
                return ApplyOutcome.UNMATCHED
            # the payout's own next_query_at makes the reconciler ask again
            return await self._answer(query, None, {"error": "M-Pesa timed out"}, api=Api.STATUS)

    # -- reversal ---------------------------------------------------------------------------------

    async def reverse(
        self,
        receipt: str,
        *,
        by_telegram_id: int,
        chat_id: int | None = None,
        remarks: str = "Reversal",
    ) -> Reversal:
        """Reverse a payment we received (STK or C2B) by its M-Pesa receipt, once (admins)."""
        actor = actor_for_telegram(by_telegram_id)
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="reverse")
        receipt = (receipt or "").strip().upper()
        remarks = " ".join(remarks.split()) or "Reversal"
        if not receipt.isalnum() or not 2 <= len(remarks) <= 100:
            raise await self._refused(
                actor, receipt, InvalidInput("Give the M-Pesa receipt to reverse.", field="receipt")
            )
        amount = await _received_amount(receipt)
        if amount is None:
            raise await self._refused(
                actor, receipt, NotFound(f"No payment we received has the receipt {receipt}.")
            )
        existing = await Reversal.get_or_none(receipt=receipt)
        if existing is not None:
            return await self._retry_reversal(existing, staff, actor, remarks, chat_id)
        try:
            async with in_transaction():
                reversal = await Reversal.create(
                    receipt=receipt,
                    amount=amount,
                    remarks=remarks,
                    requested_by=staff,
                    chat_id=chat_id,
                )
                await audit(
                    actor,
                    "reversal.request",
                    subject=f"reversal:{reversal.id}",
                    receipt=receipt,
                    amount=amount,
                )
        except IntegrityError:
            # a concurrent request for the same receipt won the unique column
            existing = await Reversal.get(receipt=receipt)
            raise await self._refused(actor, receipt, _already(existing)) from None
        return await self._send_reversal(reversal)

    async def _retry_reversal(
        self, existing: Reversal, staff: Staff, actor: str, remarks: str, chat_id: int | None
    ) -> Reversal:
        """Try a failed reversal again; anything else about this receipt is refused."""
        # FAILED means M-Pesa refused it or it never left; "already reversed" is final
        if existing.status != ReversalStatus.FAILED or existing.result_code == ALREADY_REVERSED:
            raise await self._refused(actor, existing.receipt, _already(existing))
        won = await Reversal.filter(id=existing.id, status=ReversalStatus.FAILED).update(
            status=ReversalStatus.SUBMITTING,
            requested_by_id=staff.id,
            remarks=remarks,
            chat_id=chat_id,
            message_id=None,
            result_code=None,
            result_desc=None,
            conversation_id=None,
            originator_conversation_id=None,
        )
        if not won:
            fresh = await Reversal.get(id=existing.id)
            raise await self._refused(actor, existing.receipt, _already(fresh))
        await audit(actor, "reversal.retry", subject=f"reversal:{existing.id}")
        return await self._send_reversal(await Reversal.get(id=existing.id))

    async def _send_reversal(self, reversal: Reversal) -> Reversal:
        try:
            answer = await self._daraja.reversal(
                transaction_id=reversal.receipt, amount=reversal.amount, remarks=reversal.remarks
            )
        except NOT_SENT as exc:
            # refused or never sent: nothing was reversed
            async with in_transaction():
                await self._move_reversal(
                    reversal, ReversalStatus.FAILED, code=exc.code, desc=str(exc)
                )
            return await Reversal.get(id=reversal.id)
        except DarajaError as exc:
            # the money POST may have landed: wait for its result or a person
            async with in_transaction():
                await self._move_reversal(
                    reversal, ReversalStatus.UNKNOWN, code=exc.code, desc=str(exc)
                )
            return await Reversal.get(id=reversal.id)
        async with in_transaction():
            await Reversal.filter(id=reversal.id).update(
                conversation_id=answer.conversation_id,
                originator_conversation_id=answer.originator_conversation_id,
            )
            await self._move_reversal(reversal, ReversalStatus.SUBMITTED, code=None, desc="")
        await self._replay(CallbackKind.REVERSAL_RESULT, answer.conversation_id)
        return await Reversal.get(id=reversal.id)

    async def set_reversal_message(self, reversal_id: int, chat_id: int, message_id: int) -> None:
        """Remember where the reversal's status message is, so its result edits it in place."""
        await Reversal.filter(id=reversal_id).update(chat_id=chat_id, message_id=message_id)

    async def apply_reversal_result(self, r: ReversalResult) -> ApplyOutcome:
        """Settle a reversal from its result (R000001: already reversed, recorded as failed)."""
        async with in_transaction():
            reversal = await _reversal(r.originator_conversation_id, r.conversation_id)
            if reversal is None:
                return ApplyOutcome.UNMATCHED
            wanted = ReversalStatus.COMPLETED if r.succeeded else ReversalStatus.FAILED
            if ReversalStatus(reversal.status) in (ReversalStatus.COMPLETED, ReversalStatus.FAILED):
                if ReversalStatus(reversal.status) is not wanted:
                    await self._notifier.admin_alert(
                        f"reversal:{reversal.id}:drift",
                        f"Reversal of {reversal.receipt} is {reversal.status} here, but M-Pesa "
                        f"now reports code {r.result_code}. The record was kept; check it.",
                    )
                    await audit(
                        "daraja",
                        "reversal.drift",
                        subject=f"reversal:{reversal.id}",
                        outcome="drift",
                        code=r.result_code,
                    )
                return ApplyOutcome.DUPLICATE
            if r.succeeded and r.transaction_id:
                await Reversal.filter(id=reversal.id).update(reversal_receipt=r.transaction_id)
            return await self._move_reversal(
                reversal, wanted, code=r.result_code, desc=r.result_desc
            )

    # -- helpers --------------------------------------------------------------------------------

    async def _move_reversal(
        self, reversal: Reversal, wanted: ReversalStatus, *, code: str | None, desc: str
    ) -> ApplyOutcome:
        """Conditionally move a reversal (caller's transaction), audit and notify once."""
        fields: dict[str, Any] = {"status": wanted}
        if code is not None or desc:
            fields.update(result_code=code, result_desc=desc[:255])
        won = await Reversal.filter(
            id=reversal.id, status__in=sources_for(REVERSAL_TRANSITIONS, wanted)
        ).update(**fields)
        if not won:
            return ApplyOutcome.DUPLICATE
        reversal = await Reversal.get(id=reversal.id)
        await audit(
            "daraja" if code else "system",
            f"reversal.{wanted.value}",
            subject=f"reversal:{reversal.id}",
            code=code,
        )
        await self._notifier.reversal_changed(reversal)
        info = describe_result(code, desc, api=Api.REVERSAL) if code else None
        if info is not None and info.alert_admin:
            await self._notifier.admin_alert(
                f"reversal:{reversal.id}:{wanted.value}",
                f"Reversal of {reversal.receipt}: {info.meaning} {info.next_step}",
            )
        return ApplyOutcome.APPLIED

    async def _answer(
        self, query: DarajaQuery, code: str | None, result: dict[str, Any], *, api: Api
    ) -> ApplyOutcome:
        """Record the answer to a query once (caller's transaction) and tell whoever asked."""
        status = QueryStatus.ANSWERED if code == "0" else QueryStatus.FAILED
        won = await DarajaQuery.filter(id=query.id, status=QueryStatus.SENT).update(
            status=status, result_code=code, result=result, answered_at=self._clock()
        )
        if not won:
            return ApplyOutcome.DUPLICATE
        query = await DarajaQuery.get(id=query.id)
        await audit(
            "daraja",
            f"query.{query.kind.value}",
            subject=f"query:{query.id}",
            outcome=status.value,
            code=code,
        )
        await self._notifier.query_answered(query)
        info = describe_result(code, result.get("result_desc", ""), api=api) if code else None
        if info is not None and info.alert_admin:
            await self._notifier.admin_alert(
                f"query:{query.id}:failed", f"{info.meaning} {info.next_step}"
            )
        return ApplyOutcome.APPLIED

    async def _refused(self, actor: str, receipt: str, exc: Exception) -> Exception:
        await audit(
            actor,
            "reversal.request",
            subject=f"receipt:{receipt}",
            outcome="refused",
            reason=str(exc),
        )
        return exc

    async def _replay(self, kind: CallbackKind, key: str | None) -> None:
        if key and self.replay_unmatched is not None:
            await self.replay_unmatched(kind, key)


def _already(existing: Reversal) -> Conflict:
    return Conflict(
        f"Receipt {existing.receipt} already has a reversal (#{existing.id}, {existing.status})."
    )


async def _received_amount(receipt: str) -> int | None:
    """The shillings we received under this receipt (a paid STK payment or a C2B payment)."""
    payment = await Payment.get_or_none(receipt=receipt, status=PaymentStatus.PAID)
    if payment is not None:
        return payment.paid_amount or payment.amount
    c2b = await C2BTransaction.get_or_none(trans_id=receipt)
    return c2b.amount if c2b is not None else None


async def _query(
    kind: QueryKind, originator_id: str | None, conversation_id: str | None
) -> DarajaQuery | None:
    conditions = []
    if originator_id:
        conditions.append(Q(originator_conversation_id=originator_id))
    if conversation_id:
        conditions.append(Q(conversation_id=conversation_id))
    if not conditions:
        return None
    return await DarajaQuery.filter(Q(*conditions, join_type=Q.OR), kind=kind).first()


async def _reversal(originator_id: str | None, conversation_id: str | None) -> Reversal | None:
    conditions = []
    if originator_id:
        conditions.append(Q(originator_conversation_id=originator_id))
    if conversation_id:
        conditions.append(Q(conversation_id=conversation_id))
    if not conditions:
        return None
    return await Reversal.filter(Q(*conditions, join_type=Q.OR)).first()
