"""Bulk payouts: a batch read from a file or the API, one row per line, one payout per sent row.

A row's payout is created when the batch is confirmed (reserving the daily limit) and sent at the
batch's pace through the same payout path as /send; the batch only decides whose turn it is.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import BatchRowStatus
from models.enums import BatchStatus
from models.tables import STATUS_LENGTH


class PayoutBatch(Model):
    """A list of payouts confirmed, approved, paced, paused or cancelled together."""

    _no_comments = True  # see models/tables.py

    id = fields.IntField(primary_key=True)
    status = fields.CharEnumField(
        BatchStatus,
        max_length=STATUS_LENGTH,
        default=BatchStatus.AWAITING_CONFIRMATION,
        db_index=True,
    )
    description = fields.CharField(max_length=100, default="")
    source = fields.CharField(max_length=64, default="chat")  # chat, api:<key name>, dashboard
    file_name = fields.CharField(max_length=255, null=True)
    file_format = fields.CharField(max_length=8, default="json")  # csv, xlsx, json
    content_hash = fields.CharField(max_length=64, null=True, db_index=True)
    # the same decision columns as Schedule and Payout: kept per table, like its migration
    created_by = fields.ForeignKeyField(
        "models.Staff", related_name="created_batches", null=True, on_delete=fields.SET_NULL
    )
    confirmed_by = fields.ForeignKeyField(
        "models.Staff", related_name="confirmed_batches", null=True, on_delete=fields.SET_NULL
    )
    approved_by = fields.ForeignKeyField(
        "models.Staff", related_name="approved_batches", null=True, on_delete=fields.SET_NULL
    )
    rejected_by = fields.ForeignKeyField(
        "models.Staff", related_name="rejected_batches", null=True, on_delete=fields.SET_NULL
    )
    cancelled_by = fields.ForeignKeyField(
        "models.Staff", related_name="cancelled_batches", null=True, on_delete=fields.SET_NULL
    )
    needs_approval = fields.BooleanField(default=False)
    row_count = fields.IntField(default=0)
    valid_count = fields.IntField(default=0)
    rejected_count = fields.IntField(default=0)
    total_amount = fields.BigIntField(default=0)  # of the valid rows, whole shillings
    retry_of = fields.ForeignKeyField(
        "models.PayoutBatch", related_name="retries", null=True, on_delete=fields.SET_NULL
    )
    # pacing, shared by every instance: the next row may leave at next_send_at
    next_send_at = fields.DatetimeField(null=True, db_index=True)
    pace_per_s = fields.FloatField(null=True)  # lowered after a spike arrest, then recovers
    progress_key = fields.CharField(max_length=128, default="")  # the counts last shown
    chat_id = fields.BigIntField(null=True)  # where the live progress message is
    message_id = fields.BigIntField(null=True)
    confirmed_at = fields.DatetimeField(null=True)
    settled_at = fields.DatetimeField(null=True)  # every sent row reached a final state
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "payout_batch"


class PayoutBatchRow(Model):
    """One line of a batch: as written, as checked, and the payout that carries it."""

    _no_comments = True  # see models/tables.py

    id = fields.IntField(primary_key=True)
    batch = fields.ForeignKeyField(
        "models.PayoutBatch", related_name="rows", on_delete=fields.CASCADE
    )
    line = fields.IntField()  # line of the file (or position in the API's rows, from 1)
    raw_phone = fields.CharField(max_length=64, default="")
    raw_amount = fields.CharField(max_length=32, default="")
    msisdn = fields.CharField(max_length=12, null=True)
    amount = fields.BigIntField(null=True)
    name = fields.CharField(max_length=128, default="")
    reference = fields.CharField(max_length=100, default="")
    status = fields.CharEnumField(BatchRowStatus, max_length=STATUS_LENGTH, db_index=True)
    error = fields.CharField(max_length=255, null=True)  # why a row was rejected
    warning = fields.CharField(max_length=255, null=True)  # worth a look, still sent
    payout = fields.OneToOneField(
        "models.Payout", related_name="batch_row", null=True, on_delete=fields.RESTRICT
    )

    class Meta:
        table = "payout_batch_row"
        unique_together = (("batch", "line"),)


class BulkUploadWait(Model):
    """An admin typed /bulk without a file: their next document is the batch file."""

    _no_comments = True  # see models/tables.py

    id = fields.IntField(primary_key=True)
    telegram_id = fields.BigIntField(unique=True)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "bulk_upload_wait"
