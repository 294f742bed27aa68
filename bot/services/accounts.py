"""Account questions: the balances (M-Pesa's by callback, Airtel's at once), and Transaction
Status answers routed to what they are about."""

from __future__ import annotations

import logging
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from airtel.errors import AirtelError
from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services import daraja_queries
from bot.services.airtel_money import AirtelMoney
from bot.services.audit import actor_for_telegram
from bot.services.audit import audit
from bot.services.daraja import Daraja
from bot.services.errors import UpstreamError
from bot.services.outcome import ApplyOutcome
from bot.services.outcome import Clock
from bot.services.outcome import ReplayUnmatched
from bot.services.outcome import by_conversation
from bot.services.outcome import utcnow
from bot.services.payout_results import PayoutResults
from bot.services.reversals import ReversalService
from bot.services.staff import StaffService
from models import CallbackKind
from models import DarajaQuery
from models import Payout
from models import Provider
from models import QueryKind
from models import QueryStatus
from models import Reversal
from models import Staff
from models import StaffRole
from mpesa.callbacks import AccountBalanceResult
from mpesa.callbacks import QueueTimeout
from mpesa.callbacks import TransactionStatusResult
from mpesa.codes import Api
from mpesa.codes import describe_result
from mpesa.errors import DarajaError

log = logging.getLogger(__name__)


class AccountService:
    """Asks M-Pesa for the balance; hands status answers to the payout or reversal they concern."""

    def __init__(
        self,
        *,
        daraja: Daraja,
        notifier: Notifier,
        staff: StaffService,
        settings: Settings,
        payouts: PayoutResults,
        reversals: ReversalService,
        clock: Clock = utcnow,
        airtel: AirtelMoney | None = None,
    ) -> None:
        # the same wiring as the other services, kept explicit: each says what it is given
        self._daraja = daraja
        self._airtel = airtel
        self._notifier = notifier
        self._staff = staff
        self._settings = settings
        self._payouts = payouts
        self._reversals = reversals
        self._clock = clock
        # set by the container: re-applies callbacks that arrived before their ids were stored
        self.replay_unmatched: ReplayUnmatched | None = None

    # -- balance --------------------------------------------------------------------------------

    async def request_balance(self, *, by_telegram_id: int, chat_id: int | None) -> DarajaQuery:
        """Ask for the balances (admins): M-Pesa's answer comes by callback; Airtel Money's, when
        it is on, is asked at once and pushed to the same chat (both through the outbox)."""
        actor = actor_for_telegram(by_telegram_id)
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="balance")
        if self._airtel is not None:
            await self._airtel_balance(staff, actor, chat_id)
        async with in_transaction():
            query = await DarajaQuery.create(
                kind=QueryKind.BALANCE, requested_by=staff, chat_id=chat_id
            )
            await audit(actor, "balance.request", subject=f"query:{query.id}")
        try:
            answer = await self._daraja.account_balance(remarks="Balance check")
        except DarajaError as exc:
            await daraja_queries.failed(query.id, exc)
            await audit(actor, "balance.request", subject=f"query:{query.id}", outcome="failed")
            raise UpstreamError(f"M-Pesa could not be asked for the balance: {exc}") from exc
        return await daraja_queries.accepted(
            query.id, answer, CallbackKind.BALANCE_RESULT, self.replay_unmatched
        )

    async def _airtel_balance(self, staff: Staff, actor: str, chat_id: int | None) -> DarajaQuery:
        """Ask Airtel for its wallet balance now; record the answer (or the failure) and tell."""
        assert self._airtel is not None
        now = self._clock()
        try:
            balance = await self._airtel.balance()
        except AirtelError as exc:
            status = QueryStatus.FAILED
            result: dict[str, Any] = {"provider": Provider.AIRTEL.value, "error": str(exc)}
        else:
            status = QueryStatus.ANSWERED
            result = {
                "provider": Provider.AIRTEL.value,
                "accounts": [{"name": "Airtel Money", "available_cents": balance.balance_cents}],
                "currency": balance.currency,
                "account_status": balance.account_status,
                "completed_at": now.isoformat(),
            }
        async with in_transaction():
            query = await DarajaQuery.create(
                kind=QueryKind.BALANCE,
                status=status,
                requested_by=staff,
                chat_id=chat_id,
                result=result,
                answered_at=now,
            )
            await audit(
                actor,
                "balance.request",
                subject=f"query:{query.id}",
                outcome="ok" if status is QueryStatus.ANSWERED else "failed",
                provider=Provider.AIRTEL.value,
            )
            await self._notifier.query_answered(query)
        return query

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
            if query.reversal_id is not None:
                reversal = await Reversal.get(id=query.reversal_id)
                return await self._reversals.apply_status(reversal, r)
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
        """A queue time-out for a status or balance request (reversals: ReversalService)."""
        if kind is CallbackKind.REVERSAL_TIMEOUT:
            return await self._reversals.apply_timeout(t)
        wanted = QueryKind.TRANSACTION_STATUS
        if kind is CallbackKind.BALANCE_TIMEOUT:
            wanted = QueryKind.BALANCE
        async with in_transaction():
            query = await _query(wanted, t.originator_conversation_id, t.conversation_id)
            if query is None:
                return ApplyOutcome.UNMATCHED
            # the payout's (or reversal's) own next_query_at makes the reconciler ask again
            return await self._answer(query, None, {"error": "M-Pesa timed out"}, api=Api.STATUS)

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
        if query.requested_by_id is not None:
            # an admin asked (/resolve): the answer they decide after is now in front of them
            if query.payout_id is not None:
                await Payout.filter(id=query.payout_id).update(looked_at=self._clock())
            if query.reversal_id is not None:
                await Reversal.filter(id=query.reversal_id).update(looked_at=self._clock())
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


async def _query(
    kind: QueryKind, originator_id: str | None, conversation_id: str | None
) -> DarajaQuery | None:
    return await by_conversation(DarajaQuery, originator_id, conversation_id, kind=kind)
