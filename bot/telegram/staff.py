"""The staff side of the bot: cashiers and admins request, send, look up, report and manage.

The handlers live by noun in staff_payments, staff_payouts, staff_reports, staff_admin and
staff_resolve; this module registers them all.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.telegram import (
    staff_admin,
    staff_bulk,
    staff_dashboard,
    staff_payments,
    staff_payouts,
    staff_reports,
    staff_resolve,
    staff_schedules,
)


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
