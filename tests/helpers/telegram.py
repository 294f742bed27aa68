"""Drive the real bot Application offline: real-shaped updates in, recorded Bot API calls out."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.config import Settings
from bot.notify.channels import Channel
from bot.services.container import Services
from bot.services.container import build_services
from bot.telegram.app import build_offline_application
from bot.telegram.transport import ApiCall
from bot.telegram.transport import InProcessBotApi
from bot.telegram.transport import callback_query
from bot.telegram.transport import contact_message
from bot.telegram.transport import text_message
from bot.telegram.transport import user_payload
from models import NotificationChannel
from models import Staff
from models import StaffRole
from tests.helpers.fakes import FakeDaraja

ADMIN_ID = 1001  # a bootstrap admin in the settings fixture
CASHIER_ID = 2002
STRANGER_ID = 5555

_update_ids = itertools.count(1)


def user(user_id: int, first_name: str = "User") -> dict[str, Any]:
    """A Telegram User object."""
    return user_payload(user_id, first_name)


def message(user_id: int, text: str, *, first_name: str = "User", **extra: Any) -> dict[str, Any]:
    """A private-chat Message from ``user_id``; a leading /command gets its entity."""
    return {**text_message(user_id, first_name, text), **extra}


class TelegramHarness:
    """The application plus its in-process Bot API; helpers send updates and read replies."""

    def __init__(self, app: Application, api: InProcessBotApi) -> None:
        self.app = app
        self.api = api

    @classmethod
    async def start(cls, settings: Settings, services: Any) -> TelegramHarness:
        """Build and initialize the real Application on the in-process Bot API."""
        api = InProcessBotApi()
        app = build_offline_application(settings, services, api)
        await app.initialize()
        return cls(app, api)

    async def stop(self) -> None:
        await self.app.shutdown()

    async def _feed(self, payload: dict[str, Any]) -> list[ApiCall]:
        before = len(self.api.calls)
        payload = {"update_id": next(_update_ids), **payload}
        if "message" in payload:
            self.api.received(payload["message"])
        await self.app.process_update(Update.de_json(payload, self.app.bot))
        return self.api.calls[before:]

    async def send(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "User",
        language_code: str | None = None,
    ) -> list[ApiCall]:
        """The user types ``text`` (a command or free text) in their private chat."""
        msg = message(user_id, text, first_name=first_name)
        _with_language(msg, language_code)
        return await self._feed({"message": msg})

    async def share_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        contact_user_id: int | None = None,
        language_code: str | None = None,
    ) -> list[ApiCall]:
        """The user taps "Share my phone number" (or forwards someone else's contact)."""
        msg = contact_message(user_id, "User", phone_number, contact_user_id=contact_user_id)
        msg["contact"]["first_name"] = "Contact"
        _with_language(msg, language_code)
        return await self._feed({"message": msg})

    async def press(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int,
        chat_id: int | None = None,
        language_code: str | None = None,
        first_name: str = "User",
    ) -> list[ApiCall]:
        """The user presses an inline button with callback ``data`` on a bot message."""
        chat = user_id if chat_id is None else chat_id
        shown = self.api.message(chat, message_id) or {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private"},
            "text": "",
        }
        query = callback_query(user_id, first_name, data, shown)
        _with_language(query, language_code)
        return await self._feed({"callback_query": query})

    def texts(self, calls: list[ApiCall], method: str | None = None) -> list[str]:
        """The texts of sendMessage/editMessageText calls among ``calls``."""
        wanted = {method} if method else {"sendMessage", "editMessageText"}
        return [str(c.params.get("text", "")) for c in calls if c.method in wanted]

    def last_message(self, chat_id: int) -> dict[str, Any]:
        """The newest message in a chat as it is shown now (after edits)."""
        return self.api.chat_messages(chat_id)[-1]


@dataclass
class World:
    """The bot on an in-process Bot API, its services and the fake Daraja behind them."""

    h: TelegramHarness
    services: Services
    daraja: FakeDaraja


@asynccontextmanager
async def staff_world(
    settings: Settings,
    *members: tuple[int, StaffRole, str],
    channels: dict[NotificationChannel, Channel] | None = None,
) -> AsyncIterator[World]:
    """The real Application over the real services and a FakeDaraja, with these staff members."""
    daraja = FakeDaraja()
    services = build_services(settings, daraja=daraja, channels=channels or {})
    for telegram_id, role, name in members:
        await Staff.create(telegram_id=telegram_id, role=role, name=name)
    h = await TelegramHarness.start(settings, services)
    try:
        yield World(h, services, daraja)
    finally:
        await h.stop()


def _with_language(payload: dict[str, Any], language_code: str | None) -> None:
    """Set the sender's Telegram app language (``from.language_code``) when one is given."""
    if language_code is not None:
        payload["from"] = {**payload["from"], "language_code": language_code}
