"""A person's way out of every parked state: look at M-Pesa afresh, then decide.

Parked: a payment in ``review``, ``unknown`` or still ``pending``; a payout ``submitted``,
``unknown`` or (never sent) ``submitting``; a reversal ``submitted`` or ``unknown``. An admin
first takes a fresh look (an STK query, or a Transaction Status query whose answer comes by
callback; for a push without a CheckoutRequestID, the unmatched callbacks that fit it), and may
decide only while that look is fresh. A look that settles the record (M-Pesa answered) needs no
decision. Every look and decision is audited; settlement, the order and notifications follow the
same paths as M-Pesa's own answers.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from tortoise.transactions import in_transaction

from bot.services.airtel_payments import report_of_enquiry
from bot.services.audit import actor_for_telegram
from bot.services.audit import audit
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotFound
from bot.services.errors import UpstreamError
from bot.services.outcome import ApplyOutcome
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from bot.services.payment_callbacks import Settlement
from bot.services.payment_callbacks import paid
from bot.services.payment_callbacks import subject
from bot.services.payments import PaymentService
from bot.services.payouts import PayoutService
from bot.services.reversals import ReversalService
from bot.services.staff import StaffService
from bot.services.stk_links import Candidate
from models import CallbackInbox
from models import DarajaQuery
from models import InboxStatus
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import PostState
from models import Provider
from models import QueryStatus
from models import Reversal
from models import ReversalStatus
from models import Staff
from models import StaffRole
from mpesa.codes import describe_result

log = logging.getLogger(__name__)

# a decision must follow a look at most this long ago
FRESH_S = 600.0
REF = re.compile(r"\s*(?:(?P<kind>[PpRr])\s*#?|#?)\s*(?P<id>[0-9]{1,9})\s*")


class Kind(StrEnum):
    """What a reference names."""

    PAYMENT = "payment"
    PAYOUT = "payout"
    REVERSAL = "reversal"


# the words a person may decide with, per kind: the first one moves money's record to "done"
VERDICTS: dict[Kind, tuple[str, str]] = {
    Kind.PAYMENT: ("paid", "failed"),
    Kind.PAYOUT: ("sent", "failed"),
    Kind.REVERSAL: ("reversed", "failed"),
}
PARKED = {
    Kind.PAYMENT: (PaymentStatus.PENDING, PaymentStatus.UNKNOWN, PaymentStatus.REVIEW),
    Kind.PAYOUT: (PayoutStatus.SUBMITTING, PayoutStatus.SUBMITTED, PayoutStatus.UNKNOWN),
    Kind.REVERSAL: (ReversalStatus.SUBMITTED, ReversalStatus.UNKNOWN),
}
PREFIX = {Kind.PAYMENT: "#", Kind.PAYOUT: "P", Kind.REVERSAL: "R"}

Record = Payment | Payout | Reversal


@dataclass(frozen=True)
class Reference:
    """A parked record as people name it: #12 (payment), P12 (payout), R12 (reversal)."""

    kind: Kind
    id: int

    def __str__(self) -> str:
        return f"{PREFIX[self.kind]}{self.id}"

    @property
    def verdicts(self) -> tuple[str, str]:
        """The two decisions for this kind."""
        return VERDICTS[self.kind]


def parse_reference(text: str) -> Reference:
    """``#12``/``12`` a payment, ``P12`` a payout, ``R12`` a reversal; else InvalidInput."""
    match = REF.fullmatch(text or "")
    if match is None:
        raise InvalidInput(
            f"{(text or '').strip()[:30] or 'Nothing'} is not a reference to resolve: give a "
            "payment (#12), a payout (P12) or a reversal (R12).",
            field="ref",
        )
    kind = {"p": Kind.PAYOUT, "r": Kind.REVERSAL}.get((match["kind"] or "").lower(), Kind.PAYMENT)
    return Reference(kind, int(match["id"]))


@dataclass(frozen=True)
class Look:
    """What a fresh look at a parked record found, as shown to the admin before they decide."""

    ref: Reference
    record: Record
    answer: str  # what M-Pesa said (or why it could not be asked), in words
    parked: bool  # still needs a person after the look
    waiting: bool = False  # the answer comes by callback; the decision buttons come with it
    candidates: list[Candidate] = field(default_factory=list)
    query_id: int | None = None  # the Transaction Status question asked, if any
    asked: bool = True  # False when M-Pesa could not be asked: no decision may follow

    @property
    def decidable(self) -> bool:
        """True when the admin may decide now: parked, and M-Pesa's answer is in front of them."""
        return self.parked and self.asked and not self.waiting

    @property
    def verdicts(self) -> tuple[str, str]:
        """The two decisions offered."""
        return self.ref.verdicts


