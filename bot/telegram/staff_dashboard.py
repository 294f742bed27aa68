"""/dashboard: a staff member's one-time sign-in link to the web dashboard."""

from __future__ import annotations

from typing import Any

from telegram import LinkPreviewOptions
from telegram import Update
from telegram.ext import Application
from telegram.ext import CommandHandler
from telegram.ext import ContextTypes
from telegram.ext import filters

from bot.services.dashboard import login_url
from bot.services.errors import ServiceError
from bot.telegram import staff_texts
from bot.telegram import texts
from bot.telegram.staff_base import ANYONE
from bot.telegram.staff_base import StaffHandlerBase
from bot.telegram.staff_base import reply


class DashboardHandlers(StaffHandlerBase):
    """The sign-in link command."""

    async def dashboard_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/dashboard: answer with a link PUBLIC_BASE_URL/dashboard/login/<token> (any staff)."""
        member = await self.member(update, ANYONE, "dashboard")
        if member is None:
            return
        settings = self._services.settings
        if not settings.dashboard_enabled or not settings.public_base_url:
            await reply(update, texts.refusal(staff_texts.DASHBOARD_OFF))
            return
        try:
            token = await self._services.dashboard.issue_link(member.telegram_id)
        except ServiceError as exc:
            await self.refuse(update, exc)
            return
        url = login_url(settings.public_base_url, token)
        # no preview: the link is personal, and nobody but the person should fetch it
        await update.effective_message.reply_html(
            staff_texts.dashboard_link(url, self._services.dashboard.link_ttl_s),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )


def register(app: Application, services: Any) -> None:
    """Add /dashboard."""
    handlers = DashboardHandlers(services)
    app.add_handler(
        CommandHandler("dashboard", handlers.dashboard_cmd, filters=filters.UpdateType.MESSAGE)
    )
