"""B2C payouts: created by an admin, confirmed once, approved above a threshold, sent, settled.

Each payout is one money intent (intents.py): Confirm (or Approve) moves it to SUBMITTING and
takes its lease in the same conditional UPDATE, the daily limit is checked and reserved in that
transaction, then the B2C POST is made once. A payout is sent again only when its request is
recorded as never having left; any other doubt is settled by Transaction Status (PayoutResults).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from airtel.models import KycUser
from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services.airtel_money import AirtelMoney
from bot.services.airtel_payouts import AirtelPayouts
from bot.services.airtel_payouts import new_payout_id
from bot.services.audit import actor_for_telegram
from bot.services.audit import audit
from bot.services.daraja import Daraja
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import LimitExceeded
from bot.services.errors import NotAllowed
from bot.services.errors import NotFound
from bot.services.errors import ServiceError
from bot.services.intents import RATE_LIMITED
from bot.services.intents import Accepted
from bot.services.intents import Intents
from bot.services.intents import Lease
from bot.services.intents import NeverLeft
from bot.services.intents import NotSent
from bot.services.intents import PostOutcome
from bot.services.intents import ProviderError
from bot.services.intents import Refused
from bot.services.intents import Unknown
from bot.services.outcome import Clock
from bot.services.outcome import ReplayUnmatched
from bot.services.outcome import busy_reason
from bot.services.outcome import utcnow
from bot.services.payout_results import PayoutResults
from bot.services.payout_rules import payout_amount
from bot.services.payout_rules import payout_remarks
from bot.services.payout_rules import payout_route
from bot.services.payout_rules import payout_terms
from bot.services.providers import Routed
from bot.services.providers import provider_name
from bot.services.staff import StaffService
from models import CallbackKind
from models import Payout
from models import PayoutBatchRow
from models import PayoutStatus
from models import PostState
from models import Provider
from models import Staff
from models import StaffRole
from mpesa.amounts import format_kes
from mpesa.errors import RateLimited
from mpesa.models import AsyncAccepted
from mpesa.phone import mask_msisdn
from mpesa.security import NAIROBI

log = logging.getLogger(__name__)

RECEIPT_MAX = 32
# what counts against the daily limit: confirmed and not (yet) known to have failed
COUNTED = (
    PayoutStatus.AWAITING_APPROVAL,
    PayoutStatus.SUBMITTING,
    PayoutStatus.SUBMITTED,
    PayoutStatus.UNKNOWN,
    PayoutStatus.COMPLETED,
)
CRASHED = "the B2C request was on its way when its worker stopped; M-Pesa may have it"
AIRTEL_CRASHED = "the payout was on its way to Airtel when its worker stopped; Airtel may have it"
# a throttled POST (spike arrest, 429) of a paced payout: hand it back to its pacer
RateLimitedHook = Callable[[Payout, Lease, float], Awaitable[None]]


def nairobi_day(moment: datetime) -> tuple[datetime, datetime]:
    """Start and end (UTC) of the Nairobi day ``moment`` falls in."""
    local = moment.astimezone(NAIROBI)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


@dataclass(frozen=True)
class PayoutCheck:
    """A payout's fields as /send reads them: the values, and per field why not."""

    routed: Routed | None
    amount: int | None
    remarks: str | None
    errors: dict[str, InvalidInput]
    needs_approval: bool  # above PAYOUT_APPROVAL_THRESHOLD: a second admin approves it

    @property
    def ok(self) -> bool:
        """True when /send would record this payout (Airtel's KYC aside)."""
        return not self.errors


