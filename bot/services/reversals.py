"""Reversals of payments we received: one money intent each, asked once by an admin.

A reversal is held and marked sending before its POST (intents.py). Refused or never sent, it is
FAILED and an admin may send it again; a time-out makes it UNKNOWN, asked about by Transaction
Status (on the original receipt) and, failing that, resolved by a person. A completed reversal
is recorded on the payment it sent back (``reversed``), so every figure shows net amounts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services import daraja_queries
from bot.services.audit import actor_for_telegram
from bot.services.audit import audit
from bot.services.daraja import Daraja
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotFound
from bot.services.intents import Accepted
from bot.services.intents import Intents
from bot.services.intents import Lease
from bot.services.intents import NeverLeft
from bot.services.intents import NotSent
from bot.services.intents import Refused
from bot.services.intents import Unknown
from bot.services.outcome import ApplyOutcome
from bot.services.outcome import Clock
from bot.services.outcome import ReplayUnmatched
from bot.services.outcome import by_conversation
from bot.services.outcome import replay_early
from bot.services.outcome import utcnow
from bot.services.payout_results import query_delay_s
from bot.services.staff import StaffService
from models import C2BTransaction
from models import CallbackKind
from models import DarajaQuery
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import PostState
from models import Provider
from models import Reversal
from models import ReversalStatus
from models import Staff
from models import StaffRole
from models.enums import REVERSAL_TRANSITIONS
from models.enums import sources_for
from mpesa.amounts import format_kes
from mpesa.callbacks import QueueTimeout
from mpesa.callbacks import ReversalResult
from mpesa.callbacks import TransactionStatusResult
from mpesa.codes import Api
from mpesa.codes import describe_result
from mpesa.errors import DarajaError
from mpesa.models import AsyncAccepted

log = logging.getLogger(__name__)

ALREADY_REVERSED = "R000001"  # Daraja's result code: this receipt was reversed before
NEVER_SENT = "The reversal never reached M-Pesa; nothing was reversed. Send it again."
CRASHED = "the reversal was on its way when its worker stopped; M-Pesa may have it"


@dataclass(frozen=True)
class Reversible:
    """Money a reversal may send back: the receipt, the shillings, and where they came in."""

    receipt: str
    amount: int
    payment: Payment | None = None  # received by STK Push
    c2b: C2BTransaction | None = None  # paid to the paybill (or its C2B echo)


def subject(reversal: Reversal) -> str:
    """The audit subject of a reversal."""
    return f"reversal:{reversal.id}"


class ReversalService:
    """Reverses payments we received (admins), follows each reversal until it settles."""

    def __init__(
        self,
        *,
        daraja: Daraja,
        notifier: Notifier,
        staff: StaffService,
        settings: Settings,
        clock: Clock = utcnow,
        intents: Intents | None = None,
    ) -> None:
        # the same wiring as the other services, kept explicit: each says what it is given
        self._daraja = daraja
        self._notifier = notifier
        self._staff = staff
        self._settings = settings
        self._clock = clock
        self._intents = intents or Intents(clock=clock, lease_s=settings.daraja_call_max_s)
        # set by the container: re-applies callbacks that arrived before their ids were stored
        self.replay_unmatched: ReplayUnmatched | None = None

    # -- asking -----------------------------------------------------------------------------------

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
        try:
            if not 2 <= len(remarks) <= 100:
                raise InvalidInput("Give the M-Pesa receipt to reverse.", field="receipt")
            amount = (await self._reversible(receipt)).amount
        except (Conflict, InvalidInput, NotFound) as exc:
            raise await self._refused(actor, receipt, exc) from None
        existing = await Reversal.get_or_none(receipt=receipt)
        if existing is not None:
            return await self._retry(existing, staff, actor, remarks, chat_id)
        holder = self._intents.new_holder()
        try:
            async with in_transaction():
                reversal = await Reversal.create(
                    receipt=receipt,
                    amount=amount,
                    remarks=remarks,
                    requested_by=staff,
                    chat_id=chat_id,
                    **self._intents.held_fields(holder),
                )
                await audit(
                    actor,
                    "reversal.request",
                    subject=subject(reversal),
                    receipt=receipt,
                    amount=amount,
                )
        except IntegrityError:
            # a concurrent request for the same receipt won the unique column
            existing = await Reversal.get(receipt=receipt)
            raise await self._refused(actor, receipt, _already(existing)) from None
        return await self._send(reversal, self._intents.lease_for(reversal, holder))

    async def check(self, receipt: str, *, by_telegram_id: int) -> Reversible:
        """What reversing ``receipt`` would send back, before anyone confirms (admins).

        Refuses at once, saying why, what ``reverse`` would refuse: a receipt we never received
        (neither by STK Push nor on the paybill), one already reversed or under review, an
        Airtel Money receipt or an order code.
        """
        await self._staff.require(by_telegram_id, StaffRole.ADMIN, action="reverse")
        receipt = (receipt or "").strip().upper()
        try:
            return await self._reversible(receipt)
        except (Conflict, InvalidInput, NotFound) as exc:
            raise await self._refused(actor_for_telegram(by_telegram_id), receipt, exc) from None

    async def _reversible(self, receipt: str) -> Reversible:
        """The money under this receipt that a reversal may send back, or why none may."""
        airtel = await Payment.get_or_none(receipt=receipt, provider=Provider.AIRTEL)
        if airtel is not None:
            # a reversal is M-Pesa's; an Airtel payment goes back by Airtel's refund
            raise Conflict(
                f"Payment #{airtel.id} ({receipt}) was received by Airtel Money, which M-Pesa "
                "cannot reverse. Refund it in the Airtel Money portal."
            )
        if not receipt.isalnum():
            raise InvalidInput("Give the M-Pesa receipt to reverse.", field="receipt")
        payment = await Payment.get_or_none(receipt=receipt)
        if payment is not None and PaymentStatus(payment.status) is PaymentStatus.REVIEW:
            raise Conflict(
                f"Payment #{payment.id} with receipt {receipt} is under review; resolve it "
                f"first (/resolve #{payment.id}), then reverse it if the money must go back."
            )
        existing = await Reversal.get_or_none(receipt=receipt)
        if existing is not None and not _may_send_again(existing):
            raise _already(existing)
        if payment is not None and _received(payment):
            return Reversible(receipt, payment.paid_amount or payment.amount, payment=payment)
        # a paybill payment, or the C2B echo of an STK payment
        c2b = await C2BTransaction.get_or_none(trans_id=receipt, reversed_at__isnull=True)
        if c2b is not None:
            return Reversible(receipt, c2b.amount, c2b=c2b)
        if payment is not None:
            shown = str(payment.status).replace("_", " ")
            raise Conflict(
                f"Payment #{payment.id} is {shown}; only a received payment is reversed."
            )
        if await Order.exists(code=receipt):
            raise InvalidInput(
                f"{receipt} is an order code; give the M-Pesa receipt of its payment "
                f"(see /status {receipt}).",
                field="receipt",
            )
        raise NotFound(f"No payment we received has the receipt {receipt}.")

    async def _retry(
        self, existing: Reversal, staff: Staff, actor: str, remarks: str, chat_id: int | None
    ) -> Reversal:
        """Send a failed reversal again; anything else about this receipt is refused."""
        if not _may_send_again(existing):
            raise await self._refused(actor, existing.receipt, _already(existing))
        holder = self._intents.new_holder()
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
            post_state=PostState.NOT_SENT,
            query_count=0,
            next_query_at=None,
            **self._intents.held_fields(holder),
        )
        if not won:
            fresh = await Reversal.get(id=existing.id)
            raise await self._refused(actor, existing.receipt, _already(fresh))
        await audit(actor, "reversal.retry", subject=subject(existing))
        reversal = await Reversal.get(id=existing.id)
        return await self._send(reversal, self._intents.lease_for(reversal, holder))

    async def _send(self, reversal: Reversal, lease: Lease) -> Reversal:
        """Make the reversal POST of a held reversal (once) and record what came of it."""
        outcome = await self._intents.post(
            lease,
            lambda: self._daraja.reversal(
                transaction_id=reversal.receipt, amount=reversal.amount, remarks=reversal.remarks
            ),
        )
        async with in_transaction():
            if isinstance(outcome, Accepted):
                answer: AsyncAccepted = outcome.answer
                if answer.response_code != "0":
                    await self.move(
                        reversal,
                        ReversalStatus.FAILED,
                        code=answer.response_code,
                        desc=answer.response_description or "refused by M-Pesa",
                        extra=self._intents.answered(),
                    )
                else:
                    await self._record_submitted(reversal, answer)
            elif isinstance(outcome, NeverLeft):
                await self.move(
                    reversal,
                    ReversalStatus.FAILED,
                    code=outcome.error.code,
                    desc=NEVER_SENT,
                    extra=self._intents.not_sent(),
                )
            elif isinstance(outcome, Refused):
                await self.move(
                    reversal,
                    ReversalStatus.FAILED,
                    code=outcome.error.code,
                    desc=str(outcome.error),
                    extra=self._intents.answered(),
                )
            elif isinstance(outcome, Unknown):
                # the money POST may have landed: ask M-Pesa, never resend
                await self._to_unknown(reversal, outcome.reason)
            else:
                assert isinstance(outcome, NotSent)
                log.warning("reversal.not_sent reversal=%s reason=%s", reversal.id, outcome.reason)
        fresh = await Reversal.get(id=reversal.id)
        await replay_early(
            self.replay_unmatched, CallbackKind.REVERSAL_RESULT, fresh.conversation_id
        )
        return fresh

    async def _record_submitted(self, reversal: Reversal, answer: AsyncAccepted) -> None:
        after = timedelta(seconds=self._settings.b2c_query_after_s)
        won = await Reversal.filter(
            id=reversal.id, status__in=[ReversalStatus.SUBMITTING, ReversalStatus.UNKNOWN]
        ).update(
            status=ReversalStatus.SUBMITTED,
            conversation_id=answer.conversation_id,
            originator_conversation_id=answer.originator_conversation_id,
            next_query_at=self._clock() + after,
            **self._intents.answered(),
        )
        if won:
            await self._told(await Reversal.get(id=reversal.id), code=None, desc="")
        else:
            # its result beat the answer (matched by receipt): keep the ids all the same
            await Reversal.filter(id=reversal.id, conversation_id__isnull=True).update(
                conversation_id=answer.conversation_id,
                originator_conversation_id=answer.originator_conversation_id,
                **self._intents.answered(),
            )

    async def _to_unknown(self, reversal: Reversal, reason: str) -> bool:
        return await self.move(
            reversal,
            ReversalStatus.UNKNOWN,
            code=None,
            desc=reason,
            extra={"next_query_at": self._clock(), **self._intents.unknown()},
        )

    async def set_reversal_message(self, reversal_id: int, chat_id: int, message_id: int) -> None:
        """Remember where the reversal's status message is, so its result edits it in place."""
        await Reversal.filter(id=reversal_id).update(chat_id=chat_id, message_id=message_id)

    # -- what M-Pesa reports ----------------------------------------------------------------------

    async def apply_reversal_result(self, r: ReversalResult) -> ApplyOutcome:
        """Settle a reversal from its result (R000001: already reversed, recorded as failed)."""
        async with in_transaction():
            reversal = await by_conversation(
                Reversal, r.originator_conversation_id, r.conversation_id
            )
            if reversal is None and r.succeeded and r.original_transaction_id:
                # its request's answer was lost, so we lack its ids: the receipt it reversed
                # names it (one reversal per receipt)
                reversal = await Reversal.get_or_none(
                    receipt=r.original_transaction_id.upper(),
                    status__in=[ReversalStatus.SUBMITTING, ReversalStatus.UNKNOWN],
                )
            if reversal is None:
                return ApplyOutcome.UNMATCHED
            wanted = ReversalStatus.COMPLETED if r.succeeded else ReversalStatus.FAILED
            if ReversalStatus(reversal.status) in (ReversalStatus.COMPLETED, ReversalStatus.FAILED):
                if ReversalStatus(reversal.status) is not wanted:
                    await self._drift(reversal, f"M-Pesa now reports code {r.result_code}")
                return ApplyOutcome.DUPLICATE
            extra: dict[str, Any] = {"next_query_at": None}
            if r.succeeded and r.transaction_id:
                extra["reversal_receipt"] = r.transaction_id
            if not reversal.conversation_id and r.conversation_id:
                extra["conversation_id"] = r.conversation_id
            moved = await self.move(
                reversal, wanted, code=r.result_code, desc=r.result_desc, extra=extra
            )
            return ApplyOutcome.APPLIED if moved else ApplyOutcome.DUPLICATE

    async def apply_timeout(self, t: QueueTimeout) -> ApplyOutcome:
        """A reversal's queue time-out: its outcome is unknown; Transaction Status asks."""
        async with in_transaction():
            reversal = await by_conversation(
                Reversal, t.originator_conversation_id, t.conversation_id
            )
            if reversal is None:
                return ApplyOutcome.UNMATCHED
            moved = await self._to_unknown(reversal, "queue time-out")
            return ApplyOutcome.APPLIED if moved else ApplyOutcome.DUPLICATE

    # Same shape as PayoutResults.query_status on purpose: the asking is shared
    # (daraja_queries.status_asked); the audit, the alert and Daraja's arguments are the reversal's
    async def query_status(
        self,
        reversal: Reversal,
        *,
        actor: str,
        lease: Lease | None = None,
        asked_by: Staff | None = None,
        chat_id: int | None = None,
    ) -> DarajaQuery:
        """Ask Transaction Status about the reversed receipt; the answer comes by callback."""
        asked = reversal.query_count + 1
        async with in_transaction():
            query = await daraja_queries.status_asked(
                reversal,
                next_query_at=self._clock()
                + timedelta(seconds=query_delay_s(self._settings, asked)),
                intents=self._intents,
                lease=lease,
                asked_by=asked_by,
                chat_id=chat_id,
            )
            await audit(actor, "reversal.status_query", subject=subject(reversal), queries=asked)
            if asked == self._settings.b2c_query_max_attempts:
                await self._notifier.admin_alert(
                    f"reversal:{reversal.id}:unsettled",
                    f"Reversal R{reversal.id} of {reversal.receipt} "
                    f"({format_kes(reversal.amount)}) is still not settled after {asked} status "
                    "queries. Check the receipt on the M-Pesa portal, then "
                    f"/resolve R{reversal.id} reversed or failed.",
                )
        try:
            answer = await self._daraja.transaction_status(
                transaction_id=reversal.receipt, remarks="Reversal status"
            )
        except DarajaError as exc:
            log.warning("reversal.status_query.failed reversal=%s reason=%s", reversal.id, exc)
            return await daraja_queries.failed(query.id, exc)
        return await daraja_queries.accepted(
            query.id, answer, CallbackKind.STATUS_RESULT, self.replay_unmatched
        )

    async def apply_status(self, reversal: Reversal, r: TransactionStatusResult) -> ApplyOutcome:
        """A Transaction Status answer about the reversed receipt (in the caller's transaction).

        Only an answer saying the receipt was reversed settles the reversal; "Completed" may
        describe the original payment, so anything else is left for the next query or a person.
        """
        state = (r.transaction_status or "").casefold()
        if not r.succeeded or "revers" not in state:
            return ApplyOutcome.DUPLICATE
        if ReversalStatus(reversal.status) is ReversalStatus.COMPLETED:
            return ApplyOutcome.DUPLICATE
        moved = await self.move(
            reversal,
            ReversalStatus.COMPLETED,
            code=r.result_code,
            desc=f"Transaction status: {r.transaction_status}",
            extra={"next_query_at": None},
        )
        return ApplyOutcome.APPLIED if moved else ApplyOutcome.DUPLICATE

    # -- reconciling ------------------------------------------------------------------------------

    async def reconcile_pending(self, *, limit: int = 50) -> list[Reversal]:
        """One pass: crashed sends become unknown, never-sent ones fail, the rest are asked."""
        now = self._clock()
        touched: list[Reversal] = []
        for _lease, reversal in await self._intents.take(
            Reversal, statuses=[ReversalStatus.SUBMITTING], limit=limit
        ):
            # a SUBMITTING reversal is created held; a free one was left by a stopped worker
            async with in_transaction():
                if reversal.post_state == PostState.SENDING:
                    await self._to_unknown(reversal, CRASHED)
                else:
                    await self.move(
                        reversal,
                        ReversalStatus.FAILED,
                        code=None,
                        desc=NEVER_SENT,
                        extra=self._intents.not_sent(),
                    )
            touched.append(reversal)
        due = Q(next_query_at__isnull=True) | Q(next_query_at__lte=now)
        for lease, reversal in await self._intents.take(
            Reversal,
            statuses=[ReversalStatus.SUBMITTED, ReversalStatus.UNKNOWN],
            where=due,
            limit=limit,
            order_by=("next_query_at", "id"),
        ):
            await self.query_status(reversal, actor="system", lease=lease)
            touched.append(reversal)
        return [await Reversal.get(id=r.id) for r in touched]

    async def due(self) -> int:
        """How many reversals a pass would work on now (held ones included)."""
        now = self._clock()
        due = Q(next_query_at__isnull=True) | Q(next_query_at__lte=now)
        asked = Q(status__in=[ReversalStatus.SUBMITTED, ReversalStatus.UNKNOWN]) & due
        crashed = Q(status=ReversalStatus.SUBMITTING) & Intents.free(now)
        return await Reversal.filter(asked | crashed).count()

    # -- helpers ----------------------------------------------------------------------------------

    async def move(
        self,
        reversal: Reversal,
        wanted: ReversalStatus,
        *,
        code: str | None,
        desc: str,
        extra: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> bool:
        """Conditionally move a reversal (caller's transaction), audit and notify once."""
        fields: dict[str, Any] = {"status": wanted, **(extra or {})}
        if code is not None or desc:
            fields.update(result_code=code, result_desc=desc[:255])
        won = await Reversal.filter(
            id=reversal.id, status__in=sources_for(REVERSAL_TRANSITIONS, wanted)
        ).update(**fields)
        if not won:
            return False
        reversal = await Reversal.get(id=reversal.id)
        if wanted is ReversalStatus.COMPLETED:
            await self._record_on_payment(reversal)
        await audit(
            actor or ("daraja" if code else "system"),
            f"reversal.{wanted.value}",
            subject=subject(reversal),
            code=code,
        )
        await self._told(reversal, code=code, desc=desc)
        return True

    async def _told(self, reversal: Reversal, *, code: str | None, desc: str) -> None:
        await self._notifier.reversal_changed(reversal)
        info = describe_result(code, desc, api=Api.REVERSAL) if code else None
        if info is not None and info.alert_admin:
            await self._notifier.admin_alert(
                f"reversal:{reversal.id}:{reversal.status}",
                f"Reversal of {reversal.receipt}: {info.meaning} {info.next_step}",
            )

    async def _record_on_payment(self, reversal: Reversal) -> None:
        """The money went back: the payment (or C2B receipt) and its order say so."""
        now = self._clock()
        await Payment.filter(receipt=reversal.receipt, status=PaymentStatus.PAID).update(
            status=PaymentStatus.REVERSED, reversed_at=now
        )
        await C2BTransaction.filter(trans_id=reversal.receipt, reversed_at__isnull=True).update(
            reversed_at=now
        )
        payment = await Payment.get_or_none(receipt=reversal.receipt)
        paid_order = Q(paid_receipt=reversal.receipt)
        if payment is not None and payment.order_id is not None:
            paid_order |= Q(id=payment.order_id)
        await Order.filter(paid_order, status=OrderStatus.PAID).update(status=OrderStatus.REVERSED)
        if payment is not None:
            await self._notifier.payment_changed(payment)

    async def _drift(self, reversal: Reversal, what: str) -> None:
        await self._notifier.admin_alert(
            f"reversal:{reversal.id}:drift",
            f"Reversal of {reversal.receipt} is {reversal.status} here, but {what}. "
            "The record was kept; check it.",
        )
        await audit(
            "daraja", "reversal.drift", subject=subject(reversal), outcome="drift", report=what
        )

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
        f"Receipt {existing.receipt} already has a reversal (R{existing.id}, {existing.status})."
    )


def _may_send_again(existing: Reversal) -> bool:
    """FAILED means refused, never sent, or judged not reversed by a person: it may be sent
    again; "already reversed" (and anything still moving or done) is final."""
    return existing.status == ReversalStatus.FAILED and existing.result_code != ALREADY_REVERSED


def _received(payment: Payment) -> bool:
    """True when an STK payment brought money in."""
    status = PaymentStatus(payment.status)
    # a review an admin refused ("failed") still brought the money in
    return status is PaymentStatus.PAID or (
        status is PaymentStatus.FAILED and payment.resolved_by is not None
    )
