"""Tortoise models: every shilling requested or sent, every raw callback, every message and action.

Amounts are whole Kenyan shillings (IntField). Unique columns back idempotency: a CheckoutRequestID,
an OriginatorConversationID, an M-Pesa receipt or a C2B TransID is recorded once.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import CallbackKind
from models.enums import InboxStatus
from models.enums import NotificationChannel
from models.enums import NotificationStatus
from models.enums import OrderStatus
from models.enums import PaymentStatus
from models.enums import PayoutStatus
from models.enums import PostState
from models.enums import Provider
from models.enums import QueryKind
from models.enums import QueryStatus
from models.enums import ReversalStatus
from models.enums import StaffRole

STATUS_LENGTH = 32  # every status column, here and in bulk.py and schedules.py
# Each model sets _no_comments: otherwise Tortoise reads and parses this file's source once per
# model, looking for "#:" field comments we do not write (0.1 s of every start-up).
# Columns that look alike across tables (created_at, chat_id, result_code, the staff links) stay
# written out in each: a table's column list is its schema, read as its migration wrote it.


class Staff(Model):
    """A cashier or admin, known by Telegram user id."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    telegram_id = fields.BigIntField(unique=True)
    name = fields.CharField(max_length=128, default="")  # as an admin gave it (may be empty)
    # as their Telegram updates show it, kept up to date (written only when it changes)
    telegram_name = fields.CharField(max_length=128, null=True)
    role = fields.CharEnumField(StaffRole, max_length=STATUS_LENGTH)
    active = fields.BooleanField(default=True)
    daily_payout_limit = fields.BigIntField(null=True)  # None: the configured default
    added_by_telegram_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "staff"

    @property
    def display_name(self) -> str:
        """The name to show: as an admin gave it, else as Telegram shows it ("" if neither)."""
        return self.name or self.telegram_name or ""


class Customer(Model):
    """Someone who pays: by Telegram, or only by phone (SMS receipts)."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    telegram_id = fields.BigIntField(unique=True, null=True)
    chat_id = fields.BigIntField(null=True)
    msisdn = fields.CharField(max_length=12, null=True, db_index=True)
    name = fields.CharField(max_length=128, default="")
    # the chat conversation survives restarts: which order they are paying, what we wait for
    conversation_state = fields.CharField(max_length=32, default="")
    conversation_order_id = fields.IntField(null=True)
    # what they read: "en" or "sw"; chosen by /language or the page switch, else detected
    language = fields.CharField(max_length=8, null=True)
    language_chosen = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "customer"


class Order(Model):
    """Something to be paid, opened by a deep link code, the shop API or a C2B account number."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=12, unique=True)
    amount = fields.BigIntField()
    description = fields.CharField(max_length=255, default="")
    status = fields.CharEnumField(OrderStatus, max_length=STATUS_LENGTH, default=OrderStatus.OPEN)
    reference = fields.CharField(max_length=64, null=True, unique=True)  # the shop's own id
    customer = fields.ForeignKeyField(
        "models.Customer", related_name="orders", null=True, on_delete=fields.SET_NULL
    )
    created_by = fields.ForeignKeyField(
        "models.Staff", related_name="orders", null=True, on_delete=fields.SET_NULL
    )
    created_via = fields.CharField(max_length=64, default="chat")  # chat, api:<key name>
    paid_receipt = fields.CharField(max_length=32, null=True)
    paid_at = fields.DatetimeField(null=True)
    email = fields.CharField(max_length=254, null=True)  # where the receipt e-mail goes
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "orders"


class MoneyIntent(Model):
    """What every money-moving record shares: its one POST, the lease on it, its queries.

    ``claimed_by``/``claimed_until`` is the lease: who works on the row until when (a conditional
    UPDATE takes it). ``post_state`` says whether the money POST may be sent (only ``not_sent``);
    ``answered_at`` is when the POST ended (answer or time-out), and every expiry counts from it.
    """

    _no_comments = True

    # database defaults too: rows that exist when the columns are added get them
    post_state = fields.CharEnumField(
        PostState,
        max_length=STATUS_LENGTH,
        default=PostState.NOT_SENT,
        db_default=PostState.NOT_SENT.value,
    )
    post_count = fields.IntField(default=0, db_default=0)  # money POSTs started for this record
    claimed_by = fields.CharField(max_length=64, null=True)
    claimed_until = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    answered_at = fields.DatetimeField(null=True)
    # reconciliation: how often M-Pesa was asked, and when the next question is due
    query_count = fields.IntField(default=0, db_default=0)
    next_query_at = fields.DatetimeField(null=True, db_index=True)
    # a person's decision on a parked record: when the fresh look at M-Pesa they decide after
    # was shown, then who decided and when
    looked_at = fields.DatetimeField(null=True)
    resolved_by = fields.CharField(max_length=64, null=True)
    resolved_at = fields.DatetimeField(null=True)

    class Meta:
        abstract = True


PROVIDER_LENGTH = 16


