"""The staff dashboard's sign-in: one-time links sent by the bot, and the sessions they open.

Only SHA-256 hashes of the link token and of the session token are stored: a copy of the
database signs nobody in.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class DashboardLink(Model):
    """A one-time sign-in link the bot gave one staff member (single use, short-lived)."""

    _no_comments = True  # see models/tables.py

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    staff = fields.ForeignKeyField(
        "models.Staff", related_name="dashboard_links", on_delete=fields.CASCADE
    )
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "dashboard_link"


class DashboardSession(Model):
    """A signed-in browser: ended by Sign out, the idle time-out or the person's removal."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    staff = fields.ForeignKeyField(
        "models.Staff", related_name="dashboard_sessions", on_delete=fields.CASCADE
    )
    link = fields.OneToOneField(
        "models.DashboardLink", related_name="session", null=True, on_delete=fields.SET_NULL
    )
    last_seen_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    end_reason = fields.CharField(max_length=32, null=True)  # signed_out, idle, removed
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "dashboard_session"