class PayoutService:
    """Sends money to customers (M-Pesa B2C, Airtel disbursement) exactly once, with
    confirmation, approval and limits."""

    def __init__(
        self,
        *,
        daraja: Daraja,
        notifier: Notifier,
        staff: StaffService,
        settings: Settings,
        clock: Clock = utcnow,
        intents: Intents | None = None,
        airtel: AirtelMoney | None = None,
    ) -> None:
        # the same wiring as the other services, kept explicit: each says what it is given
        self._daraja = daraja
        self._notifier = notifier
        self._staff = staff
        self._settings = settings
        self._clock = clock
        self._intents = intents or Intents(clock=clock, lease_s=settings.daraja_call_max_s)
        self.results = PayoutResults(
            daraja=daraja, notifier=notifier, settings=settings, clock=clock, intents=self._intents
        )
        # Airtel Money disbursements, when the provider is configured
        self.airtel: AirtelPayouts | None = None
        if airtel is not None:
            self.airtel = AirtelPayouts(
                airtel=airtel,
                notifier=notifier,
                settings=settings,
                results=self.results,
                intents=self._intents,
                clock=clock,
            )

    @property
    def settings(self) -> Settings:
        """The settings payouts are checked and sent with."""
        return self._settings

    @property
    def intents(self) -> Intents:
        """The lease-keeper of this process's money intents (shared with queued payouts)."""
        return self._intents

    @property
    def replay_unmatched(self) -> ReplayUnmatched | None:
        """Re-applies callbacks that arrived before their ids were stored (set by the container)."""
        return self.results.replay_unmatched

    @replay_unmatched.setter
    def replay_unmatched(self, replay: ReplayUnmatched | None) -> None:
        self.results.replay_unmatched = replay

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
        """Record a payout (whole shillings); it waits for the Confirm.

        An Airtel number is checked with Airtel's KYC first: one that cannot receive is refused
        before anything is recorded, and the holder's name goes on the card.
        """
        actor = actor_for_telegram(initiator_telegram_id)
        staff = await self._staff.require(
            initiator_telegram_id, StaffRole.ADMIN, action="payout.send"
        )
        try:
            terms = payout_terms(raw_phone, raw_amount, reason, settings=self._settings)
        except InvalidInput as exc:
            raise await self._refused(actor, "payout.send", "", exc) from None
        msisdn, amount, remarks = terms.msisdn, terms.amount, terms.remarks
        receiver_name = None
        if terms.provider is Provider.AIRTEL:
            receiver_name = (await self._airtel_recipient(actor, msisdn)).name
        async with in_transaction():
            payout = await Payout.create(
                provider=terms.provider,
                originator_conversation_id=self.new_key(terms.provider),
                msisdn=msisdn,
                amount=amount,
                remarks=remarks,
                receiver_name=receiver_name,
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
                provider=terms.provider.value,
            )
        log.info(
            "payout.created payout=%s msisdn=%s amount=%s", payout.id, mask_msisdn(msisdn), amount
        )
        return payout

    @staticmethod
    def new_key(provider: Provider) -> str:
        """Our idempotency key for a new payout: an OriginatorConversationID, or Airtel's id."""
        return new_payout_id() if provider is Provider.AIRTEL else str(uuid.uuid4())

    def check_send(self, raw_phone: str, raw_amount: str | int, reason: str | None) -> PayoutCheck:
        """What /send would say of each field, recording nothing and asking nobody.

        The dashboard's form asks this as the admin types; Airtel's KYC is asked only by
        ``send_money`` itself.
        """
        errors: dict[str, InvalidInput] = {}
        routed: Routed | None = None
        try:
            routed = payout_route(raw_phone, settings=self._settings)
            if routed.provider is Provider.AIRTEL and self.airtel is None:
                raise self._airtel_off(routed.msisdn)
        except InvalidInput as exc:
            errors["phone"] = exc
        provider = routed.provider if routed is not None else Provider.MPESA
        amount: int | None = None
        try:
            amount = payout_amount(raw_amount, settings=self._settings, provider=provider)
        except InvalidInput as exc:
            errors["amount"] = exc
        remarks: str | None = None
        try:
            remarks = payout_remarks(reason)
        except InvalidInput as exc:
            errors["reason"] = exc
        needs_approval = amount is not None and amount > self._settings.payout_approval_threshold
        return PayoutCheck(routed, amount, remarks, errors, needs_approval)

    async def limit_left(self, staff: Staff, *, now: datetime | None = None) -> int:
        """Shillings this admin may still confirm today (Nairobi day) under their daily limit."""
        reserved = await self.reserved_today(staff, now=now)
        return max(self._staff.daily_payout_limit(staff) - reserved, 0)

    @staticmethod
    def _airtel_off(msisdn: str) -> InvalidInput:
        return InvalidInput(
            f"{mask_msisdn(msisdn)} is an Airtel number, and Airtel Money is not set up here.",
            field="phone",
        )

    async def _airtel_recipient(self, actor: str, msisdn: str) -> KycUser:
        """The KYC of an Airtel payout's number, or the refusal (audited), before any record."""
        if self.airtel is None:
            raise await self._refused(actor, "payout.send", "", self._airtel_off(msisdn))
        try:
            return await self.airtel.recipient(msisdn)
        except ServiceError as exc:
            raise await self._refused(actor, "payout.send", "", exc) from None

    async def set_status_message(self, payout_id: int, chat_id: int, message_id: int) -> None:
        """Remember where the payout's live status message is, so any instance can edit it."""
        await Payout.filter(id=payout_id).update(chat_id=chat_id, message_id=message_id)

    async def confirm_payout(self, payout_id: int, *, by_telegram_id: int) -> Payout:
        """The initiator's Confirm: reserves the daily limit, then asks approval or sends (once)."""
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
        holder = self._intents.new_holder()
        sending = self._sending(now, holder) if wanted is PayoutStatus.SUBMITTING else {}
        try:
            async with in_transaction():
                # the staff row lock serialises the limit checks of one initiator (PostgreSQL;
                # SQLite has one writer): concurrent confirms send exactly those that fit
                await Staff.select_for_update().get(id=staff.id)
                await self.check_daily_limit(staff, payout.amount, now)
                won = await Payout.filter(
                    id=payout.id, status=PayoutStatus.AWAITING_CONFIRMATION
                ).update(status=wanted, confirmed_by_id=staff.id, confirmed_at=now, **sending)
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
            payout = await self._send(payout, self._intents.lease_for(payout, holder))
        return payout

    async def approve_payout(self, payout_id: int, *, by_telegram_id: int) -> Payout:
        """A second admin's approval of a payout above the threshold; sends it (once)."""
        actor = actor_for_telegram(by_telegram_id)
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="payout.approve")
        payout = await self._get(payout_id)
        subject = f"payout:{payout.id}"
        await self._refuse_batch_row(actor, "payout.approve", payout)
        if payout.initiated_by_id == staff.id:
            raise await self._refused(
                actor,
                "payout.approve",
                subject,
                NotAllowed("You started this payout; another admin must approve it."),
            )
        holder = self._intents.new_holder()
        try:
            async with in_transaction():
                # the limit was reserved at Confirm, on that Nairobi day
                won = await Payout.filter(
                    id=payout.id, status=PayoutStatus.AWAITING_APPROVAL
                ).update(
                    status=PayoutStatus.SUBMITTING,
                    approved_by_id=staff.id,
                    **self._sending(self._clock(), holder),
                )
                if not won:
                    raise Conflict(await self._state_sentence(payout.id))
                payout = await Payout.get(id=payout.id)
                await audit(actor, "payout.approve", subject=subject)
                await self._notifier.payout_changed(payout)
        except Conflict as exc:
            raise await self._refused(actor, "payout.approve", subject, exc) from None
        return await self._send(payout, self._intents.lease_for(payout, holder))

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
                # Airtel's receipts are opaque (e.g. MP210603.1234.L06941): as typed, too
                condition |= Q(receipt=text.upper()) | Q(receipt=text)
            payout = await Payout.filter(condition).first()
        if payout is None:
            raise NotFound(f"No payout matches {text or 'an empty reference'}.")
        return payout

    # -- sending --------------------------------------------------------------------------------

    def _sending(self, now: datetime, holder: str) -> dict:
        """The columns of a payout handed to us for sending: held, due now, never sent yet."""
        return {"submitted_at": now, "next_query_at": now, **self._intents.held_fields(holder)}

    def sending_fields(self, now: datetime, holder: str) -> dict:
        """The columns of a payout handed to ``holder`` for sending (bulk rows, schedules)."""
        return self._sending(now, holder)

    async def send_held(
        self, payout: Payout, lease: Lease, *, rate_limited: RateLimitedHook | None = None
    ) -> Payout:
        """Send a payout someone else queued and claimed (a bulk row, a scheduled payout).

        With ``rate_limited``, a throttled POST (refused at the gateway: nothing happened) is
        handed back to the caller, which paces it again, instead of failing the payout.
        """
        return await self._send(payout, lease, rate_limited=rate_limited)

    async def _send(
        self, payout: Payout, lease: Lease, *, rate_limited: RateLimitedHook | None = None
    ) -> Payout:
        """Make the B2C POST of a held payout (once) and record what came of it."""
        if payout.provider == Provider.AIRTEL:
            return await self._send_airtel(payout, lease, rate_limited=rate_limited)
        outcome = await self._intents.post(
            lease,
            lambda: self._daraja.b2c_payment(
                originator_conversation_id=payout.originator_conversation_id,
                msisdn=payout.msisdn,
                amount=payout.amount,
                remarks=payout.remarks,
                occasion=payout.occasion,
                command_id=payout.command_id,
            ),
        )
        return await self._record_post(
            payout,
            lease,
            outcome,
            answered=self._b2c_answered,
            refused=self._b2c_refused,
            rate_limited=rate_limited,
        )

    async def _send_airtel(
        self, payout: Payout, lease: Lease, *, rate_limited: RateLimitedHook | None = None
    ) -> Payout:
        """The Airtel disbursement of a held payout (once), and what came of it."""
        airtel = self.airtel
        if airtel is None:
            await self.results.settle_failed(
                payout,
                code=None,
                desc="Airtel Money is not set up here; nothing was sent.",
                actor="system",
                post=self._intents.not_sent(),
            )
            return await Payout.get(id=payout.id)
        outcome = await self._intents.post(lease, lambda: airtel.disburse(payout))
        return await self._record_post(
            payout,
            lease,
            outcome,
            answered=airtel.record_paid,
            refused=self._airtel_refused,
            rate_limited=rate_limited,
        )

    async def _record_post(
        self,
        payout: Payout,
        lease: Lease,
        outcome: PostOutcome[Any],
        *,
        answered: Callable[[Payout, Any], Awaitable[object]],
        refused: Callable[[Payout, ProviderError], Awaitable[None]],
        rate_limited: RateLimitedHook | None,
    ) -> Payout:
        """Record what came of a payout's POST: M-Pesa and Airtel differ only in reading an
        answer and a refusal; never left, throttled, unknown and not sent are the same."""
        if isinstance(outcome, Accepted):
            await answered(payout, outcome.answer)
        elif isinstance(outcome, NeverLeft):
            await self._defer(payout, lease, str(outcome.error))
        elif (
            isinstance(outcome, Refused)
            and rate_limited
            and isinstance(outcome.error, RATE_LIMITED)
        ):
            # spike arrest / 429: the gateway refused it before anything happened
            await rate_limited(payout, lease, _retry_after(outcome.error))
        elif isinstance(outcome, Refused):
            await refused(payout, outcome.error)
        elif isinstance(outcome, Unknown):
            # OutcomeUnknown, Airtel's TA or TIP, a 5xx, a time-out, a duplicate id: the money
            # may be moving; ask, never resend
            await self.results.to_unknown(payout.id, reason=outcome.reason, actor="system")
        else:
            assert isinstance(outcome, NotSent)
            log.warning(
                "payout.not_sent payout=%s provider=%s reason=%s",
                payout.id,
                payout.provider,
                outcome.reason,
            )
        return await Payout.get(id=payout.id)

    async def _b2c_answered(self, payout: Payout, answer: AsyncAccepted) -> None:
        if answer.response_code != "0":
            await self.results.settle_failed(
                payout,
                code=answer.response_code,
                desc=answer.response_description or "refused by M-Pesa",
                actor="system",
                post=self._intents.answered(),
            )
        else:
            await self._record_submitted(payout, answer)

    async def _b2c_refused(self, payout: Payout, exc: ProviderError) -> None:
        # refused before any money moved
        await self.results.settle_failed(
            payout,
            code=exc.code,
            desc=busy_reason(exc) if isinstance(exc, RateLimited) else str(exc),
            actor="system",
            post=self._intents.answered(),
        )

    async def _airtel_refused(self, payout: Payout, exc: ProviderError) -> None:
        # Airtel said it did not happen (or refused our request): nothing moved
        info = getattr(exc, "info", None)
        alert_needed = info.alert_admin if info is not None else True
        await self.results.settle_failed(
            payout,
            code=(info.code if info is not None else exc.code),
            desc=(info.description or info.meaning) if info is not None else str(exc),
            actor="system",
            post=self._intents.answered(),
            alert=(
                f"Airtel payout #{payout.id} failed: "
                + (f"{info.meaning} {info.next_step}" if info is not None else str(exc))
            )
            if alert_needed
            else None,
        )

    async def _record_submitted(self, payout: Payout, answer: AsyncAccepted) -> None:
        now = self._clock()
        after = timedelta(seconds=self._settings.b2c_query_after_s)
        async with in_transaction():
            won = await Payout.filter(
                id=payout.id, status__in=[PayoutStatus.SUBMITTING, PayoutStatus.UNKNOWN]
            ).update(
                status=PayoutStatus.SUBMITTED,
                conversation_id=answer.conversation_id,
                next_query_at=now + after,
                **self._intents.answered(),
            )
            if not won:
                # the result callback beat the sync answer: keep its conversation id anyway
                await Payout.filter(id=payout.id, conversation_id__isnull=True).update(
                    conversation_id=answer.conversation_id
                )
                await Payout.filter(id=payout.id).update(**self._intents.answered())
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
        await self.results.replay(CallbackKind.B2C_RESULT, answer.conversation_id)
        await self.results.replay(CallbackKind.B2C_RESULT, payout.originator_conversation_id)

    async def _defer(self, payout: Payout, lease: Lease, reason: str) -> None:
        """The request never left: send it again later, with the same OriginatorConversationID."""
        retry_at = self._clock() + timedelta(seconds=self._settings.reconcile_interval_s)
        await Payout.filter(
            id=payout.id, status=PayoutStatus.SUBMITTING, claimed_by=lease.holder
        ).update(next_query_at=retry_at, **self._intents.not_sent())
        fresh = await Payout.get(id=payout.id)
        await audit(
            "system",
            "payout.submit",
            subject=f"payout:{payout.id}",
            outcome="deferred",
            error=reason,
            tries=fresh.post_count,
        )
        if fresh.post_count == self._settings.b2c_query_max_attempts:
            await self._notifier.admin_alert(
                f"payout:{payout.id}:unreachable",
                f"Payout #{payout.id} ({format_kes(payout.amount)}) could not reach "
                f"{provider_name(payout.provider)} in "
                f"{fresh.post_count} tries; nothing was sent and it is tried again every "
                f"{self._settings.reconcile_interval_s:.0f} s. To stop it: /resolve P{payout.id} "
                "failed.",
            )
        log.warning("payout.submit.deferred payout=%s reason=%s", payout.id, reason)

    # -- reconciling ----------------------------------------------------------------------------

    async def reconcile_pending(self, *, limit: int = 50) -> list[Payout]:
        """One pass: crashed sends become unknown, never-sent ones are sent, the rest queried."""
        now = self._clock()
        due = Q(next_query_at__isnull=True) | Q(next_query_at__lte=now)
        touched: list[Payout] = []
        for _lease, payout in await self._intents.take(
            Payout,
            statuses=[PayoutStatus.SUBMITTING],
            where=Q(post_state=PostState.SENDING),
            limit=limit,
        ):
            crashed = AIRTEL_CRASHED if payout.provider == Provider.AIRTEL else CRASHED
            await self.results.to_unknown(payout.id, reason=crashed, actor="system")
            touched.append(payout)
        for lease, payout in await self._intents.take(
            Payout,
            statuses=[PayoutStatus.SUBMITTING],
            where=Q(post_state=PostState.NOT_SENT) & due,
            limit=limit,
        ):
            # proven never sent: the same OriginatorConversationID goes out for the first time
            await self._send(payout, lease)
            touched.append(payout)
        for lease, payout in await self._intents.take(
            Payout,
            statuses=[PayoutStatus.SUBMITTED, PayoutStatus.UNKNOWN],
            where=due,
            limit=limit,
            order_by=("next_query_at", "id"),
        ):
            if payout.provider == Provider.AIRTEL and self.airtel is not None:
                # Airtel answers the enquiry at once, by our transaction id
                await self.airtel.enquire(payout, actor="system", lease=lease)
            elif payout.provider == Provider.AIRTEL:
                await self._intents.release(lease)  # Airtel is off here: nobody can ask
            else:
                await self.results.query_status(payout, actor="system", lease=lease)
            touched.append(payout)
        return [await Payout.get(id=p.id) for p in touched]

    async def due(self) -> int:
        """How many payouts a pass would work on now (held ones included)."""
        now = self._clock()
        due = Q(next_query_at__isnull=True) | Q(next_query_at__lte=now)
        sendable = Q(post_state=PostState.NOT_SENT) & due
        crashed = Q(post_state=PostState.SENDING) & Intents.free(now)
        submitting = Q(status=PayoutStatus.SUBMITTING) & (sendable | crashed)
        asked = Q(status__in=[PayoutStatus.SUBMITTED, PayoutStatus.UNKNOWN]) & due
        return await Payout.filter(submitting | asked).count()

    # -- helpers --------------------------------------------------------------------------------

    async def reserved_today(self, staff: Staff, *, now: datetime | None = None) -> int:
        """Shillings of this initiator's payouts confirmed on today's Nairobi day (and counted)."""
        start, end = nairobi_day(now or self._clock())
        amounts = await Payout.filter(
            initiated_by_id=staff.id,
            confirmed_at__gte=start,
            confirmed_at__lt=end,
            status__in=COUNTED,
        ).values_list("amount", flat=True)
        return sum(amounts)

    async def check_daily_limit(
        self, staff: Staff, amount: int, now: datetime, *, what: str = "This payout"
    ) -> None:
        """Refuse when ``amount`` shillings more would bring the initiator's Nairobi day over
        their limit (call it in the transaction that reserves, with the staff row locked)."""
        reserved = await self.reserved_today(staff, now=now)
        limit = self._staff.daily_payout_limit(staff)
        total = reserved + amount
        if total > limit:
            left = max(limit - reserved, 0)
            raise LimitExceeded(
                f"{what} would bring your payouts today to {format_kes(total)}, over your "
                f"daily limit of {format_kes(limit)} ({format_kes(left)} left today)."
            )

    async def _refuse_batch_row(self, actor: str, action: str, payout: Payout) -> None:
        """A payout that is a row of a bulk batch is decided with its batch, never alone."""
        row = await PayoutBatchRow.get_or_none(payout_id=payout.id)
        if row is not None:
            refusal = NotAllowed(
                f"Payout #{payout.id} is line {row.line} of batch B{row.batch_id}: approve, "
                "reject or cancel the batch instead."
            )
            raise await self._refused(actor, action, f"payout:{payout.id}", refusal)

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
        await self._refuse_batch_row(actor, action, payout)
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

    # the get-or-NotFound idiom stays inline (as BulkService.get): each names what is missing
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
            return f"Payout #{payout.id} was already sent to {provider_name(payout.provider)}."
        if status is PayoutStatus.AWAITING_CONFIRMATION:
            return f"Payout #{payout.id} has not been confirmed yet."
        receipt = f" (receipt {payout.receipt})" if payout.receipt else ""
        return f"Payout #{payout.id} is already {status.value.replace('_', ' ')}{receipt}."

    async def _refused(self, actor: str, action: str, subject: str, exc: Exception) -> Exception:
        """Audit a refusal and hand the error back for raising."""
        await audit(actor, action, subject=subject, outcome="refused", reason=str(exc))
        return exc


def _retry_after(error: Exception) -> float:
    """Seconds a throttling provider asked us to wait (1 s when it did not say)."""
    value = getattr(error, "retry_after_s", None)
    return float(value) if isinstance(value, int | float) and value > 0 else 1.0
