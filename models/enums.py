"""Status enums and their allowed transitions: an illegal move is an error, not an overwrite."""

from __future__ import annotations

from enum import StrEnum


class IllegalTransition(Exception):
    """A state change the lifecycle does not allow (e.g. paid -> cancelled)."""

    def __init__(self, kind: str, current: StrEnum, wanted: StrEnum) -> None:
        super().__init__(f"{kind} cannot go from {current.value} to {wanted.value}")
        self.current = current
        self.wanted = wanted


class StaffRole(StrEnum):
    """What a staff member may do: admins manage staff and send money, cashiers request it."""

    ADMIN = "admin"
    CASHIER = "cashier"


class Provider(StrEnum):
    """Which mobile-money service moved (or is to move) a payment or payout."""

    MPESA = "mpesa"  # Safaricom M-Pesa, through Daraja
    AIRTEL = "airtel"  # Airtel Money, through the Airtel Africa Open API


class OrderStatus(StrEnum):
    """Life of an order a customer pays by deep link, API or C2B."""

    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"
    REVERSED = "reversed"  # was paid; the payment was reversed (the money went back)


class PaymentStatus(StrEnum):
    """Life of one STK Push attempt."""

    CREATED = "created"  # recorded, not yet accepted by Daraja
    PENDING = "pending"  # accepted; the customer's phone shows the PIN prompt
    UNKNOWN = "unknown"  # the push may or may not have reached Daraja: reconcile
    PAID = "paid"
    CANCELLED = "cancelled"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    WRONG_PIN = "wrong_pin"
    TIMED_OUT = "timed_out"
    FAILED = "failed"
    REVIEW = "review"  # M-Pesa says paid, but amount/phone disagree: a person decides
    REVERSED = "reversed"  # was paid; a completed reversal sent the money back

    @property
    def is_final(self) -> bool:
        """True once nothing more is expected from M-Pesa."""
        return self not in (PaymentStatus.CREATED, PaymentStatus.PENDING, PaymentStatus.UNKNOWN)

    @property
    def is_parked(self) -> bool:
        """True while a person may have to decide (after a fresh query): /resolve applies."""
        return self in (PaymentStatus.PENDING, PaymentStatus.UNKNOWN, PaymentStatus.REVIEW)

    @property
    def can_retry(self) -> bool:
        """True when a new attempt for the same order makes sense."""
        return self in RETRYABLE_PAYMENT_STATUSES


class PayoutStatus(StrEnum):
    """Life of one B2C payout."""

    AWAITING_CONFIRMATION = "awaiting_confirmation"  # the initiator has not pressed Confirm
    AWAITING_APPROVAL = "awaiting_approval"  # above the threshold: a second admin must approve
    SUBMITTING = "submitting"  # claimed for sending; the B2C request is (about to be) on the wire
    SUBMITTED = "submitted"  # Daraja accepted it; waiting for the result callback
    UNKNOWN = "unknown"  # time-out or queue time-out: reconcile by transaction status
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the initiator cancelled before confirming
    REJECTED = "rejected"  # an approver refused it

    @property
    def is_final(self) -> bool:
        """True once the payout can no longer change."""
        return self in (
            PayoutStatus.COMPLETED,
            PayoutStatus.FAILED,
            PayoutStatus.CANCELLED,
            PayoutStatus.REJECTED,
        )


class PostState(StrEnum):
    """Where the one money POST of an intent (STK Push, B2C, reversal) stands.

    Only ``NOT_SENT`` may be sent (again); ``SENDING`` is committed before the POST, so a crash
    mid-call leaves it, and it is then read as ``UNKNOWN``: settled by a query, never resent.
    """

    NOT_SENT = "not_sent"  # never left this machine (nothing sent yet, or failed before connecting)
    SENDING = "sending"  # about to be, or being, sent
    ANSWERED = "answered"  # Daraja answered: accepted or refused
    UNKNOWN = "unknown"  # time-out, dropped connection, 5xx or crash after sending


class ReversalStatus(StrEnum):
    """Life of a reversal of a received payment."""

    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    UNKNOWN = "unknown"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """True once M-Pesa has settled it (a failed one may still be sent again by an admin)."""
        return self in (ReversalStatus.COMPLETED, ReversalStatus.FAILED)


class QueryKind(StrEnum):
    """Asynchronous Daraja questions whose answers arrive by callback."""

    BALANCE = "balance"
    TRANSACTION_STATUS = "transaction_status"


class QueryStatus(StrEnum):
    """Life of an asynchronous Daraja question."""

    SENT = "sent"
    ANSWERED = "answered"
    FAILED = "failed"