def provider_field() -> fields.CharEnumField:
    """Which provider a money record belongs to; rows from before Airtel are M-Pesa's."""
    return fields.CharEnumField(
        Provider,
        max_length=PROVIDER_LENGTH,
        default=Provider.MPESA,
        db_default=Provider.MPESA.value,
        db_index=True,
    )


class Payment(MoneyIntent):
    """One payment request (an STK Push or an Airtel USSD push), recorded before it is sent."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    provider = provider_field()
    order = fields.ForeignKeyField(
        "models.Order", related_name="payments", null=True, on_delete=fields.RESTRICT
    )
    customer = fields.ForeignKeyField(
        "models.Customer", related_name="payments", null=True, on_delete=fields.SET_NULL
    )
    initiated_by = fields.ForeignKeyField(
        "models.Staff", related_name="payments", null=True, on_delete=fields.SET_NULL
    )
    initiated_via = fields.CharField(max_length=64, default="chat")
    msisdn = fields.CharField(max_length=12, db_index=True)
    amount = fields.BigIntField()
    account_reference = fields.CharField(max_length=32)
    description = fields.CharField(max_length=255, default="")
    status = fields.CharEnumField(
        PaymentStatus, max_length=STATUS_LENGTH, default=PaymentStatus.CREATED, db_index=True
    )
    attempt = fields.IntField(default=1)
    # the one phone with a prompt open: unique while in flight, NULL once settled
    in_flight_msisdn = fields.CharField(max_length=12, null=True, unique=True)
    in_flight_order_id = fields.IntField(null=True, unique=True)
    merchant_request_id = fields.CharField(max_length=96, null=True)
    checkout_request_id = fields.CharField(max_length=96, null=True, unique=True)
    # Airtel: our transaction.id, chosen before the push, so even an unknown push can be asked
    transaction_id = fields.CharField(max_length=32, null=True, unique=True)
    result_code = fields.CharField(max_length=32, null=True)
    result_desc = fields.CharField(max_length=255, null=True)
    receipt = fields.CharField(max_length=32, null=True, unique=True)
    paid_amount = fields.BigIntField(null=True)
    paid_phone = fields.CharField(max_length=80, null=True)  # as reported: may be masked
    paid_at = fields.DatetimeField(null=True)
    review_reason = fields.CharField(max_length=255, null=True)
    # attempts of one intent: this one was sent again as ``superseded_by_id`` (only the newest
    # attempt offers [Retry]); ``retry_of_id`` is unique, so two presses make one new attempt
    retry_of_id = fields.IntField(null=True, unique=True)
    superseded_by_id = fields.IntField(null=True)
    reversed_at = fields.DatetimeField(null=True)
    # where the live status message is, so any instance can edit it
    chat_id = fields.BigIntField(null=True)
    message_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "payment"


class Payout(MoneyIntent):
    """One payout: a B2C or an Airtel disbursement, with our idempotency key for the provider.

    ``originator_conversation_id`` is that key: Daraja's OriginatorConversationID, or Airtel's
    ``transaction.id`` (at most 32 letters and digits).
    """

    _no_comments = True

    id = fields.IntField(primary_key=True)
    provider = provider_field()
    originator_conversation_id = fields.CharField(max_length=64, unique=True)
    conversation_id = fields.CharField(max_length=96, null=True, unique=True)
    msisdn = fields.CharField(max_length=12, db_index=True)
    amount = fields.BigIntField()
    command_id = fields.CharField(max_length=32, default="BusinessPayment")
    remarks = fields.CharField(max_length=100)
    occasion = fields.CharField(max_length=100, default="")
    status = fields.CharEnumField(
        PayoutStatus,
        max_length=STATUS_LENGTH,
        default=PayoutStatus.AWAITING_CONFIRMATION,
        db_index=True,
    )
    initiated_by = fields.ForeignKeyField(
        "models.Staff", related_name="payouts", on_delete=fields.RESTRICT
    )
    confirmed_by = fields.ForeignKeyField(
        "models.Staff", related_name="confirmed_payouts", null=True, on_delete=fields.SET_NULL
    )
    approved_by = fields.ForeignKeyField(
        "models.Staff", related_name="approved_payouts", null=True, on_delete=fields.SET_NULL
    )
    rejected_by = fields.ForeignKeyField(
        "models.Staff", related_name="rejected_payouts", null=True, on_delete=fields.SET_NULL
    )
    needs_approval = fields.BooleanField(default=False)
    result_code = fields.CharField(max_length=32, null=True)
    result_desc = fields.CharField(max_length=255, null=True)
    receipt = fields.CharField(max_length=32, null=True, unique=True)
    receiver_name = fields.CharField(max_length=128, null=True)
    completed_at = fields.DatetimeField(null=True)
    submitted_at = fields.DatetimeField(null=True)
    # the daily limit counts a payout on the Nairobi day of its confirmation
    confirmed_at = fields.DatetimeField(null=True, db_index=True)
    chat_id = fields.BigIntField(null=True)
    message_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "payout"


class Reversal(MoneyIntent):
    """A reversal of a payment we received, asked for by an admin."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    receipt = fields.CharField(max_length=32, unique=True)  # the payment being reversed
    amount = fields.BigIntField()
    remarks = fields.CharField(max_length=100)
    status = fields.CharEnumField(
        ReversalStatus, max_length=STATUS_LENGTH, default=ReversalStatus.SUBMITTING
    )
    requested_by = fields.ForeignKeyField(
        "models.Staff", related_name="reversals", on_delete=fields.RESTRICT
    )
    originator_conversation_id = fields.CharField(max_length=96, null=True, unique=True)
    conversation_id = fields.CharField(max_length=96, null=True, unique=True)
    result_code = fields.CharField(max_length=32, null=True)
    result_desc = fields.CharField(max_length=255, null=True)
    reversal_receipt = fields.CharField(max_length=32, null=True)
    chat_id = fields.BigIntField(null=True)
    message_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "reversal"


