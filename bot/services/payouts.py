"""B2C payouts: created by an admin, confirmed once, approved above a threshold, sent, settled."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services.audit import actor_for_telegram, audit
from bot.services.errors import Conflict, InvalidInput, LimitExceeded, NotAllowed, NotFound
from bot.services.outcome import Clock, ReplayUnmatched, utcnow
from bot.services.payout_results import PayoutResults
from bot.services.payout_rules import payout_terms
from bot.services.staff import StaffService
from models import CallbackKind, Payout, PayoutStatus, Staff, StaffRole
from models.enums import PAYOUT_TRANSITIONS, sources_for
from mpesa.amounts import format_kes
from mpesa.errors import (
    AuthFailed,
    ConfigurationError,
    DarajaError,
    DarajaUnreachable,
    DuplicateRequest,
    InvalidRequest,
    RateLimited,
)
from mpesa.phone import mask_msisdn
from mpesa.security import NAIROBI

log = logging.getLogger(__name__)

RECEIPT_MAX = 32
# a payout's daily total ignores what never left (or never will)
NOT_COUNTED = (PayoutStatus.FAILED, PayoutStatus.CANCELLED, PayoutStatus.REJECTED)


class PayoutService(PayoutResults):
    """Sends money to customers by B2C, exactly once, with confirmation, approval and limits."""

    def __init__(
        self,
        *,
        daraja: Any,
        notifier: Notifier,
        staff: StaffService,
        settings: Settings,
        clock: Clock = utcnow,
    ) -> None:
        self._daraja = daraja
        self._notifier = notifier
        self._staff = staff
        self._settings = settings
        self._clock = clock
        # set by the container: re-applies callbacks that arrived before their ids were stored
        self.replay_unmatched: ReplayUnmatched | None = None

    # -- creating and deciding ----------------------------------------------------------------

    async def send_money(
        self,
        raw_phone: str,
        raw_amount: str | int,
        *,
        initiator_telegram_id: int,
        reason: str,
        chat_id: int | None = None,
    ) -> Payout:
        """Record a payout (whole shillings) to a Safaricom phone; it waits for the Confirm."""
        actor = actor_for_telegram(initiator_telegram_id)
        staff = await self._staff.require(
            initiator_telegram_id, StaffRole.ADMIN, action="payout.send"
        )
        try:
            terms = payout_terms(raw_phone, raw_amount, reason, settings=self._settings)
        except InvalidInput as exc:
            raise await self._refused(actor, "payout.send", "", exc) from None
        msisdn, amount, remarks = terms.msisdn, terms.amount, terms.remarks
        async with in_transaction():
            payout = await Payout.create(
                originator_conversation_id=str(uuid.uuid4()),
                msisdn=msisdn,
                amount=amount,
                remarks=remarks,
                initiated_by=staff,
                needs_approval=amount > self._settings.payout_approval_threshold,
                chat_id=chat_id,
                created_at=self._clock(),
            )
            await audit(
                actor,
                "payout.create",
                subject=f"payout:{payout.id}",
                amount=amount,
                msisdn=mask_msisdn(msisdn),
            )
        log.info(
            "payout.created payout=%s msisdn=%s amount=%s", payout.id, mask_msisdn(msisdn), amount
        )
        return payout

    async def set_status_message(self, payout_id: int, chat_id: int, message_id: int) -> None:
        """Remember where the payout's live status message is, so any instance can edit it."""
        await Payout.filter(id=payout_id).update(chat_id=chat_id, message_id=message_id)

    async def confirm_payout(self, payout_id: int, *, by_telegram_id: int) -> Payout:
        """The initiator's Confirm: checks the daily limit, then asks approval or sends (once)."""
        actor = actor_for_telegram(by_telegram_id)
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="payout.confirm")
        payout = await self._get(payout_id)
        subject = f"payout:{payout.id}"
        if payout.initiated_by_id != staff.id:
            raise await self._refused(
                actor,
                "payout.confirm",
                subject,
                NotAllowed("Only the admin who started this payout can confirm it."),
            )
        wanted = (
            PayoutStatus.AWAITING_APPROVAL if payout.needs_approval else PayoutStatus.SUBMITTING
        )
        now = self._clock()
        try:
            async with in_transaction():
                # the staff row lock serialises limit checks of one initiator (PostgreSQL)
                await Staff.select_for_update().get(id=staff.id)
                await self._check_daily_limit(staff, payout, now)
                won = await Payout.filter(
                    id=payout.id, status=PayoutStatus.AWAITING_CONFIRMATION
                ).update(
                    status=wanted,
                    confirmed_by_id=staff.id,
                    submitted_at=now if wanted is PayoutStatus.SUBMITTING else None,
                    next_query_at=now + timedelta(seconds=self._settings.b2c_query_after_s),
                )
                if not won:
                    raise Conflict(await self._state_sentence(payout.id))
                payout = await Payout.get(id=payout.id)
                await audit(actor, "payout.confirm", subject=subject, status=wanted.value)
                if wanted is PayoutStatus.AWAITING_APPROVAL:
                    await self._notifier.approval_requested(payout)
                await self._notifier.payout_changed(payout)
        except (Conflict, LimitExceeded) as exc:
            raise await self._refused(actor, "payout.confirm", subject, exc) from None
        if wanted is PayoutStatus.SUBMITTING:
            payout = await self._submit(payout)
        return payout

    async def approve_payout(self, payout_id: int, *, by_telegram_id: int) -> Payout:
        """A second admin's approval of a payout above the threshold; sends it (once)."""
        actor = actor_for_telegram(by_telegram_id)
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="payout.approve")
        payout = await self._get(payout_id)
        subject = f"payout:{payout.id}"
        if payout.initiated_by_id == staff.id:
            raise await self._refused(
                actor,
                "payout.approve",
                subject,
                NotAllowed("You started this payout; another admin must approve it."),
            )
        now = self._clock()
        try:
            async with in_transaction():
                won = await Payout.filter(
                    id=payout.id, status=PayoutStatus.AWAITING_APPROVAL
                ).update(
                    status=PayoutStatus.SUBMITTING,
                    approved_by_id=staff.id,
                    submitted_at=now,
                    next_query_at=now + timedelta(seconds=self._settings.b2c_query_after_s),
                )
                if not won:
                    raise Conflict(await self._state_sentence(payout.id))
                payout = await Payout.get(id=payout.id)
                await audit(actor, "payout.approve", subject=subject)
                await self._notifier.payout_changed(payout)
        except Conflict as exc:
            raise await self._refused(actor, "payout.approve", subject, exc) from None
        return await self._submit(payout)

    async def reject_payout(self, payout_id: int, *, by_telegram_id: int) -> Payout:
        """An admin refuses a payout waiting for approval; nothing is sent."""
        return await self._close(
            payout_id,
            by_telegram_id,
            action="payout.reject",
            source=PayoutStatus.AWAITING_APPROVAL,
            wanted=PayoutStatus.REJECTED,
            initiator_only=False,
        )

    async def cancel_payout(self, payout_id: int, *, by_telegram_id: int) -> Payout:
        """The initiator drops a payout before confirming it; nothing is sent."""
        return await self._close(
            payout_id,
            by_telegram_id,
            action="payout.cancel",
            source=PayoutStatus.AWAITING_CONFIRMATION,
            wanted=PayoutStatus.CANCELLED,
            initiator_only=True,
        )

    async def find(self, ref: str) -> Payout:
        """A payout by our id ("12", "#12"), OriginatorConversationID, ConversationID or receipt."""
        text = (ref or "").strip()
        if text.lstrip("#").isdigit():
            payout = await Payout.get_or_none(id=int(text.lstrip("#")))
        else:
            condition = Q(originator_conversation_id=text) | Q(conversation_id=text)
            if len(text) <= RECEIPT_MAX:
                condition |= Q(receipt=text.upper())
            payout = await Payout.filter(condition).first()
        if payout is None:
            raise NotFound(f"No payout matches {text or 'an empty reference'}.")
        return payout

    # -- sending --------------------------------------------------------------------------------

    async def _submit(self, payout: Payout) -> Payout:
        """Send the B2C request with the stored OriginatorConversationID and record the answer."""
        try:
            answer = await self._daraja.b2c_payment(
                originator_conversation_id=payout.originator_conversation_id,
                msisdn=payout.msisdn,
                amount=payout.amount,
                remarks=payout.remarks,
                occasion=payout.occasion,
                command_id=payout.command_id,
            )
        except (DarajaUnreachable, RateLimited) as exc:
            # nothing was accepted: the reconciler resends with the same id later
            retry_s = getattr(exc, "retry_after_s", None) or self._settings.reconcile_interval_s
            await Payout.filter(id=payout.id, status=PayoutStatus.SUBMITTING).update(
                next_query_at=self._clock() + timedelta(seconds=retry_s)
            )
            await audit(
                "system",
                "payout.submit",
                subject=f"payout:{payout.id}",
                outcome="deferred",
                error=str(exc),
            )
            log.warning("payout.submit.deferred payout=%s reason=%s", payout.id, exc)
            return await Payout.get(id=payout.id)
        except (InvalidRequest, AuthFailed, ConfigurationError) as exc:
            # refused before any money moved
            await self._settle_failed(payout, code=exc.code, desc=str(exc), actor="system")
            return await Payout.get(id=payout.id)
        except (DuplicateRequest, DarajaError) as exc:
            # OutcomeUnknown, a duplicate id, a 5xx: the money may be moving; ask, never resend
            await self._to_unknown(payout.id, reason=str(exc), actor="system")
            return await Payout.get(id=payout.id)
        now = self._clock()
        async with in_transaction():
            won = await Payout.filter(
                id=payout.id, status__in=sources_for(PAYOUT_TRANSITIONS, PayoutStatus.SUBMITTED)
            ).update(
                status=PayoutStatus.SUBMITTED,
                conversation_id=answer.conversation_id,
                next_query_at=now + timedelta(seconds=self._settings.b2c_query_after_s),
                claimed_until=None,
            )
            if not won:
                # the result callback beat the sync answer: keep its conversation id anyway
                await Payout.filter(id=payout.id, conversation_id__isnull=True).update(
                    conversation_id=answer.conversation_id
                )
            await audit(
                "system",
                "payout.submit",
                subject=f"payout:{payout.id}",
                conversation_id=answer.conversation_id,
            )
            payout = await Payout.get(id=payout.id)
            if won:
                await self._notifier.payout_changed(payout)
        log.info("payout.submitted payout=%s conversation_id=%s", payout.id, answer.conversation_id)
        await self._replay(CallbackKind.B2C_RESULT, answer.conversation_id)
        await self._replay(CallbackKind.B2C_RESULT, payout.originator_conversation_id)
        return payout

    # -- helpers --------------------------------------------------------------------------------

    async def _check_daily_limit(self, staff: Staff, payout: Payout, now: datetime) -> None:
        """Refuse when today's (Nairobi day) payouts by this initiator would pass their limit."""
        local = now.astimezone(NAIROBI)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
        amounts = (
            await Payout.filter(
                initiated_by_id=staff.id,
                created_at__gte=start.astimezone(UTC),
                created_at__lt=end.astimezone(UTC),
            )
            .exclude(status__in=NOT_COUNTED)
            .exclude(id=payout.id)
            .values_list("amount", flat=True)
        )
        limit = self._staff.daily_payout_limit(staff)
        total = sum(amounts) + payout.amount
        if total > limit:
            left = max(limit - sum(amounts), 0)
            raise LimitExceeded(
                f"This payout would bring your payouts today to {format_kes(total)}, over your "
                f"daily limit of {format_kes(limit)} ({format_kes(left)} left today)."
            )

    async def _close(
        self,
        payout_id: int,
        by_telegram_id: int,
        *,
        action: str,
        source: PayoutStatus,
        wanted: PayoutStatus,
        initiator_only: bool,
    ) -> Payout:
        actor = actor_for_telegram(by_telegram_id)
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action=action)
        payout = await self._get(payout_id)
        subject = f"payout:{payout.id}"
        if initiator_only and payout.initiated_by_id != staff.id:
            raise await self._refused(
                actor, action, subject, NotAllowed("Only the admin who started this payout can.")
            )
        try:
            async with in_transaction():
                decided = {"rejected_by_id": staff.id} if wanted is PayoutStatus.REJECTED else {}
                won = await Payout.filter(id=payout.id, status=source).update(
                    status=wanted, **decided
                )
                if not won:
                    raise Conflict(await self._state_sentence(payout.id))
                payout = await Payout.get(id=payout.id)
                await audit(actor, action, subject=subject)
                await self._notifier.payout_changed(payout)
        except Conflict as exc:
            raise await self._refused(actor, action, subject, exc) from None
        return payout

    async def _get(self, payout_id: int) -> Payout:
        payout = await Payout.get_or_none(id=payout_id)
        if payout is None:
            raise NotFound(f"There is no payout #{payout_id}.")
        return payout

    async def _state_sentence(self, payout_id: int) -> str:
        """Why a payout cannot take this step now, in words."""
        payout = await Payout.get(id=payout_id)
        status = PayoutStatus(payout.status)
        if status is PayoutStatus.AWAITING_APPROVAL:
            return f"Payout #{payout.id} was already confirmed and is waiting for approval."
        if status in (PayoutStatus.SUBMITTING, PayoutStatus.SUBMITTED, PayoutStatus.UNKNOWN):
            return f"Payout #{payout.id} was already sent to M-Pesa."
        if status is PayoutStatus.AWAITING_CONFIRMATION:
            return f"Payout #{payout.id} has not been confirmed yet."
        receipt = f" (receipt {payout.receipt})" if payout.receipt else ""
        return f"Payout #{payout.id} is already {status.value.replace('_', ' ')}{receipt}."

    async def _refused(self, actor: str, action: str, subject: str, exc: Exception) -> Exception:
        """Audit a refusal and hand the error back for raising."""
        await audit(actor, action, subject=subject, outcome="refused", reason=str(exc))
        return exc

    async def _replay(self, kind: CallbackKind, key: str | None) -> None:
        if key and self.replay_unmatched is not None:
            await self.replay_unmatched(kind, key)
