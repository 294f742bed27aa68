"""The audit log: who did what, when, and how it ended."""

from __future__ import annotations

import logging
from typing import Any

from models import AuditEvent

log = logging.getLogger(__name__)


def actor_for_telegram(user_id: int) -> str:
    """Audit actor name for a Telegram user."""
    return f"tg:{user_id}"


async def audit(
    actor: str,
    action: str,
    *,
    subject: str = "",
    outcome: str = "ok",
    **detail: Any,
) -> AuditEvent:
    """Record one audit event (inside the caller's transaction, if any)."""
    event = await AuditEvent.create(
        actor=actor, action=action, subject=subject, outcome=outcome, detail=detail
    )
    log.info("audit actor=%s action=%s subject=%s outcome=%s", actor, action, subject, outcome)
    return event
