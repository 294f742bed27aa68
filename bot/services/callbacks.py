"""The callback inbox: every provider callback stored raw first, then parsed and applied once.

Airtel's callbacks are verified by their hash when AIRTEL_CALLBACK_HASH_KEY is set: the body is
stored first, and one whose hash does not match is refused (HTTP 403) and kept, never applied.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Protocol

from airtel import callbacks as airtel_cb
from airtel.errors import CallbackParseError as AirtelCallbackParseError
from airtel.security import DEFAULT_HASH_INPUTS
from airtel.security import HashInput
from bot.services.outcome import ApplyOutcome
from models import CallbackInbox
from models import CallbackKind
from models import InboxStatus
from mpesa import callbacks as cb
from mpesa.errors import CallbackParseError as DarajaCallbackParseError
from mpesa.phone import mask_id

log = logging.getLogger(__name__)

# answered with HTTP 400 for a body we cannot read (it is kept in the inbox all the same)
BAD_REQUEST_CODE = 1
CallbackParseError = (DarajaCallbackParseError, AirtelCallbackParseError)
AIRTEL_KINDS = (CallbackKind.AIRTEL_COLLECTION, CallbackKind.AIRTEL_DISBURSEMENT)

_INBOX_FOR = {
    ApplyOutcome.APPLIED: InboxStatus.PROCESSED,
    ApplyOutcome.REVIEW: InboxStatus.PROCESSED,
    ApplyOutcome.DUPLICATE: InboxStatus.DUPLICATE,
    ApplyOutcome.UNMATCHED: InboxStatus.UNMATCHED,
}

# kinds whose unmatched rows a replay of the first kind also re-applies (a time-out and its
# result share the payout's ids)
_REPLAY_FAMILY = {
    CallbackKind.STK: (CallbackKind.STK,),
    CallbackKind.B2C_RESULT: (CallbackKind.B2C_RESULT, CallbackKind.B2C_TIMEOUT),
    CallbackKind.B2C_TIMEOUT: (CallbackKind.B2C_RESULT, CallbackKind.B2C_TIMEOUT),
    CallbackKind.STATUS_RESULT: (CallbackKind.STATUS_RESULT, CallbackKind.STATUS_TIMEOUT),
    CallbackKind.STATUS_TIMEOUT: (CallbackKind.STATUS_RESULT, CallbackKind.STATUS_TIMEOUT),
    CallbackKind.BALANCE_RESULT: (CallbackKind.BALANCE_RESULT, CallbackKind.BALANCE_TIMEOUT),
    CallbackKind.BALANCE_TIMEOUT: (CallbackKind.BALANCE_RESULT, CallbackKind.BALANCE_TIMEOUT),
    CallbackKind.REVERSAL_RESULT: (CallbackKind.REVERSAL_RESULT, CallbackKind.REVERSAL_TIMEOUT),
    CallbackKind.REVERSAL_TIMEOUT: (CallbackKind.REVERSAL_RESULT, CallbackKind.REVERSAL_TIMEOUT),
    CallbackKind.C2B_VALIDATION: (CallbackKind.C2B_VALIDATION,),
    CallbackKind.C2B_CONFIRMATION: (CallbackKind.C2B_CONFIRMATION,),
    CallbackKind.AIRTEL_COLLECTION: (CallbackKind.AIRTEL_COLLECTION,),
    CallbackKind.AIRTEL_DISBURSEMENT: (CallbackKind.AIRTEL_DISBURSEMENT,),
}

_PARSERS: dict[CallbackKind, Callable[[bytes], Any]] = {
    CallbackKind.STK: cb.parse_stk_callback,
    CallbackKind.B2C_RESULT: cb.parse_b2c_result,
    CallbackKind.B2C_TIMEOUT: cb.parse_b2c_timeout,
    CallbackKind.STATUS_RESULT: cb.parse_transaction_status_result,
    CallbackKind.STATUS_TIMEOUT: cb.parse_b2c_timeout,
    CallbackKind.BALANCE_RESULT: cb.parse_account_balance_result,
    CallbackKind.BALANCE_TIMEOUT: cb.parse_b2c_timeout,
    CallbackKind.REVERSAL_RESULT: cb.parse_reversal_result,
    CallbackKind.REVERSAL_TIMEOUT: cb.parse_b2c_timeout,
    CallbackKind.C2B_VALIDATION: cb.parse_c2b,
    CallbackKind.C2B_CONFIRMATION: cb.parse_c2b,
    # the hash is checked once, when the callback arrives (ingest), before it is applied
    CallbackKind.AIRTEL_COLLECTION: airtel_cb.parse_collection_callback,
    CallbackKind.AIRTEL_DISBURSEMENT: airtel_cb.parse_collection_callback,
}


class _Payments(Protocol):
    async def apply_stk_callback(self, cb: cb.StkCallback) -> ApplyOutcome: ...
    async def apply_airtel_callback(self, cb: airtel_cb.CollectionCallback) -> ApplyOutcome: ...


class _AirtelPayouts(Protocol):
    async def apply_callback(self, cb: airtel_cb.CollectionCallback) -> ApplyOutcome: ...


class _C2B(Protocol):
    async def validate(self, p: cb.C2BPayment) -> dict[str, Any]: ...
    async def confirm(self, p: cb.C2BPayment) -> ApplyOutcome: ...


class _Payouts(Protocol):
    async def apply_b2c_result(self, r: cb.B2CResult) -> ApplyOutcome: ...
    async def apply_b2c_timeout(self, t: cb.QueueTimeout) -> ApplyOutcome: ...


class _Accounts(Protocol):
    async def apply_status_result(self, r: cb.TransactionStatusResult) -> ApplyOutcome: ...
    async def apply_balance_result(self, r: cb.AccountBalanceResult) -> ApplyOutcome: ...
    async def apply_query_timeout(self, kind: CallbackKind, t: cb.QueueTimeout) -> ApplyOutcome: ...


class _Reversals(Protocol):
    async def apply_reversal_result(self, r: cb.ReversalResult) -> ApplyOutcome: ...
    async def apply_timeout(self, t: cb.QueueTimeout) -> ApplyOutcome: ...


@dataclass(frozen=True)
class _Applied:
    outcome: ApplyOutcome
    match_key: str | None
    answer: dict[str, Any]


def match_key_for(kind: CallbackKind, parsed: Any) -> str | None:
    """The id an unmatched callback waits under (CheckoutRequestID, ConversationID, TransID)."""
    if kind is CallbackKind.STK:
        return parsed.checkout_request_id
    if kind in (CallbackKind.C2B_VALIDATION, CallbackKind.C2B_CONFIRMATION):
        return parsed.trans_id
    if kind in AIRTEL_KINDS:
        return parsed.transaction_id
    return parsed.conversation_id or parsed.originator_conversation_id


class CallbackService:
    """Stores each callback raw, parses it, applies it through the owning service, and answers."""

    def __init__(
        self,
        *,
        payments: _Payments,
        c2b: _C2B,
        payouts: _Payouts,
        accounts: _Accounts,
        reversals: _Reversals,
        airtel_payouts: _AirtelPayouts | None = None,
        airtel_hash_key: str | None = None,
        airtel_hash_inputs: tuple[HashInput, ...] = DEFAULT_HASH_INPUTS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._payments = payments
        self._airtel_payouts = airtel_payouts
        self._airtel_hash_key = airtel_hash_key
        self._airtel_hash_inputs = airtel_hash_inputs
        self._c2b = c2b
        self._payouts = payouts
        self._accounts = accounts
        self._reversals = reversals
        self._clock = clock
        # per-process counters for /metrics: (kind, outcome) -> callbacks
        self.counts: Counter[tuple[str, str]] = Counter()
        # the services call back when the record an unmatched callback waits for appears
        for service in (payments, payouts, accounts, reversals):
            if hasattr(service, "replay_unmatched") and service.replay_unmatched is None:
                service.replay_unmatched = self.replay

    @property
    def clock(self) -> Callable[[], datetime]:
        """The clock that stamps processed_at (aware UTC)."""
        return self._clock

    async def ingest(
        self, kind: CallbackKind, body: bytes, remote_addr: str, *, header_hash: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Store, parse and apply one callback; return the HTTP status and JSON body to answer.

        ``header_hash`` is an Airtel callback's ``hash`` header, when it came in one.
        """
        text, encoding_note = body_text(body)
        # its own committed write: whatever happens next, the body is kept
        row = await CallbackInbox.create(
            kind=kind,
            body=text,
            remote_addr=remote_addr[:64],
            error=encoding_note,
            received_at=self._clock(),
        )
        if kind in AIRTEL_KINDS and self._airtel_hash_key:
            refusal = self._hash_refusal(body, header_hash)
            if refusal is not None:
                await CallbackInbox.filter(id=row.id).update(
                    status=InboxStatus.REJECTED, error=refusal[:2000], processed_at=self._clock()
                )
                self.count(kind, "refused")
                log.warning("callback.refused kind=%s inbox=%s reason=%s", kind, row.id, refusal)
                return 403, {"status": "refused", "reason": refusal}
        return await self.process_stored(row.id, kind, body)

    def _hash_refusal(self, body: bytes, header_hash: str | None) -> str | None:
        """Why an Airtel callback's hash is not the one our key makes, or None when it is."""
        try:
            parsed = airtel_cb.parse_collection_callback(
                body,
                hash_key=self._airtel_hash_key,
                header_hash=header_hash,
                hash_inputs=self._airtel_hash_inputs,
            )
        except AirtelCallbackParseError:
            return None  # unreadable: refused as such by process_stored, with its reason
        if parsed.verified:
            return None
        if parsed.hash is None:
            return "no hash, but AIRTEL_CALLBACK_HASH_KEY is set: not applied"
        inputs = ", ".join(choice.value for choice in self._airtel_hash_inputs)
        return f"the hash does not match AIRTEL_CALLBACK_HASH_KEY over {inputs}: not applied"

    async def process_stored(
        self, inbox_id: int, kind: CallbackKind, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        """Parse and apply a callback stored (RECEIVED) as ``inbox_id``; answer like ingest."""
        try:
            parsed = _PARSERS[kind](body)
        except CallbackParseError as exc:
            reason = str(exc) or "unreadable body"
            await CallbackInbox.filter(id=inbox_id).update(
                status=InboxStatus.REJECTED, error=reason[:2000], processed_at=self._clock()
            )
            self.count(kind, "rejected")
            log.warning("callback.rejected kind=%s inbox=%s reason=%s", kind, inbox_id, reason)
            if kind in AIRTEL_KINDS:
                return 400, {"status": "rejected", "reason": reason}
            return 400, {"ResultCode": BAD_REQUEST_CODE, "ResultDesc": f"Rejected: {reason}"}
        try:
            applied = await self._apply_and_mark(inbox_id, kind, parsed, InboxStatus.RECEIVED)
        except Exception:
            # the row stays RECEIVED: the reconciler applies it again later
            log.exception("callback.failed kind=%s inbox=%s", kind, inbox_id)
            await CallbackInbox.filter(id=inbox_id).update(error="processing failed; will retry")
            self.count(kind, "error")
            if kind is CallbackKind.C2B_VALIDATION:
                # no answer we can stand by: M-Pesa then applies the registered ResponseType
                return 500, {"ResultCode": BAD_REQUEST_CODE, "ResultDesc": "Temporary error"}
            return 200, ack(kind)
        self.count(kind, applied.outcome.value)
        log.info(
            "callback.%s kind=%s inbox=%s key=%s",
            applied.outcome,
            kind,
            inbox_id,
            mask_id(applied.match_key),  # a CheckoutRequestID ends in the customer's digits
        )
        return 200, applied.answer

    async def record_refused(
        self, kind: CallbackKind, body: bytes, remote_addr: str, reason: str
    ) -> None:
        """Keep a callback we refused to process (source not allowed, body too large)."""
        text, _ = body_text(body)
        await CallbackInbox.create(
            kind=kind,
            body=text,
            remote_addr=remote_addr[:64],
            status=InboxStatus.REJECTED,
            error=reason[:2000],
            received_at=self._clock(),
            processed_at=self._clock(),
        )
        self.count(kind, "refused")
        log.warning("callback.refused kind=%s remote=%s reason=%s", kind, remote_addr, reason)

    async def replay(self, kind: CallbackKind, match_key: str) -> int:
        """Re-apply unmatched callbacks waiting under ``match_key``; return how many now matched."""
        rows = (
            await CallbackInbox.filter(
                kind__in=_REPLAY_FAMILY[kind], match_key=match_key, status=InboxStatus.UNMATCHED
            )
            .order_by("id")
            .only("id", "kind", "body")
        )
        return await self._reapply(rows, InboxStatus.UNMATCHED)

    async def replay_pending(
        self, *, unmatched_within_s: float = 3600.0, stuck_after_s: float = 60.0, limit: int = 100
    ) -> int:
        """Re-apply recent unmatched rows and rows whose processing failed; return matches."""
        now = self._clock()
        unmatched = await _inbox_rows(
            limit,
            status=InboxStatus.UNMATCHED,
            received_at__gte=now - timedelta(seconds=unmatched_within_s),
        )
        done = await self._reapply(unmatched, InboxStatus.UNMATCHED)
        stuck = await _inbox_rows(
            limit,
            status=InboxStatus.RECEIVED,
            received_at__lt=now - timedelta(seconds=stuck_after_s),
        )
        return done + await self._reapply(stuck, InboxStatus.RECEIVED)

    async def _reapply(self, rows: list[CallbackInbox], expected: InboxStatus) -> int:
        matched = 0
        for row in rows:
            kind = CallbackKind(row.kind)
            try:
                parsed = _PARSERS[kind](row.body.encode())
                applied = await self._apply_and_mark(row.id, kind, parsed, expected)
            except Exception:
                log.exception("callback.replay_failed kind=%s inbox=%s", kind, row.id)
                continue
            if applied.outcome is not ApplyOutcome.UNMATCHED:
                matched += 1
                self.count(kind, f"replayed_{applied.outcome.value}")
                log.info(
                    "callback.replayed kind=%s inbox=%s outcome=%s", kind, row.id, applied.outcome
                )
        return matched

    async def _apply_and_mark(
        self, inbox_id: int, kind: CallbackKind, parsed: Any, expected: InboxStatus
    ) -> _Applied:
        # each service applies in its own transaction; no transaction spans this call, because
        # applying may ask Daraja (confirm-by-query). A crash before the row is marked leaves it
        # RECEIVED, and applying it again later is a harmless duplicate.
        applied = await self._apply(kind, parsed)
        status = _INBOX_FOR[applied.outcome]
        if status is expected:
            # still unmatched: keep the row as it is, just remember the key
            await CallbackInbox.filter(id=inbox_id).update(match_key=applied.match_key)
        else:
            await CallbackInbox.filter(id=inbox_id, status=expected).update(
                status=status,
                match_key=applied.match_key,
                error=None,
                processed_at=self._clock(),
            )
            if status is InboxStatus.UNMATCHED:
                # Its record may have been written between our look and this mark, and that
                # record's own look for waiting callbacks (the replay after a push's answer) may
                # have come before the mark: look once more now that the row can be found, so a
                # callback that raced its record is applied at once, not at the next pass.
                return await self._apply_and_mark(inbox_id, kind, parsed, InboxStatus.UNMATCHED)
        return applied

    async def _apply(self, kind: CallbackKind, parsed: Any) -> _Applied:
        key = match_key_for(kind, parsed)
        if kind is CallbackKind.C2B_VALIDATION:
            answer = await self._c2b.validate(parsed)
            return _Applied(ApplyOutcome.APPLIED, key, answer)
        if kind is CallbackKind.STK:
            outcome = await self._payments.apply_stk_callback(parsed)
        elif kind is CallbackKind.C2B_CONFIRMATION:
            outcome = await self._c2b.confirm(parsed)
        elif kind is CallbackKind.B2C_RESULT:
            outcome = await self._payouts.apply_b2c_result(parsed)
        elif kind is CallbackKind.B2C_TIMEOUT:
            outcome = await self._payouts.apply_b2c_timeout(parsed)
        elif kind is CallbackKind.STATUS_RESULT:
            outcome = await self._accounts.apply_status_result(parsed)
        elif kind is CallbackKind.BALANCE_RESULT:
            outcome = await self._accounts.apply_balance_result(parsed)
        elif kind is CallbackKind.REVERSAL_RESULT:
            outcome = await self._reversals.apply_reversal_result(parsed)
        elif kind is CallbackKind.REVERSAL_TIMEOUT:
            outcome = await self._reversals.apply_timeout(parsed)
        elif kind is CallbackKind.AIRTEL_COLLECTION:
            outcome = await self._payments.apply_airtel_callback(parsed)
        elif kind is CallbackKind.AIRTEL_DISBURSEMENT:
            if self._airtel_payouts is None:
                outcome = ApplyOutcome.UNMATCHED
            else:
                outcome = await self._airtel_payouts.apply_callback(parsed)
        else:  # a status or balance queue time-out
            outcome = await self._accounts.apply_query_timeout(kind, parsed)
        return _Applied(ApplyOutcome(outcome), key, ack(kind))

    def count(self, kind: CallbackKind, outcome: str) -> None:
        """Count one callback of ``kind`` that ended in ``outcome`` (for /metrics)."""
        self.counts[(kind.value, outcome)] += 1


def ack(kind: CallbackKind) -> dict[str, Any]:
    """The answer the provider expects once a callback is safely ours."""
    if kind in AIRTEL_KINDS:
        return dict(airtel_cb.ACK)
    if kind is CallbackKind.C2B_CONFIRMATION:
        return dict(cb.C2B_CONFIRMATION_ACK)
    return dict(cb.ACK)


def body_text(body: bytes) -> tuple[str, str | None]:
    """The body as text for the inbox; bytes that are not UTF-8 are kept as escapes, not lost."""
    try:
        return body.decode("utf-8"), None
    except UnicodeDecodeError:
        return body.decode("utf-8", "backslashreplace"), "body is not UTF-8 (kept with escapes)"


async def _inbox_rows(limit: int, **filters: Any) -> list[CallbackInbox]:
    """Inbox rows to apply again, oldest first, with only what applying needs."""
    return (
        await CallbackInbox.filter(**filters).order_by("id").limit(limit).only("id", "kind", "body")
    )