class DarajaQuery(Model):
    """An asynchronous question to Daraja (balance, transaction status) waiting for its callback."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(QueryKind, max_length=STATUS_LENGTH)
    status = fields.CharEnumField(QueryStatus, max_length=STATUS_LENGTH, default=QueryStatus.SENT)
    originator_conversation_id = fields.CharField(max_length=96, null=True, unique=True)
    conversation_id = fields.CharField(max_length=96, null=True, unique=True)
    payout = fields.ForeignKeyField(
        "models.Payout", related_name="queries", null=True, on_delete=fields.CASCADE
    )
    reversal = fields.ForeignKeyField(
        "models.Reversal", related_name="queries", null=True, on_delete=fields.CASCADE
    )
    requested_by = fields.ForeignKeyField(
        "models.Staff", related_name="queries", null=True, on_delete=fields.SET_NULL
    )
    chat_id = fields.BigIntField(null=True)
    result_code = fields.CharField(max_length=32, null=True)
    result = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    answered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "daraja_query"


class C2BTransaction(Model):
    """A payment a customer made to the paybill directly (or the C2B echo of an STK payment)."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    trans_id = fields.CharField(max_length=32, unique=True)
    transaction_type = fields.CharField(max_length=32, default="")
    amount = fields.BigIntField()
    shortcode = fields.CharField(max_length=16)
    bill_ref_number = fields.CharField(max_length=64, default="")
    msisdn = fields.CharField(max_length=80, default="")  # masked or hashed by Safaricom
    payer_name = fields.CharField(max_length=128, default="")
    org_account_balance = fields.CharField(max_length=32, default="")
    order = fields.ForeignKeyField(
        "models.Order", related_name="c2b_payments", null=True, on_delete=fields.SET_NULL
    )
    trans_time = fields.DatetimeField(null=True)
    reversed_at = fields.DatetimeField(null=True)  # a completed reversal sent it back
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "c2b_transaction"


class CallbackInbox(Model):
    """Every callback body exactly as received, stored before anything else happens."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(CallbackKind, max_length=STATUS_LENGTH, db_index=True)
    body = fields.TextField()
    remote_addr = fields.CharField(max_length=64, default="")
    status = fields.CharEnumField(
        InboxStatus, max_length=STATUS_LENGTH, default=InboxStatus.RECEIVED, db_index=True
    )
    match_key = fields.CharField(max_length=96, null=True, db_index=True)  # e.g. CheckoutRequestID
    error = fields.TextField(null=True)
    received_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "callback_inbox"


class Notification(Model):
    """The outbox, written with the state change that causes it and delivered (or retried) later."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    event_key = fields.CharField(max_length=128, unique=True)  # one message per event and channel
    channel = fields.CharEnumField(NotificationChannel, max_length=STATUS_LENGTH)
    recipient = fields.CharField(max_length=255)  # chat id, msisdn or URL
    payload = fields.JSONField()
    status = fields.CharEnumField(
        NotificationStatus,
        max_length=STATUS_LENGTH,
        default=NotificationStatus.PENDING,
        db_index=True,
    )
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    claimed_until = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notification"


class AuditEvent(Model):
    """Who did what, when, and how it ended."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    actor = fields.CharField(max_length=64)  # tg:<id>, api:<key name>, daraja, system, cli
    action = fields.CharField(max_length=64, db_index=True)
    subject = fields.CharField(max_length=64, default="")  # payment:12, payout:3, staff:99
    outcome = fields.CharField(max_length=32, default="ok")
    detail = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_event"


class ApiKey(Model):
    """A REST API key of a shop backend (only a hash of the key is stored)."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    prefix = fields.CharField(max_length=16, unique=True)
    key_hash = fields.CharField(max_length=128)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_key"


class IdempotencyRecord(Model):
    """The first answer to an API POST with an Idempotency-Key, replayed for repeats."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    api_key = fields.ForeignKeyField("models.ApiKey", related_name="idempotency_records")
    key = fields.CharField(max_length=128)
    request_hash = fields.CharField(max_length=64)
    status_code = fields.IntField(null=True)  # None while the first request is still running
    response = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_record"
        unique_together = (("api_key", "key"),)
