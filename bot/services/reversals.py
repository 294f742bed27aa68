"""Reversals of payments we received: asked once by an admin, retried only when nothing moved."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services.audit import actor_for_telegram, audit
from bot.services.errors import Conflict, InvalidInput, NotFound
from bot.services.outcome import ApplyOutcome
from bot.services.staff import StaffService
from models import (
    C2BTransaction,
    CallbackKind,
    Payment,
    PaymentStatus,
    Reversal,
    ReversalStatus,
    Staff,
    StaffRole,
)
from models.enums import REVERSAL_TRANSITIONS, sources_for
from mpesa.callbacks import ReversalResult
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
# errors after which Daraja certainly did not act on the request
NOT_SENT = (DarajaUnreachable, RateLimited, InvalidRequest, AuthFailed, ConfigurationError)
M = TypeVar("M", bound=Model)


class ReversalOps:
    """The reversal half of AccountService (which provides the attributes below)."""

    _daraja: Any
    _notifier: Notifier
    _staff: StaffService
    _settings: Settings
    _clock: Callable[[], datetime]
    replay_unmatched: Callable[[CallbackKind, str], Awaitable[None]] | None

    async def _replay(self, kind: CallbackKind, key: str | None) -> None:
        """Apply callbacks that arrived before ``key`` was stored."""
        if key and self.replay_unmatched is not None:
            await self.replay_unmatched(kind, key)

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
            reversal = await reversal_by_conversation(
                r.originator_conversation_id, r.conversation_id
            )
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

    async def _refused(self, actor: str, receipt: str, exc: Exception) -> Exception:
        await audit(
            actor,
            "reversal.request",
            subject=f"receipt:{receipt}",
            outcome="refused",
            reason=str(exc),
        )
        return exc


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


async def reversal_by_conversation(
    originator_id: str | None, conversation_id: str | None
) -> Reversal | None:
    """The reversal Daraja's ids name."""
    return await by_conversation(Reversal, originator_id, conversation_id)


async def by_conversation(
    model: type[M], originator_id: str | None, conversation_id: str | None, **filters: Any
) -> M | None:
    """The row whose OriginatorConversationID or ConversationID is one of those given."""
    conditions = []
    if originator_id:
        conditions.append(Q(originator_conversation_id=originator_id))
    if conversation_id:
        conditions.append(Q(conversation_id=conversation_id))
    if not conditions:
        return None
    return await model.filter(Q(*conditions, join_type=Q.OR), **filters).first()
