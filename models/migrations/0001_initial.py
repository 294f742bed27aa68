from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.enums import (
    CallbackKind,
    InboxStatus,
    NotificationChannel,
    NotificationStatus,
    OrderStatus,
    PaymentStatus,
    PayoutStatus,
    QueryKind,
    QueryStatus,
    ReversalStatus,
    StaffRole,
)
from tortoise.fields.base import OnDelete
from tortoise import fields


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="ApiKey",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("name", fields.CharField(unique=True, max_length=64)),
                ("prefix", fields.CharField(unique=True, max_length=16)),
                ("key_hash", fields.CharField(max_length=128)),
                ("active", fields.BooleanField(default=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "last_used_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "api_key",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A REST API key of a shop backend (only a hash of the key is stored).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AuditEvent",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("actor", fields.CharField(max_length=64)),
                ("action", fields.CharField(db_index=True, max_length=64)),
                ("subject", fields.CharField(default="", max_length=64)),
                ("outcome", fields.CharField(default="ok", max_length=32)),
                (
                    "detail",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "created_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
                ),
            ],
            options={
                "table": "audit_event",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Who did what, when, and how it ended.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CallbackInbox",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        db_index=True,
                        description="STK: stk\nB2C_RESULT: b2c_result\nB2C_TIMEOUT: b2c_timeout\nSTATUS_RESULT: status_result\nSTATUS_TIMEOUT: status_timeout\nBALANCE_RESULT: balance_result\nBALANCE_TIMEOUT: balance_timeout\nREVERSAL_RESULT: reversal_result\nREVERSAL_TIMEOUT: reversal_timeout\nC2B_VALIDATION: c2b_validation\nC2B_CONFIRMATION: c2b_confirmation",
                        enum_type=CallbackKind,
                        max_length=32,
                    ),
                ),
                ("body", fields.TextField(unique=False)),
                ("remote_addr", fields.CharField(default="", max_length=64)),
                (
                    "status",
                    fields.CharEnumField(
                        default=InboxStatus.RECEIVED,
                        db_index=True,
                        description="RECEIVED: received\nPROCESSED: processed\nUNMATCHED: unmatched\nDUPLICATE: duplicate\nREJECTED: rejected",
                        enum_type=InboxStatus,
                        max_length=32,
                    ),
                ),
                ("match_key", fields.CharField(null=True, db_index=True, max_length=96)),
                ("error", fields.TextField(null=True, unique=False)),
                ("received_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "processed_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "callback_inbox",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Every callback body exactly as received, stored before anything else happens.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Customer",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("telegram_id", fields.BigIntField(null=True, unique=True)),
                ("chat_id", fields.BigIntField(null=True)),
                ("msisdn", fields.CharField(null=True, db_index=True, max_length=12)),
                ("name", fields.CharField(default="", max_length=128)),
                ("conversation_state", fields.CharField(default="", max_length=32)),
                ("conversation_order_id", fields.IntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "customer",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Someone who pays: by Telegram, or only by phone (SMS receipts).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="IdempotencyRecord",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "api_key",
                    fields.ForeignKeyField(
                        "models.ApiKey",
                        source_field="api_key_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="idempotency_records",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("key", fields.CharField(max_length=128)),
                ("request_hash", fields.CharField(max_length=64)),
                ("status_code", fields.IntField(null=True)),
                (
                    "response",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "idempotency_record",
                "app": "models",
                "unique_together": (("api_key", "key"),),
                "pk_attr": "id",
                "table_description": "The first answer to an API POST with an Idempotency-Key, replayed for repeats.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Notification",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("event_key", fields.CharField(unique=True, max_length=128)),
                (
                    "channel",
                    fields.CharEnumField(
                        description="CHAT: chat\nSMS: sms\nWEBHOOK: webhook",
                        enum_type=NotificationChannel,
                        max_length=32,
                    ),
                ),
                ("recipient", fields.CharField(max_length=255)),
                (
                    "payload",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=NotificationStatus.PENDING,
                        db_index=True,
                        description="PENDING: pending\nSENDING: sending\nSENT: sent\nFAILED: failed",
                        enum_type=NotificationStatus,
                        max_length=32,
                    ),
                ),
                ("attempts", fields.IntField(default=0)),
                (
                    "next_attempt_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "claimed_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("last_error", fields.TextField(null=True, unique=False)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "notification",
                "app": "models",
                "pk_attr": "id",
                "table_description": "The outbox, written with the state change that causes it and delivered (or retried) later.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Staff",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("telegram_id", fields.BigIntField(unique=True)),
                ("name", fields.CharField(default="", max_length=128)),
                (
                    "role",
                    fields.CharEnumField(
                        description="ADMIN: admin\nCASHIER: cashier",
                        enum_type=StaffRole,
                        max_length=32,
                    ),
                ),
                ("active", fields.BooleanField(default=True)),
                ("daily_payout_limit", fields.BigIntField(null=True)),
                ("added_by_telegram_id", fields.BigIntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "staff",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A cashier or admin, known by Telegram user id.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Order",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("code", fields.CharField(unique=True, max_length=12)),
                ("amount", fields.BigIntField()),
                ("description", fields.CharField(default="", max_length=255)),
                (
                    "status",
                    fields.CharEnumField(
                        default=OrderStatus.OPEN,
                        description="OPEN: open\nPAID: paid\nCANCELLED: cancelled",
                        enum_type=OrderStatus,
                        max_length=32,
                    ),
                ),
                ("reference", fields.CharField(null=True, unique=True, max_length=64)),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "models.Customer",
                        source_field="customer_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="orders",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "created_by",
                    fields.ForeignKeyField(
                        "models.Staff",
                        source_field="created_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="orders",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("created_via", fields.CharField(default="chat", max_length=64)),
                ("paid_receipt", fields.CharField(null=True, max_length=32)),
                ("paid_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "orders",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Something to be paid, opened by a deep link code, the shop API or a C2B account number.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="C2BTransaction",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("trans_id", fields.CharField(unique=True, max_length=32)),
                ("transaction_type", fields.CharField(default="", max_length=32)),
                ("amount", fields.BigIntField()),
                ("shortcode", fields.CharField(max_length=16)),
                ("bill_ref_number", fields.CharField(default="", max_length=64)),
                ("msisdn", fields.CharField(default="", max_length=80)),
                ("payer_name", fields.CharField(default="", max_length=128)),
                ("org_account_balance", fields.CharField(default="", max_length=32)),
                (
                    "order",
                    fields.ForeignKeyField(
                        "models.Order",
                        source_field="order_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="c2b_payments",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("trans_time", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "created_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
                ),
            ],
            options={
                "table": "c2b_transaction",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A payment a customer made to the paybill directly (or the C2B echo of an STK payment).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Payment",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "order",
                    fields.ForeignKeyField(
                        "models.Order",
                        source_field="order_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="payments",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "models.Customer",
                        source_field="customer_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="payments",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "initiated_by",
                    fields.ForeignKeyField(
                        "models.Staff",
                        source_field="initiated_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="payments",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("initiated_via", fields.CharField(default="chat", max_length=64)),
                ("msisdn", fields.CharField(db_index=True, max_length=12)),
                ("amount", fields.BigIntField()),
                ("account_reference", fields.CharField(max_length=32)),
                ("description", fields.CharField(default="", max_length=255)),
                (
                    "status",
                    fields.CharEnumField(
                        default=PaymentStatus.CREATED,
                        db_index=True,
                        description="CREATED: created\nPENDING: pending\nUNKNOWN: unknown\nPAID: paid\nCANCELLED: cancelled\nINSUFFICIENT_FUNDS: insufficient_funds\nWRONG_PIN: wrong_pin\nTIMED_OUT: timed_out\nFAILED: failed\nREVIEW: review",
                        enum_type=PaymentStatus,
                        max_length=32,
                    ),
                ),
                ("attempt", fields.IntField(default=1)),
                ("in_flight_msisdn", fields.CharField(null=True, unique=True, max_length=12)),
                ("in_flight_order_id", fields.IntField(null=True, unique=True)),
                ("merchant_request_id", fields.CharField(null=True, max_length=96)),
                ("checkout_request_id", fields.CharField(null=True, unique=True, max_length=96)),
                ("result_code", fields.CharField(null=True, max_length=32)),
                ("result_desc", fields.CharField(null=True, max_length=255)),
                ("receipt", fields.CharField(null=True, unique=True, max_length=32)),
                ("paid_amount", fields.BigIntField(null=True)),
                ("paid_phone", fields.CharField(null=True, max_length=80)),
                ("paid_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("review_reason", fields.CharField(null=True, max_length=255)),
                ("query_count", fields.IntField(default=0)),
                (
                    "next_query_at",
                    fields.DatetimeField(
                        null=True, db_index=True, auto_now=False, auto_now_add=False
                    ),
                ),
                (
                    "claimed_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("chat_id", fields.BigIntField(null=True)),
                ("message_id", fields.BigIntField(null=True)),
                (
                    "created_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
                ),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "payment",
                "app": "models",
                "pk_attr": "id",
                "table_description": "One STK Push attempt, recorded before Daraja is called and settled by callback or query.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Payout",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("originator_conversation_id", fields.CharField(unique=True, max_length=64)),
                ("conversation_id", fields.CharField(null=True, unique=True, max_length=96)),
                ("msisdn", fields.CharField(db_index=True, max_length=12)),
                ("amount", fields.BigIntField()),
                ("command_id", fields.CharField(default="BusinessPayment", max_length=32)),
                ("remarks", fields.CharField(max_length=100)),
                ("occasion", fields.CharField(default="", max_length=100)),
                (
                    "status",
                    fields.CharEnumField(
                        default=PayoutStatus.AWAITING_CONFIRMATION,
                        db_index=True,
                        description="AWAITING_CONFIRMATION: awaiting_confirmation\nAWAITING_APPROVAL: awaiting_approval\nSUBMITTING: submitting\nSUBMITTED: submitted\nUNKNOWN: unknown\nCOMPLETED: completed\nFAILED: failed\nCANCELLED: cancelled\nREJECTED: rejected",
                        enum_type=PayoutStatus,
                        max_length=32,
                    ),
                ),
                (
                    "initiated_by",
                    fields.ForeignKeyField(
                        "models.Staff",
                        source_field="initiated_by_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="payouts",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "confirmed_by",
                    fields.ForeignKeyField(
                        "models.Staff",
                        source_field="confirmed_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="confirmed_payouts",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "approved_by",
                    fields.ForeignKeyField(
                        "models.Staff",
                        source_field="approved_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="approved_payouts",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("needs_approval", fields.BooleanField(default=False)),
                ("result_code", fields.CharField(null=True, max_length=32)),
                ("result_desc", fields.CharField(null=True, max_length=255)),
                ("receipt", fields.CharField(null=True, unique=True, max_length=32)),
                ("receiver_name", fields.CharField(null=True, max_length=128)),
                (
                    "completed_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "submitted_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("query_count", fields.IntField(default=0)),
                (
                    "next_query_at",
                    fields.DatetimeField(
                        null=True, db_index=True, auto_now=False, auto_now_add=False
                    ),
                ),
                (
                    "claimed_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("chat_id", fields.BigIntField(null=True)),
                ("message_id", fields.BigIntField(null=True)),
                (
                    "created_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
                ),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "payout",
                "app": "models",
                "pk_attr": "id",
                "table_description": "One B2C payout (our OriginatorConversationID is the idempotency key sent to Daraja).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="DarajaQuery",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="BALANCE: balance\nTRANSACTION_STATUS: transaction_status",
                        enum_type=QueryKind,
                        max_length=32,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=QueryStatus.SENT,
                        description="SENT: sent\nANSWERED: answered\nFAILED: failed",
                        enum_type=QueryStatus,
                        max_length=32,
                    ),
                ),
                (
                    "originator_conversation_id",
                    fields.CharField(null=True, unique=True, max_length=96),
                ),
                ("conversation_id", fields.CharField(null=True, unique=True, max_length=96)),
                (
                    "payout",
                    fields.ForeignKeyField(
                        "models.Payout",
                        source_field="payout_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="queries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "requested_by",
                    fields.ForeignKeyField(
                        "models.Staff",
                        source_field="requested_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="queries",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("chat_id", fields.BigIntField(null=True)),
                ("result_code", fields.CharField(null=True, max_length=32)),
                (
                    "result",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "answered_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "daraja_query",
                "app": "models",
                "pk_attr": "id",
                "table_description": "An asynchronous question to Daraja (balance, transaction status) waiting for its callback.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Reversal",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("receipt", fields.CharField(unique=True, max_length=32)),
                ("amount", fields.BigIntField()),
                ("remarks", fields.CharField(max_length=100)),
                (
                    "status",
                    fields.CharEnumField(
                        default=ReversalStatus.SUBMITTING,
                        description="SUBMITTING: submitting\nSUBMITTED: submitted\nUNKNOWN: unknown\nCOMPLETED: completed\nFAILED: failed",
                        enum_type=ReversalStatus,
                        max_length=32,
                    ),
                ),
                (
                    "requested_by",
                    fields.ForeignKeyField(
                        "models.Staff",
                        source_field="requested_by_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="reversals",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "originator_conversation_id",
                    fields.CharField(null=True, unique=True, max_length=96),
                ),
                ("conversation_id", fields.CharField(null=True, unique=True, max_length=96)),
                ("result_code", fields.CharField(null=True, max_length=32)),
                ("result_desc", fields.CharField(null=True, max_length=255)),
                ("reversal_receipt", fields.CharField(null=True, max_length=32)),
                ("chat_id", fields.BigIntField(null=True)),
                ("message_id", fields.BigIntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "reversal",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A reversal of a payment we received, asked for by an admin.",
            },
            bases=["Model"],
        ),
    ]
