"""Inline keyboards. Callback data reads ``"<noun>:<verb>:<id>"`` and stays under 64 bytes."""

from __future__ import annotations

from telegram import InlineKeyboardButton
from telegram import InlineKeyboardMarkup

from bot.services.payment_search import payment_actions
from models import Payment
from models import Payout
from models import PayoutStatus
from models import Provider

CALLBACK_DATA_LIMIT = 64


def data(*parts: object) -> str:
    """Join callback data parts; refuse anything Telegram would refuse."""
    text = ":".join(str(part) for part in parts)
    if len(text.encode()) > CALLBACK_DATA_LIMIT:
        raise ValueError(f"callback data over {CALLBACK_DATA_LIMIT} bytes: {text!r}")
    return text


def parse(callback_data: str | None) -> tuple[str, str, str]:
    """Split ``noun:verb:arg`` (missing parts are empty strings)."""
    parts = (callback_data or "").split(":", 2)
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


def payment_buttons(payment: Payment) -> InlineKeyboardMarkup | None:
    """[Check with M-Pesa] while pending, [Retry] on the newest attempt that failed, else none."""
    offered = payment_actions(payment)  # the dashboard offers the same (bot/services)
    rows = []
    if "check" in offered:
        label = (
            "🔄 Check with Airtel Money"
            if payment.provider == Provider.AIRTEL
            else "🔄 Check with M-Pesa"
        )
        rows.append([InlineKeyboardButton(label, callback_data=data("pay", "check", payment.id))])
    if "resolve" in offered:
        rows.append([resolve_button(f"#{payment.id}")])
    if "retry" in offered:
        button = InlineKeyboardButton("🔁 Retry", callback_data=data("pay", "retry", payment.id))
        rows.append([button])
    return InlineKeyboardMarkup(rows) if rows else None


def resolve_button(ref: str) -> InlineKeyboardButton:
    """[🔎 Resolve] on the card of a parked record (admins only: the handler checks)."""
    return InlineKeyboardButton("🔎 Resolve (admins)", callback_data=data("res", "look", ref))


def payout_buttons(payout: Payout) -> InlineKeyboardMarkup | None:
    """[Confirm] [Cancel] while awaiting the initiator's confirmation, [Resolve] if unknown."""
    if PayoutStatus(payout.status) is PayoutStatus.UNKNOWN:
        return InlineKeyboardMarkup([[resolve_button(f"P{payout.id}")]])
    if PayoutStatus(payout.status) is PayoutStatus.AWAITING_CONFIRMATION:
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        "✅ Confirm", callback_data=data("payout", "confirm", payout.id)
                    ),
                    InlineKeyboardButton(
                        "✖️ Cancel", callback_data=data("payout", "cancel", payout.id)
                    ),
                ]
            ]
        )
    return None


# keyboard builders stay one per state, alike on purpose: each row is what that state allows
def approval_buttons(payout: Payout) -> InlineKeyboardMarkup | None:
    """[Approve] [Reject] for another admin while the payout awaits approval."""
    if PayoutStatus(payout.status) is PayoutStatus.AWAITING_APPROVAL:
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        "✅ Approve", callback_data=data("payout", "approve", payout.id)
                    ),
                    InlineKeyboardButton(
                        "✖️ Reject", callback_data=data("payout", "reject", payout.id)
                    ),
                ]
            ]
        )
    return None
