"""Command menus: what each audience sees in Telegram's menu, published per chat by role."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Bot
from telegram import BotCommand
from telegram import BotCommandScopeChat
from telegram import BotCommandScopeDefault
from telegram.error import TelegramError
from telegram.ext import Application

from bot.i18n import ENGLISH
from bot.i18n import KISWAHILI
from bot.i18n import N_
from bot.i18n import translate
from models import Staff
from models import StaffRole

log = logging.getLogger(__name__)

CUSTOMER_MENU = [
    ("start", N_("Open an order or see what this bot does")),
    ("orders", N_("Your orders and their status")),
    ("phone", N_("Change the phone number you pay with")),
    ("language", N_("Kiswahili or English")),
    ("help", N_("How paying works")),
]


def customer_commands(language: str) -> list[BotCommand]:
    """The customers' command menu in ``language``."""
    return [BotCommand(name, translate(language, text)) for name, text in CUSTOMER_MENU]


CUSTOMER_COMMANDS = customer_commands(ENGLISH)
CASHIER_COMMANDS = [
    BotCommand("request", "Ask a customer to pay: /request <phone> <amount> [note]"),
    BotCommand("status", "Look up a payment: /status <ref>"),
    BotCommand("order", "Create an order link: /order <amount> <description>"),
    BotCommand("link", "Text a pay link: /link <phone> <amount> [description]"),
    BotCommand("history", "Recent payments: /history [today|week|month] [phone] [status]"),
    BotCommand("stats", "Totals: /stats [today|week|month]"),
    BotCommand("export", "CSV of payments: /export [today|week|month]"),
    BotCommand("dashboard", "A one-time sign-in link to the web dashboard"),
    BotCommand("help", "What you can do here"),
]
ADMIN_COMMANDS = [
    *CASHIER_COMMANDS[:-1],
    BotCommand("send", "Pay out: /send <phone> <amount> [reason]"),
    BotCommand("balance", "M-Pesa account balance"),
    BotCommand("reverse", "Reverse a received payment: /reverse <receipt>"),
    BotCommand("bulk", "Pay a list: send a CSV/XLSX with the caption /bulk"),
    BotCommand("schedule", "Payouts and requests on a calendar: /schedule pay|request|list …"),
    BotCommand("resolve", "Settle what M-Pesa left unclear: /resolve #12|P12|R12 [verdict]"),
    BotCommand("staff", "Manage staff: /staff, /staff add|remove|limit …"),
    BotCommand("help", "What you can do here"),
]


async def publish_commands(app: Application, services: Any) -> None:
    """Menus per audience: customers by default, each staff member's own chat by role."""
    await app.bot.set_my_commands(CUSTOMER_COMMANDS, scope=BotCommandScopeDefault())
    # Telegram shows this menu to users whose app is in Kiswahili
    await app.bot.set_my_commands(
        customer_commands(KISWAHILI), scope=BotCommandScopeDefault(), language_code=KISWAHILI
    )
    # removed staff too: their old menu is taken away (they may have been removed from the CLI)
    for member in await services.staff.everyone():
        await update_menu(app.bot, member)


async def update_menu(bot: Bot, member: Staff) -> None:
    """Show a staff member their role's menu, or take it away once they are no longer staff."""
    scope = BotCommandScopeChat(chat_id=member.telegram_id)
    try:
        if not member.active:
            # without a menu of their own they see the customers' default one
            await bot.delete_my_commands(scope=scope)
        else:
            admin = StaffRole(member.role) is StaffRole.ADMIN
            await bot.set_my_commands(ADMIN_COMMANDS if admin else CASHIER_COMMANDS, scope=scope)
    except TelegramError as exc:
        # a staff member who never opened the bot has no chat yet
        log.info("commands.skip staff=%s reason=%s", member.telegram_id, exc)
