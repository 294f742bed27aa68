"""Plumbing shared by the staff handlers: the role gate, replies, edits and button answers."""

from __future__ import annotations

import logging
import re
from typing import Any

from telegram import CallbackQuery
from telegram import InlineKeyboardMarkup
from telegram import Message
from telegram import Update
from telegram.error import BadRequest

from bot.services.audit import actor_for_telegram
from bot.services.errors import NotAllowed
from bot.services.errors import ServiceError
from bot.telegram import staff_keyboards
from bot.telegram import staff_texts
from bot.telegram import texts
from models import Payout
from models import Staff
from models import StaffRole

log = logging.getLogger(__name__)

ANYONE = (StaffRole.ADMIN, StaffRole.CASHIER)
ADMIN = (StaffRole.ADMIN,)

# "/request 0708374149 1 500": a space typed for the thousands separator, or KES 1 for "500"?
AMOUNT_HEAD = re.compile(r"[1-9][0-9]{0,2}")
THREE_DIGITS = re.compile(r"[0-9]{3}")
AMOUNT_DIGITS_MAX = 9  # no amount a button names is longer


class StaffHandlerBase:
    """Holds the services; gates commands by role and renders refusals."""

    def __init__(self, services: Any) -> None:
        self._services = services

    async def member(
        self, update: Update, roles: tuple[StaffRole, ...], action: str
    ) -> Staff | None:
        """The staff member when they hold one of ``roles``; else replies a refusal, None."""
        refusal = await self.refusal_for(update.effective_user.id, roles, action)
        if isinstance(refusal, Staff):
            return refusal
        await reply(update, texts.refusal(refusal))
        return None

    async def refusal_for(
        self, user_id: int, roles: tuple[StaffRole, ...], action: str
    ) -> Staff | str:
        """The staff member, or why not: admins-only for staff, the neutral refusal for others."""
        try:
            return await self._services.staff.require(user_id, *roles, action=action)
        except NotAllowed as exc:
            return str(exc)

    async def usage(self, update: Update, reason: str, usage: str) -> None:
        """Reply the exact reason and the command's usage."""
        await reply(update, texts.refusal(reason, usage))

    async def phone_amount_args(
        self, update: Update, args: list[str] | None, command: str, usage: str
    ) -> list[str] | None:
        """The words of /request or /send (<phone> <amount> ...) when they read one way; None
        once the chat was told what is missing or asked which amount "1 500" meant."""
        args = args or []
        if len(args) < 2:
            reason = staff_texts.MISSING_AMOUNT if args else staff_texts.MISSING_PHONE_AMOUNT
            await self.usage(update, reason, usage)
            return None
        amounts = spaced_amount(args)
        if amounts is not None:
            await self.ask_amount(update, command, amounts)
            return None
        return args

    async def ask_amount(self, update: Update, command: str, amounts: tuple[int, int]) -> None:
        """Ask which amount "1 500" meant, as a reply to the command (the buttons read it back)."""
        joined, first = amounts
        await update.effective_message.reply_html(
            staff_texts.amount_question(joined, first, command),
            reply_markup=staff_keyboards.amount_buttons(command, joined, first),
            do_quote=True,
        )

    async def amount_chosen(
        self, update: Update, command: str, roles: tuple[StaffRole, ...], action: str
    ) -> tuple[Staff, list[str]] | None:
        """The presser and their command's words with the amount a button chose.

        None once the button is answered instead: the presser may not, or the question no
        longer fits the command it replies to (gone, edited, too old for Telegram to show).
        """
        query = update.callback_query
        who = await self.refusal_for(query.from_user.id, roles, action)
        if isinstance(who, str):
            await answer(query, who, alert=True)
            return None
        raw = (query.data or "").rsplit(":", 1)[-1]
        asked = getattr(query.message, "reply_to_message", None)  # none on an old message
        words = (asked.text or "").split() if asked is not None else []
        args = None
        if (
            words
            and words[0].split("@", 1)[0].lower() == f"/{command}"
            and raw.isdigit()
            and len(raw) <= AMOUNT_DIGITS_MAX
        ):
            args = with_amount(words[1:], int(raw))
        if args is None:
            await answer(query, staff_texts.AMOUNT_QUESTION_GONE, alert=True)
            return None
        await answer(query)
        # the buttons go: the question is answered
        await edit(query, staff_texts.amount_chosen(int(raw)))
        return who, args

    async def refuse(self, update: Update, exc: ServiceError, usage: str | None = None) -> None:
        """Reply a service refusal; the usage only when the input itself was wrong."""
        wrong_input = exc.code in ("invalid_input", "not_found")
        await reply(update, texts.refusal(exc, usage if wrong_input else None))


def spaced_amount(args: list[str]) -> tuple[int, int] | None:
    """(joined, first) when "<phone> <amount> <word>" reads two ways ("1 500"), else None.

    Only when the word after the amount is exactly three digits, and the amount could be the
    first group of a thousands number (1 to 3 digits, no leading zero).
    """
    if len(args) >= 3 and AMOUNT_HEAD.fullmatch(args[1]) and THREE_DIGITS.fullmatch(args[2]):
        return int(args[1] + args[2]), int(args[1])
    return None


def with_amount(args: list[str], amount: int) -> list[str] | None:
    """The command's words for the amount chosen: "1 500" joined, or "1" with "500" kept for
    the description (reason); None when ``amount`` is neither reading."""
    readings = spaced_amount(args)
    if readings is None:
        return None
    joined, first = readings
    if amount == joined:
        return [args[0], str(joined), *args[3:]]
    if amount == first:
        return list(args)
    return None


def actor(update: Update) -> str:
    """The audit actor of the person behind an update."""
    return actor_for_telegram(update.effective_user.id)


def chat_of(update: Update) -> int:
    """The chat an update came from."""
    return update.effective_chat.id


async def reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> Message:
    """Answer in the same chat (HTML)."""
    return await update.effective_message.reply_html(text, reply_markup=markup)


async def answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Stop the button's spinner, optionally with a toast or an alert."""
    try:
        await query.answer(text[:200] if text else None, show_alert=alert)
    except BadRequest as exc:
        # a query older than Telegram keeps them cannot be answered; the edit still matters
        log.info("callback.answer_failed reason=%s", exc)


async def edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Edit the message the button is on; "not modified" means it already shows this."""
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def drop_buttons(query: CallbackQuery) -> None:
    """Remove the buttons of the message the button is on."""
    try:
        await query.edit_message_reply_markup(None)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


def callback_id(query: CallbackQuery) -> tuple[str, int | None]:
    """The verb and numeric id of "noun:verb:id" callback data (id None when malformed)."""
    parts = (query.data or "").split(":", 2)
    verb = parts[1] if len(parts) > 1 else ""
    arg = parts[2] if len(parts) > 2 else ""
    return verb, int(arg) if arg.isdigit() and len(arg) < 12 else None


async def payout_card(services: Any, payout: Payout) -> str:
    """texts.payout_card with the people named: who asked, approved or rejected it."""
    people = await services.staff.payout_people(payout)
    return texts.payout_card(
        payout, initiator=people.initiator, approver=people.approver, rejecter=people.rejecter
    )