class ResolutionService:
    """Looks at parked payments, payouts and reversals for admins, and records their decision."""

    def __init__(
        self,
        *,
        payments: PaymentService,
        payouts: PayoutService,
        reversals: ReversalService,
        staff: StaffService,
        clock: Clock = utcnow,
        fresh_s: float = FRESH_S,
    ) -> None:
        self._payments = payments
        self._payouts = payouts
        self._reversals = reversals
        self._staff = staff
        self._clock = clock
        self._fresh = timedelta(seconds=fresh_s)

    # -- who ------------------------------------------------------------------------------------

    async def _who(self, by_telegram_id: int | None, action: str) -> tuple[Staff | None, str]:
        """The admin behind a chat action (refused otherwise), or the trusted command line."""
        if by_telegram_id is None:
            return None, "cli"
        staff = await self._staff.require(by_telegram_id, StaffRole.ADMIN, action=action)
        return staff, actor_for_telegram(by_telegram_id)

    # -- looking ----------------------------------------------------------------------------------

    async def look(
        self, raw_ref: str, *, by_telegram_id: int | None = None, chat_id: int | None = None
    ) -> Look:
        """Ask M-Pesa afresh about a parked record; settle it if M-Pesa answers for itself.

        ``by_telegram_id`` is the admin asking in the chat (the answer of a status question is
        pushed to ``chat_id``); None is the operator at the command line.
        """
        asked_by, actor = await self._who(by_telegram_id, "resolve")
        ref = parse_reference(raw_ref)
        record = await self._get(ref)
        if not self._parked(ref, record):
            raise Conflict(self._not_parked(ref, record))
        if ref.kind is Kind.PAYMENT:
            look = await self._look_payment(ref, record, actor)
        elif ref.kind is Kind.PAYOUT:
            look = await self._look_payout(ref, record, actor, asked_by, chat_id)
        else:
            look = await self._look_reversal(ref, record, actor, asked_by, chat_id)
        await audit(
            actor,
            f"{ref.kind.value}.resolve_look",
            subject=f"{ref.kind.value}:{ref.id}",
            outcome="parked" if look.parked else "settled",
            answer=look.answer[:200],
        )
        return look

    async def _look_payment(self, ref: Reference, payment: Payment, actor: str) -> Look:
        now = self._clock()
        asked = True
        if payment.provider == Provider.AIRTEL:
            return await self._look_airtel_payment(ref, payment, actor)
        if payment.checkout_request_id is not None:
            try:
                answer = await self._payments.query(payment)
            except UpstreamError as exc:
                said = f"M-Pesa could not be asked just now: {exc}"
                asked = False
            else:
                await self._payments.settler.apply_query_answer(payment, answer, actor=actor)
                if answer.pending or not answer.result_code:
                    said = "M-Pesa says the request is still being processed."
                else:
                    info = describe_result(answer.result_code, answer.result_desc)
                    said = f"M-Pesa's STK query says: {info.meaning} (code {info.code})."
            candidates: list[Candidate] = []
        else:
            # no request id to ask about: look for its callback among those nobody claimed
            await self._payments.links.on_unknown(payment)
            candidates = await self._payments.links.candidates_for(payment)
            said = "M-Pesa never gave this request an id, so it cannot be asked. " + (
                f"{len(candidates)} payment(s) that fit it arrived unmatched."
                if candidates
                else "No payment that fits it has arrived."
            )
        fresh = await Payment.get(id=payment.id)
        parked = self._parked(ref, fresh)
        if parked and asked:
            await Payment.filter(id=payment.id).update(looked_at=now)
            fresh = await Payment.get(id=payment.id)
        return Look(ref, fresh, said, parked, candidates=candidates, asked=asked)

    async def _look_airtel_payment(self, ref: Reference, payment: Payment, actor: str) -> Look:
        """Airtel's enquiry by our own transaction id (an unknown push has one too)."""
        airtel = self._payments.airtel
        if airtel is None or payment.transaction_id is None:
            said = "Airtel Money is not set up here, so Airtel cannot be asked."
            return Look(ref, payment, said, self._parked(ref, payment), asked=False)
        try:
            answer = await airtel.collection_status(payment)
        except UpstreamError as exc:
            said = f"Airtel Money could not be asked just now: {exc}"
            return Look(ref, payment, said, self._parked(ref, payment), asked=False)
        await airtel.apply(payment, report_of_enquiry(answer), actor=actor)
        said = airtel_words("collection", answer.found, answer.info.meaning, answer.info.code)
        return await self._looked(ref, Payment, payment.id, said)

    async def _looked(self, ref: Reference, model: Any, record_id: int, said: str = "") -> Look:
        """The record after a fresh look; its ``looked_at`` stamped while it stays parked."""
        fresh = await model.get(id=record_id)
        parked = self._parked(ref, fresh)
        if parked:
            await model.filter(id=record_id).update(looked_at=self._clock())
            fresh = await model.get(id=record_id)
        return Look(ref, fresh, said, parked)

    # Same shape as _look_airtel_payment on purpose: collections and disbursements are two Airtel
    # APIs, each with its own enquiry and its own way to apply the answer
    async def _look_airtel_payout(self, ref: Reference, payout: Payout, actor: str) -> Look:
        """Airtel's disbursement enquiry, answered at once (no callback to wait for)."""
        airtel = self._payouts.airtel
        if airtel is None:
            said = "Airtel Money is not set up here, so Airtel cannot be asked."
            return Look(ref, payout, said, self._parked(ref, payout), asked=False)
        try:
            answer = await airtel.disbursement_status(payout)
        except UpstreamError as exc:
            said = f"Airtel Money could not be asked just now: {exc}"
            return Look(ref, payout, said, self._parked(ref, payout), asked=False)
        await airtel.apply_status(payout, answer, actor=actor)
        said = airtel_words("disbursement", answer.found, answer.info.meaning, answer.info.code)
        return await self._looked(ref, Payout, payout.id, said)

    async def _look_payout(
        self,
        ref: Reference,
        payout: Payout,
        actor: str,
        asked_by: Staff | None,
        chat_id: int | None,
    ) -> Look:
        if PayoutStatus(payout.status) is PayoutStatus.SUBMITTING and payout.post_state in (
            PostState.NOT_SENT,
        ):
            # nothing reached M-Pesa: that is recorded, so there is nothing to ask
            await Payout.filter(id=payout.id).update(looked_at=self._clock())
            said = (
                "The B2C request has not reached M-Pesa (it could not connect); it is tried "
                "again every reconciliation pass. Nothing was paid out."
            )
            return Look(ref, await Payout.get(id=payout.id), said, True)
        if payout.provider == Provider.AIRTEL:
            return await self._look_airtel_payout(ref, payout, actor)
        query = await self._payouts.results.query_status(
            payout, actor=actor, asked_by=asked_by, chat_id=chat_id
        )
        return await self._after_query(ref, payout, query)

    async def _look_reversal(
        self,
        ref: Reference,
        reversal: Reversal,
        actor: str,
        asked_by: Staff | None,
        chat_id: int | None,
    ) -> Look:
        query = await self._reversals.query_status(
            reversal, actor=actor, asked_by=asked_by, chat_id=chat_id
        )
        return await self._after_query(ref, reversal, query)

    async def _after_query(self, ref: Reference, record: Record, q: DarajaQuery) -> Look:
        fresh = await self._get(ref)
        status = QueryStatus(q.status)
        if status is QueryStatus.SENT:
            said = "Asked M-Pesa's Transaction Status; its answer comes back in a few seconds."
            return Look(ref, fresh, said, True, waiting=True, query_id=q.id)
        if status is QueryStatus.FAILED and q.answered_at is None:
            error = (q.result or {}).get("error", "no answer")
            said = f"M-Pesa could not be asked just now: {error}"
            return Look(ref, fresh, said, True, asked=False)
        return Look(ref, fresh, query_words(q), self._parked(ref, fresh), query_id=q.id)

    async def wait_for_answer(
        self,
        look: Look,
        *,
        timeout_s: float,
        poll_s: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> Look:
        """Wait (polling the database) for the answer to a look's status question.

        For the command line: the answer reaches the running service by callback, not us. Once
        it is here the look counts as shown, so a decision may follow.
        """
        if look.query_id is None:
            return look
        waited = 0.0
        while True:
            query = await DarajaQuery.get(id=look.query_id)
            if QueryStatus(query.status) is not QueryStatus.SENT or waited >= timeout_s:
                break
            await sleep(poll_s)
            waited += poll_s
        after = await self._after_query(look.ref, look.record, query)
        if after.decidable:
            model = type(after.record)
            await model.filter(id=after.record.id).update(looked_at=self._clock())
            after = Look(
                after.ref, await model.get(id=after.record.id), after.answer, True,
                query_id=after.query_id,
            )  # fmt: skip
        return after

    async def answered_look(self, query: DarajaQuery) -> Look | None:
        """The look an admin's status question became once answered; None for other queries."""
        if query.requested_by_id is None:
            return None
        if query.payout_id is not None:
            ref = Reference(Kind.PAYOUT, query.payout_id)
        elif query.reversal_id is not None:
            ref = Reference(Kind.REVERSAL, query.reversal_id)
        else:
            return None
        record = await self._get(ref)
        return Look(ref, record, query_words(query), self._parked(ref, record))

    # -- deciding ---------------------------------------------------------------------------------

    async def decide(
        self, raw_ref: str, verdict: str, *, by_telegram_id: int | None = None
    ) -> Record:
        """Record a person's verdict on a parked record looked at within the last minutes."""
        _, actor = await self._who(by_telegram_id, "resolve")
        ref = parse_reference(raw_ref)
        word = checked_verdict(raw_ref, verdict)
        record = await self._get(ref)
        if not self._parked(ref, record):
            raise await self._refused(actor, ref, Conflict(self._not_parked(ref, record)))
        now = self._clock()
        if record.looked_at is None or record.looked_at < now - self._fresh:
            raise await self._refused(
                actor,
                ref,
                Conflict(
                    f"Look at {ref} first: /resolve {ref} asks M-Pesa and shows its answer, then "
                    "you decide."
                ),
            )
        done = word == ref.verdicts[0]
        resolved = {"resolved_by": actor, "resolved_at": now}
        if ref.kind is Kind.PAYMENT:
            record = await self._decide_payment(record, done, actor, resolved)
        elif ref.kind is Kind.PAYOUT:
            record = await self._decide_payout(record, done, actor, resolved)
        else:
            record = await self._decide_reversal(record, done, actor, resolved)
        log.info("resolve.decided ref=%s verdict=%s actor=%s", ref, word, actor)
        return record

    async def _decide_payment(
        self, payment: Payment, done: bool, actor: str, resolved: dict[str, Any]
    ) -> Payment:
        now = self._clock()
        status = PaymentStatus(payment.status)
        if done:
            info = describe_result("0", "")
            extra = dict(resolved)
            candidate = await self._only_candidate(payment)
            if candidate is not None:
                # the one payment that fits it is the money: keep its receipt and request id
                cb = candidate.callback
                extra.update(
                    checkout_request_id=cb.checkout_request_id,
                    receipt=cb.receipt,
                    paid_amount=cb.amount,
                    paid_phone=cb.phone,
                    paid_at=cb.transaction_date or now,
                )
            settlement = paid(
                payment,
                info,
                actor=actor,
                source="admin",
                now=now,
                sources=(status,),
                extra=extra,
            )
            if candidate is None:
                settlement.columns.update(result_desc="Confirmed by an admin")
        else:
            # the order stays open; any money that did come in keeps its receipt for a reversal
            settlement = Settlement(
                PaymentStatus.FAILED,
                {"result_code": None, "result_desc": "Not paid, decided by an admin", **resolved},
                (status,),
                "payment.resolved",
                actor,
                {"verdict": "failed", "was": status.value},
            )
        won = await self._payments.settler.settle(payment, settlement)
        if won is None:
            fresh = await Payment.get(id=payment.id)
            raise Conflict(f"Payment #{payment.id} changed meanwhile: it is now {fresh.status}.")
        if done:
            await audit(actor, "payment.resolved", subject=subject(payment), verdict="paid")
            if candidate is not None:
                await CallbackInbox.filter(
                    id=candidate.inbox_id, status=InboxStatus.UNMATCHED
                ).update(status=InboxStatus.PROCESSED, processed_at=now)
        return won

    async def _only_candidate(self, payment: Payment) -> Candidate | None:
        if payment.checkout_request_id is not None:
            return None
        found = await self._payments.links.candidates_for(payment)
        return found[0] if len(found) == 1 else None

    async def _decide_payout(
        self, payout: Payout, done: bool, actor: str, resolved: dict[str, Any]
    ) -> Payout:
        if payout.claimed_until is not None and payout.claimed_until >= self._clock():
            raise Conflict(f"Payout P{payout.id} is being sent right now; look again in a minute.")
        results = self._payouts.results
        async with in_transaction():
            await Payout.filter(id=payout.id).update(**resolved)
            payout = await Payout.get(id=payout.id)
            if done:
                outcome = await results.settle_completed(
                    payout,
                    receipt=payout.receipt,
                    receiver_name=payout.receiver_name,
                    completed_at=None,
                    code=None,
                    desc="Sent, confirmed by an admin",
                    conversation_id=None,
                    source="admin",
                    actor=actor,
                )
            else:
                outcome = await results.settle_failed(
                    payout, code=None, desc="Not sent, decided by an admin", actor=actor
                )
            if outcome is not ApplyOutcome.APPLIED:
                fresh = await Payout.get(id=payout.id)
                raise Conflict(f"Payout P{payout.id} changed meanwhile: it is now {fresh.status}.")
            await audit(
                actor,
                "payout.resolved",
                subject=f"payout:{payout.id}",
                verdict="sent" if done else "failed",
            )
        return await Payout.get(id=payout.id)

    async def _decide_reversal(
        self, reversal: Reversal, done: bool, actor: str, resolved: dict[str, Any]
    ) -> Reversal:
        wanted = ReversalStatus.COMPLETED if done else ReversalStatus.FAILED
        desc = "Reversed, confirmed by an admin" if done else "Not reversed, decided by an admin"
        async with in_transaction():
            moved = await self._reversals.move(
                reversal,
                wanted,
                code=None,
                desc=desc,
                extra={"next_query_at": None, **resolved},
                actor=actor,
            )
            if not moved:
                fresh = await Reversal.get(id=reversal.id)
                raise Conflict(
                    f"Reversal R{reversal.id} changed meanwhile: it is now {fresh.status}."
                )
            await audit(
                actor,
                "reversal.resolved",
                subject=f"reversal:{reversal.id}",
                verdict="reversed" if done else "failed",
            )
        return await Reversal.get(id=reversal.id)

    # -- helpers ----------------------------------------------------------------------------------

    async def _get(self, ref: Reference) -> Record:
        model = {Kind.PAYMENT: Payment, Kind.PAYOUT: Payout, Kind.REVERSAL: Reversal}[ref.kind]
        record = await model.get_or_none(id=ref.id)
        if record is None:
            raise NotFound(f"There is no {ref.kind.value} {ref}.")
        return record

    @staticmethod
    def _parked(ref: Reference, record: Record) -> bool:
        return record.status in PARKED[ref.kind]

    @staticmethod
    def _not_parked(ref: Reference, record: Record) -> str:
        state = str(getattr(record.status, "value", record.status)).replace("_", " ")
        return f"{ref.kind.value.capitalize()} {ref} is {state}: there is nothing to resolve."

    async def _refused(self, actor: str, ref: Reference, exc: Exception) -> Exception:
        await audit(
            actor,
            f"{ref.kind.value}.resolved",
            subject=f"{ref.kind.value}:{ref.id}",
            outcome="refused",
            reason=str(exc),
        )
        return exc


def checked_verdict(raw_ref: str, verdict: str) -> str:
    """The verdict for this reference, lower case; InvalidInput naming the two it may be."""
    ref = parse_reference(raw_ref)
    word = (verdict or "").strip().lower()
    if word not in ref.verdicts:
        raise InvalidInput(
            f"For {ref} say {ref.verdicts[0]} or {ref.verdicts[1]}.", field="verdict"
        )
    return word


def airtel_words(what: str, found: bool, meaning: str, code: str) -> str:
    """An Airtel enquiry's answer in words, for the admin deciding after it."""
    if not found:
        return (
            f"Airtel Money's {what} enquiry does not know this transaction (yet): it may never "
            "have reached Airtel, or not be registered yet."
        )
    return f"Airtel Money's {what} enquiry says: {meaning} (code {code})."


def query_words(query: DarajaQuery) -> str:
    """A Transaction Status answer in words, for the admin deciding after it."""
    result = query.result or {}
    if QueryStatus(query.status) is not QueryStatus.ANSWERED:
        reason = result.get("result_desc") or result.get("error") or "no answer"
        return f"M-Pesa's Transaction Status could not tell: {str(reason).rstrip('.')}."
    parts = [f"M-Pesa's Transaction Status says: {result.get('transaction_status') or 'no status'}"]
    if result.get("receipt"):
        parts.append(f"receipt {result['receipt']}")
    if isinstance(result.get("amount"), int):
        parts.append(f"KES {result['amount']:,}")
    return ", ".join(parts) + "."
