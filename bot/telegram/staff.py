"""The staff side of the bot: cashiers and admins request, send, look up, report and manage.

The handlers live by noun in staff_payments, staff_payouts, staff_reports, staff_admin and
staff_resolve; this module registers them all.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application
from telegram.ext import ContextTypes
from telegram.ext import TypeHandler

from bot.telegram import staff_admin
from bot.telegram import staff_bulk
from bot.telegram import staff_dashboard
from bot.telegram import staff_payments
from bot.telegram import staff_payouts
from bot.telegram import staff_reports
from bot.telegram import staff_resolve
from bot.telegram import staff_schedules

log = logging.getLogger(__name__)

# before every other handler, in a group of its own
NAMES_GROUP = -1


def register(app: Application, services: Any) -> None:
    """Add every staff command, button and the staff help to the application."""
    for module in (
        staff_payments,
        staff_payouts,
        staff_reports,
        staff_admin,
        staff_resolve,
        staff_dashboard,
        staff_bulk,
        staff_schedules,
    ):
        module.register(app, services)
    app.add_handler(TypeHandler(Update, NameKeeper(services).on_update), group=NAMES_GROUP)


class NameKeeper:
    """Keeps each staff member's Telegram name as their updates show it (cards and /staff)."""

    def __init__(self, services: Any) -> None:
        self._services = services

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Any update: note who sent it under which name (written only when it changed)."""
        user = update.effective_user
        if user is None or user.is_bot:
            return
        try:
            await self._services.staff.note_name(user.id, user.full_name)
        except Exception:
            # a name is never worth failing the update over; the next one tries again
            log.warning("staff.name_not_kept user=%s", user.id, exc_info=True)
