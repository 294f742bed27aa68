"""Schedules: payouts and payment requests on a calendar, one occurrence row per due time.

The unique (schedule, due_at) pair is what makes an occurrence run once: whichever worker inserts
it owns it, across restarts, clock jumps and several instances.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import OccurrenceStatus
from models.enums import ScheduleFrequency
from models.enums import ScheduleKind
from models.enums import ScheduleStatus
from models.tables import STATUS_LENGTH


class Schedule(Model):
    """A payout or an STK payment request to one phone, repeated on a calendar (Nairobi time)."""

    _no_comments = True  # see models/tables.py

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(ScheduleKind, max_length=STATUS_LENGTH)
    status = fields.CharEnumField(
        ScheduleStatus,
        max_length=STATUS_LENGTH,
        default=ScheduleStatus.AWAITING_CONFIRMATION,
        db_index=True,
    )
    msisdn = fields.CharField(max_length=12)
    amount = fields.BigIntField()
    name = fields.CharField(max_length=128, default="")  # the recipient or customer
    description = fields.CharField(max_length=100, default="")  # payout remarks / what it is for
    # the calendar (bot/services/calendar.py): local Nairobi days and time of day
    frequency = fields.CharEnumField(ScheduleFrequency, max_length=STATUS_LENGTH)
    start_on = fields.DateField()
    at_minute = fields.IntField()  # minutes after local midnight
    weekdays = fields.CharField(max_length=32, default="")  # "0,4": Monday and Friday
    month_day = fields.IntField(null=True)
    until_on = fields.DateField(null=True)
    max_count = fields.IntField(null=True)
    # where the calendar stands: the next due time and how many occurrences passed
    next_due_at = fields.DatetimeField(null=True, db_index=True)
    occurrence_count = fields.IntField(default=0)
    noticed_due_at = fields.DatetimeField(null=True)  # the customer's SMS went out for this one
    reminded_due_at = fields.DatetimeField(null=True)  # the admins' reminder went out for this one
    # the same decision columns as PayoutBatch and Payout: kept per table, like its migration
    created_by = fields.ForeignKeyField(
        "models.Staff", related_name="created_schedules", null=True, on_delete=fields.SET_NULL
    )
    created_via = fields.CharField(max_length=64, default="chat")  # chat, api:<key name>
    confirmed_by = fields.ForeignKeyField(
        "models.Staff", related_name="confirmed_schedules", null=True, on_delete=fields.SET_NULL
    )
    approved_by = fields.ForeignKeyField(
        "models.Staff", related_name="approved_schedules", null=True, on_delete=fields.SET_NULL
    )
    rejected_by = fields.ForeignKeyField(
        "models.Staff", related_name="rejected_schedules", null=True, on_delete=fields.SET_NULL
    )
    cancelled_by = fields.ForeignKeyField(
        "models.Staff", related_name="cancelled_schedules", null=True, on_delete=fields.SET_NULL
    )
    needs_approval = fields.BooleanField(default=False)
    version = fields.IntField(default=1)  # a change goes back through confirmation (and approval)
    chat_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "schedule"


class ScheduleOccurrence(Model):
    """One due time of a schedule: ran (with its payout or payment), skipped or missed."""

    _no_comments = True  # see models/tables.py

    id = fields.IntField(primary_key=True)
    schedule = fields.ForeignKeyField(
        "models.Schedule", related_name="occurrences", on_delete=fields.CASCADE
    )
    due_at = fields.DatetimeField()
    number = fields.IntField()  # 1 for the schedule's first occurrence
    status = fields.CharEnumField(OccurrenceStatus, max_length=STATUS_LENGTH, db_index=True)
    payout = fields.OneToOneField(
        "models.Payout", related_name="occurrence", null=True, on_delete=fields.RESTRICT
    )
    payment = fields.OneToOneField(
        "models.Payment", related_name="occurrence", null=True, on_delete=fields.RESTRICT
    )
    note = fields.CharField(max_length=255, default="")
    claimed_until = fields.DatetimeField(null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "schedule_occurrence"
        unique_together = (("schedule", "due_at"),)
