"""Inline keyboards of the staff commands: history paging, reversals, resolving parked records."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton
from telegram import InlineKeyboardMarkup

from bot.telegram import staff_texts
from bot.telegram.keyboards import data
from bot.telegram.keyboards import resolve_button
from bot.telegram.texts import kes
from models import Reversal
from models import ReversalStatus

HISTORY_NOUNS = {"hist": False, "phist": True}  # callback noun -> lists payouts
NONE = "-"


def amount_buttons(command: str, joined: int, first: int) -> InlineKeyboardMarkup:
    """[KES 1,500] [KES 1]: "amt:<command>:<amount>", read back against the command itself."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(kes(joined), callback_data=data("amt", command, joined)),
                InlineKeyboardButton(kes(first), callback_data=data("amt", command, first)),
            ]
        ]
    )


def history_data(
    *, payouts: bool, period: str | None, status: str | None, msisdn: str | None, before_id: int
) -> str:
    """Callback data of a history page: "hist:<period>:<status>:<phone>:<before_id>"."""
    noun = "phist" if payouts else "hist"
    return data(noun, period or NONE, status or NONE, msisdn or NONE, before_id)


def parse_history_data(
    callback_data: str,
) -> tuple[bool, str | None, str | None, str | None, int | None]:
    """(payouts, period, status, msisdn, before_id) from history callback data, or ValueError."""
    parts = callback_data.split(":")
    if len(parts) != 5 or parts[0] not in HISTORY_NOUNS:
        raise ValueError(f"not history callback data: {callback_data!r}")
    noun, period, status, msisdn, before = parts
    if not before.isdigit():
        raise ValueError(f"bad page in {callback_data!r}")
    before_id = int(before) or None  # 0: the newest page

    def value(part: str) -> str | None:
        return None if part == NONE else part

    return HISTORY_NOUNS[noun], value(period), value(status), value(msisdn), before_id


def history_buttons(
    *,
    payouts: bool,
    period: str | None,
    status: str | None,
    msisdn: str | None,
    older_than: int | None,
    paged: bool,
) -> InlineKeyboardMarkup | None:
    """[Older ›] when more may exist, [« Newest] on pages after the first."""
    row = []
    filters = {"payouts": payouts, "period": period, "status": status, "msisdn": msisdn}
    if paged:
        row.append(
            InlineKeyboardButton("« Newest", callback_data=history_data(**filters, before_id=0))
        )
    if older_than is not None:
        row.append(
            InlineKeyboardButton(
                "Older ›", callback_data=history_data(**filters, before_id=older_than)
            )
        )
    return InlineKeyboardMarkup([row]) if row else None


def reverse_buttons(receipt: str) -> InlineKeyboardMarkup:
    """[Reverse] [Cancel] under the /reverse question."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("↩️ Reverse", callback_data=data("rev", "confirm", receipt)),
                InlineKeyboardButton("✖️ Cancel", callback_data=data("rev", "cancel", receipt)),
            ]
        ]
    )


def resolve_buttons(look: Any, verdict: str | None) -> InlineKeyboardMarkup | None:
    """The decisions after a look: both, or the one typed and [Cancel]; none until decidable."""
    if not look.decidable:
        return None
    ref = str(look.ref)
    choices = [verdict] if verdict in look.verdicts else list(look.verdicts)
    row = [
        InlineKeyboardButton(
            staff_texts.verdict_label(look.ref, choice), callback_data=data("res", choice, ref)
        )
        for choice in choices
    ]
    row.append(InlineKeyboardButton("Cancel", callback_data=data("res", "cancel", ref)))
    return InlineKeyboardMarkup([row])


def reversal_buttons(reversal: Reversal) -> InlineKeyboardMarkup | None:
    """[🔎 Resolve] while M-Pesa has not said how a reversal ended."""
    if ReversalStatus(reversal.status) is ReversalStatus.UNKNOWN:
        return InlineKeyboardMarkup([[resolve_button(f"R{reversal.id}")]])
    return None