class CallbackKind(StrEnum):
    """Which provider callback a raw inbox row holds."""

    STK = "stk"
    B2C_RESULT = "b2c_result"
    B2C_TIMEOUT = "b2c_timeout"
    STATUS_RESULT = "status_result"
    STATUS_TIMEOUT = "status_timeout"
    BALANCE_RESULT = "balance_result"
    BALANCE_TIMEOUT = "balance_timeout"
    REVERSAL_RESULT = "reversal_result"
    REVERSAL_TIMEOUT = "reversal_timeout"
    C2B_VALIDATION = "c2b_validation"
    C2B_CONFIRMATION = "c2b_confirmation"
    AIRTEL_COLLECTION = "airtel_collection"  # a USSD push payment's final state
    AIRTEL_DISBURSEMENT = "airtel_disbursement"  # undocumented: kept, settled by an enquiry


class InboxStatus(StrEnum):
    """What became of a raw callback."""

    RECEIVED = "received"
    PROCESSED = "processed"
    UNMATCHED = "unmatched"  # no record yet (it raced our own insert): applied when one appears
    DUPLICATE = "duplicate"
    REJECTED = "rejected"  # unparseable or refused; the body is kept


class NotificationChannel(StrEnum):
    """Where an outbox message goes."""

    CHAT = "chat"
    SMS = "sms"
    WEBHOOK = "webhook"
    EMAIL = "email"


class NotificationStatus(StrEnum):
    """Life of an outbox message."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt


RETRYABLE_PAYMENT_STATUSES = frozenset(
    {
        PaymentStatus.CANCELLED,
        PaymentStatus.INSUFFICIENT_FUNDS,
        PaymentStatus.WRONG_PIN,
        PaymentStatus.TIMED_OUT,
        PaymentStatus.FAILED,
    }
)

PAYMENT_TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.CREATED: frozenset(
        {PaymentStatus.PENDING, PaymentStatus.FAILED, PaymentStatus.UNKNOWN}
    ),
    PaymentStatus.PENDING: frozenset(
        {
            PaymentStatus.PAID,
            PaymentStatus.CANCELLED,
            PaymentStatus.INSUFFICIENT_FUNDS,
            PaymentStatus.WRONG_PIN,
            PaymentStatus.TIMED_OUT,
            PaymentStatus.FAILED,
            PaymentStatus.REVIEW,
        }
    ),
    # an unknown push is settled by its late answer, a callback linked to it, or a person;
    # never by time
    PaymentStatus.UNKNOWN: frozenset(
        {PaymentStatus.PENDING, PaymentStatus.PAID, PaymentStatus.REVIEW, PaymentStatus.FAILED}
    ),
    PaymentStatus.REVIEW: frozenset({PaymentStatus.PAID, PaymentStatus.FAILED}),
    PaymentStatus.PAID: frozenset({PaymentStatus.REVERSED}),
    PaymentStatus.REVERSED: frozenset(),
    PaymentStatus.CANCELLED: frozenset(),
    PaymentStatus.INSUFFICIENT_FUNDS: frozenset(),
    PaymentStatus.WRONG_PIN: frozenset(),
    PaymentStatus.TIMED_OUT: frozenset(),
    PaymentStatus.FAILED: frozenset(),
}

PAYOUT_TRANSITIONS: dict[PayoutStatus, frozenset[PayoutStatus]] = {
    PayoutStatus.AWAITING_CONFIRMATION: frozenset(
        {PayoutStatus.AWAITING_APPROVAL, PayoutStatus.SUBMITTING, PayoutStatus.CANCELLED}
    ),
    # CANCELLED: a bulk row whose batch was cancelled before its turn
    PayoutStatus.AWAITING_APPROVAL: frozenset(
        {PayoutStatus.SUBMITTING, PayoutStatus.REJECTED, PayoutStatus.CANCELLED}
    ),
    PayoutStatus.SUBMITTING: frozenset(
        {
            PayoutStatus.SUBMITTED,
            PayoutStatus.UNKNOWN,
            PayoutStatus.FAILED,
            PayoutStatus.COMPLETED,  # the result callback can beat the sync answer
        }
    ),
    PayoutStatus.SUBMITTED: frozenset(
        {PayoutStatus.COMPLETED, PayoutStatus.FAILED, PayoutStatus.UNKNOWN}
    ),
    PayoutStatus.UNKNOWN: frozenset(
        {PayoutStatus.COMPLETED, PayoutStatus.FAILED, PayoutStatus.SUBMITTED}
    ),
    PayoutStatus.COMPLETED: frozenset(),
    PayoutStatus.FAILED: frozenset(),
    PayoutStatus.CANCELLED: frozenset(),
    PayoutStatus.REJECTED: frozenset(),
}

REVERSAL_TRANSITIONS: dict[ReversalStatus, frozenset[ReversalStatus]] = {
    ReversalStatus.SUBMITTING: frozenset(
        {
            ReversalStatus.SUBMITTED,
            ReversalStatus.UNKNOWN,
            ReversalStatus.FAILED,
            ReversalStatus.COMPLETED,
        }
    ),
    ReversalStatus.SUBMITTED: frozenset(
        {ReversalStatus.COMPLETED, ReversalStatus.FAILED, ReversalStatus.UNKNOWN}
    ),
    ReversalStatus.UNKNOWN: frozenset(
        {ReversalStatus.COMPLETED, ReversalStatus.FAILED, ReversalStatus.SUBMITTED}
    ),
    ReversalStatus.COMPLETED: frozenset(),
    # refused, never sent, or judged not reversed by a person: an admin may try again
    ReversalStatus.FAILED: frozenset({ReversalStatus.SUBMITTING}),
}


def sources_for(transitions: dict[StrEnum, frozenset[StrEnum]], wanted: StrEnum) -> list[StrEnum]:
    """Every status from which ``wanted`` may be reached (for conditional UPDATE ... WHERE)."""
    return [status for status, targets in transitions.items() if wanted in targets]


def check_transition(
    kind: str, transitions: dict[StrEnum, frozenset[StrEnum]], current: StrEnum, wanted: StrEnum
) -> None:
    """Raise IllegalTransition unless ``current -> wanted`` is allowed."""
    if wanted not in transitions[current]:
        raise IllegalTransition(kind, current, wanted)


class BatchStatus(StrEnum):
    """Life of a bulk payout batch."""

    AWAITING_CONFIRMATION = "awaiting_confirmation"  # validated; an admin must press Confirm
    AWAITING_APPROVAL = "awaiting_approval"  # total at or above the threshold: a second admin
    SENDING = "sending"  # confirmed (and approved): rows go out at the configured pace
    PAUSED = "paused"  # no new row leaves; rows in flight finish
    CANCELLED = "cancelled"  # no new row will ever leave; rows already sent still settle
    REJECTED = "rejected"  # the approver refused it; nothing was sent
    COMPLETED = "completed"  # every row was sent and is settled

    @property
    def is_final(self) -> bool:
        """True once no row of the batch will ever be sent."""
        return self in (BatchStatus.CANCELLED, BatchStatus.REJECTED, BatchStatus.COMPLETED)


class BatchRowStatus(StrEnum):
    """Life of one row of a batch (once sent, its payout tells the rest)."""

    REJECTED = "rejected"  # failed validation: never sent
    QUEUED = "queued"  # valid; waits for its turn
    SENT = "sent"  # handed to the payout path: see its payout
    CANCELLED = "cancelled"  # the batch was cancelled before this row's turn


class ScheduleKind(StrEnum):
    """What a schedule does at each occurrence."""

    PAYOUT = "payout"  # a B2C payout to the recipient
    PAYMENT_REQUEST = "payment_request"  # an STK Push asking the customer to pay


class ScheduleStatus(StrEnum):
    """Life of a schedule."""

    AWAITING_CONFIRMATION = "awaiting_confirmation"
    AWAITING_APPROVAL = "awaiting_approval"
    ACTIVE = "active"
    PAUSED = "paused"
    FINISHED = "finished"  # the calendar has no more occurrences
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        """True once no occurrence will ever run."""
        return self in (ScheduleStatus.FINISHED, ScheduleStatus.CANCELLED, ScheduleStatus.REJECTED)


class OccurrenceStatus(StrEnum):
    """What became of one occurrence of a schedule (one row per schedule and due time)."""

    DUE = "due"  # its time has come; a worker is starting it
    RUNNING = "running"  # its payout or payment request exists and is on its way
    SUCCEEDED = "succeeded"  # paid out, or the customer paid
    FAILED = "failed"  # refused, failed or cancelled: staff can act on it
    SKIPPED = "skipped"  # skipped on purpose (skip next, or paused at the time)
    MISSED = "missed"  # the service was down past the grace period: never run

    @property
    def is_final(self) -> bool:
        """True once the occurrence will not change again."""
        return self not in (OccurrenceStatus.DUE, OccurrenceStatus.RUNNING)


class ScheduleFrequency(StrEnum):
    """How often a schedule repeats (bot/services/calendar.py does the arithmetic)."""

    ONCE = "once"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
