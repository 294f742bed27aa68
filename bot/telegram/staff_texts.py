"""Texts of the staff commands (HTML): usages, summaries, lists. Every user string is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from bot.i18n import staff_when as when
from bot.services.providers import provider_name
from bot.services.reports import Stats
from bot.services.reversals import Reversible
from bot.telegram.texts import kes
from bot.telegram.texts import phone
from bot.telegram.texts import staff_name
from models import Order
from models import OrderStatus
from models import Payment
from models import Payout
from models import Provider
from models import Reversal
from models import ReversalStatus
from models import Staff
from models import StaffRole
from mpesa.codes import Api
from mpesa.codes import describe_result
from mpesa.security import NAIROBI

MESSAGE_LIMIT = 4096

USAGE_REQUEST = escape(
    "Usage: /request <phone> <amount> [description]\nExample: /request 0708374149 1500 Blender"
)
USAGE_SEND = escape("Usage: /send <phone> <amount> [reason]\nExample: /send 0708374149 500 Refund")
USAGE_STATUS = escape(
    "Usage: /status <ref>\nA ref is a payment number (#12), a payout number (P7), an order code "
    "(HP7K2Q9XRT), an M-Pesa receipt or a CheckoutRequestID.\nExample: /status #12"
)
USAGE_HISTORY = escape(
    "Usage: /history [today|week|month] [phone] [status] [payouts]\n"
    "Example: /history week 0708374149 paid"
)
USAGE_STATS = escape("Usage: /stats [today|week|month]\nExample: /stats week")
USAGE_EXPORT = escape("Usage: /export [today|week|month]\nExample: /export month")
USAGE_REVERSE = escape("Usage: /reverse <M-Pesa receipt>\nExample: /reverse UKK4Q7M2XB")
USAGE_RESOLVE = escape(
    "Usage: /resolve <ref> [verdict]\n"
    "A payment #12: paid or failed. A payout P12: sent or failed. A reversal R12: reversed or "
    "failed.\nM-Pesa is asked first and its answer shown; you decide with the buttons.\n"
    "Example: /resolve #12 paid"
)
USAGE_ORDER = escape("Usage: /order <amount> <description>\nExample: /order 1500 Blender 2L")
USAGE_LINK = escape(
    "Usage: /link <phone> <amount> [description]\nExample: /link 0712345678 1500 Blender 2L"
)
MISSING_LINK = "Give the customer's phone number and the amount."
USAGE_STAFF = escape(
    "Usage: /staff (list), /staff add <user id> <admin|cashier> [name], /staff remove <user id>, "
    "/staff limit <user id> <amount|default>\n"
    "Example: /staff add 123456789 cashier Mary\nExample: /staff limit 123456789 50000"
)

MISSING_PHONE_AMOUNT = "Give the phone number and the amount."
MISSING_AMOUNT = "Give the amount too."
MISSING_REF = "Give the reference to look up."
MISSING_RESOLVE = "Give the payment (#12), payout (P12) or reversal (R12) to resolve."
TOO_MANY_WORDS = "Give only the reference and, if you like, the verdict."
RESOLVE_CANCELLED = "Nothing was changed."
MISSING_RECEIPT = "Give the M-Pesa receipt of the payment to reverse."
MISSING_ORDER = "Give the amount and a description the customer will see."
MISSING_DESCRIPTION = "Give a description the customer will see."
BALANCE_ASKED = "⏳ Asked M-Pesa for the balance; the answer will appear here."
BALANCE_ASKED_BOTH = (
    "⏳ Asked M-Pesa and Airtel Money for their balances; the answers will appear here."
)

CASHIER_HELP = (
    "<b>What you can do here</b>\n"
    "/request &lt;phone&gt; &lt;amount&gt; [description] — ask a customer to pay by M-Pesa\n"
    "/order &lt;amount&gt; &lt;description&gt; — an order's links and QR code for a customer\n"
    "/link &lt;phone&gt; &lt;amount&gt; [description] — text a customer a pay link by SMS\n"
    "/status &lt;ref&gt; — where a payment, order or payout stands\n"
    "/history [today|week|month] [phone] [status] — recent payments\n"
    "/stats [today|week|month] — totals\n"
    "/export [today|week|month] — payments as a CSV file\n"
    "/dashboard — a one-time link to the web dashboard"
)
ADMIN_HELP = CASHIER_HELP + (
    "\n/send &lt;phone&gt; &lt;amount&gt; [reason] — pay money out (you confirm first)\n"
    "/balance — the M-Pesa account balance\n"
    "/reverse &lt;receipt&gt; — reverse a payment we received\n"
    "/resolve &lt;#12|P12|R12&gt; [verdict] — settle a payment, payout or reversal M-Pesa left "
    "unclear, after a fresh look\n"
    "/staff — list staff; /staff add|remove|limit … to manage them"
)
DASHBOARD_OFF = "The web dashboard is turned off here (DASHBOARD_ENABLED=false)."


def dashboard_link(url: str, ttl_s: int) -> str:
    """What /dashboard answers: the one-time sign-in link and how long it works."""
    minutes = max(1, ttl_s // 60)
    return (
        f"🔐 <b>Your dashboard sign-in link</b>\n{escape(url)}\n\n"
        f"It works once, for {minutes} minutes, and only for you: do not forward it."
    )


FREE_TEXT_HELP = "I did not understand that. Commands start with a slash, e.g. /request. See /help."


def staff_help(member: Staff) -> str:
    """The command list for this staff member's role."""
    return ADMIN_HELP if StaffRole(member.role) is StaffRole.ADMIN else CASHIER_HELP


def fit(header: str, lines: Sequence[str], *, footer: str = "", limit: int = MESSAGE_LIMIT) -> str:
    """Header, as many lines as fit in one message, "…and N more", footer (all already HTML)."""
    budget = limit - len(header) - len(footer) - 40
    shown: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > budget:
            break
        shown.append(line)
        used += len(line) + 1
    body = "\n".join(shown)
    if len(shown) < len(lines):
        body += f"\n…and {len(lines) - len(shown)} more"
    parts = [header, body] if body else [header]
    if footer:
        parts.append(footer)
    return "\n".join(parts)


def payout_summary(payout: Payout, card: str, *, threshold: int) -> str:
    """The /send summary: the payout card and, above the threshold, who else must act."""
    if payout.needs_approval:
        card += (
            f"\n\nAbove {kes(threshold)}: after you confirm, a second admin must approve "
            "before anything is sent."
        )
    return card


def checked_line(moment: datetime) -> str:
    """The note added when a pending payment was checked with M-Pesa."""
    return f"\n\n<i>Checked with M-Pesa at {when(moment)}: no final answer yet.</i>"


def order_card(order: Order, link: str | None = None, pay_url: str | None = None) -> str:
    """An order: code, amount, description, state and (when given) its links."""
    lines = [f"<b>Order <code>{escape(order.code)}</code></b>", kes(order.amount)]
    if order.description:
        lines.append(escape(order.description))
    status = OrderStatus(order.status)
    if status is OrderStatus.PAID:
        lines.append(f"✅ Paid (receipt <code>{escape(order.paid_receipt or '-')}</code>)")
    elif status is OrderStatus.CANCELLED:
        lines.append("✖️ Cancelled")
    else:
        lines.append("⏳ Open, not paid yet")
    if link and pay_url:
        lines.append("")
        lines.append("Send the customer one of these links, or let them scan the QR code:")
        lines.append(f"🌐 Web page: {escape(pay_url)}")
        lines.append(f"💬 Telegram: {escape(link)}")
    elif link:
        lines.append("")
        lines.append("Send this link to the customer:")
        lines.append(escape(link))
    return "\n".join(lines)


def link_sent(order: Order, msisdn: str, pay_url: str) -> str:
    """What /link answers: the order and where its link was texted."""
    return (
        f"{order_card(order)}\n\n📱 The pay link is on its way to {phone(msisdn)} by SMS:\n"
        f"{escape(pay_url)}"
    )


def payment_line(payment: Payment) -> str:
    """One payment in /history."""
    line = (
        f"#{payment.id} · {when(payment.created_at)} · {kes(payment.amount)} · "
        f"{phone(payment.msisdn)} · {escape(str(payment.status).replace('_', ' '))}"
    )
    if payment.provider == Provider.AIRTEL:
        line += f" · {provider_name(payment.provider)}"
    if payment.receipt:
        line += f" · <code>{escape(payment.receipt)}</code>"
    if payment.description:
        line += f" · {escape(payment.description[:60])}"
    return line


# Same shape as payment_line on purpose: a payout shows the arrow to its recipient, no description
def payout_line(payout: Payout) -> str:
    """One payout in /history payouts."""
    line = (
        f"P{payout.id} · {when(payout.created_at)} · {kes(payout.amount)} → "
        f"{phone(payout.msisdn)} · {escape(str(payout.status).replace('_', ' '))}"
    )
    if payout.provider == Provider.AIRTEL:
        line += f" · {provider_name(payout.provider)}"
    if payout.receipt:
        line += f" · <code>{escape(payout.receipt)}</code>"
    return line


def history_header(*, payouts: bool, period: str | None, msisdn: str | None, status: str | None,
                   older: bool) -> str:  # fmt: skip
    """The title of a /history page, naming its filters."""
    title = "Payouts" if payouts else "Payments"
    filters = [period or "all time"]
    if msisdn:
        filters.append(phone(msisdn))
    if status:
        filters.append(status.replace("_", " "))
    suffix = " (older)" if older else ""
    return f"<b>{title}: {escape(', '.join(filters))}</b>{suffix}"


def history_empty(*, older: bool) -> str:
    """What an empty /history page says."""
    return "No older records." if older else "Nothing matches."


PERIOD_TITLE = {"today": "Today", "week": "This week", "month": "This month"}


def stats_text(stats: Stats) -> str:
    """The /stats answer: received, sent, STK success rate and counts by status."""
    lines = [
        f"<b>{PERIOD_TITLE.get(stats.period, escape(stats.period))}</b> (since {when(stats.start)})"
    ]
    lines.append(
        f"Received: {kes(stats.received_total)} in {_count(stats.received_count, 'payment')}"
    )
    by = (
        f"  by STK {kes(stats.stk_received_total)} ({stats.stk_received_count}), "
        f"paybill {kes(stats.c2b_received_total)} ({stats.c2b_received_count})"
    )
    if stats.airtel_received_count or stats.airtel_sent_count:
        by += f", Airtel Money {kes(stats.airtel_received_total)} ({stats.airtel_received_count})"
    lines.append(by)
    if stats.reversed_count:
        lines.append(
            f"Reversed (not counted above): {kes(stats.reversed_total)} in "
            f"{_count(stats.reversed_count, 'payment')}"
        )
    lines.append(f"Sent: {kes(stats.sent_total)} in {_count(stats.sent_count, 'payout')}")
    if stats.airtel_received_count or stats.airtel_sent_count:
        lines.append(
            f"  of which Airtel Money {kes(stats.airtel_sent_total)} ({stats.airtel_sent_count})"
        )
    if stats.success_percent is None:
        lines.append("STK success: no finished requests yet")
    else:
        lines.append(
            f"STK success: {stats.success_percent}% ({stats.stk_paid} paid of "
            f"{stats.stk_settled} finished)"
        )
    lines.append("")
    lines.append("<b>Payments by status</b>")
    lines.append(_breakdown(stats.payments_by_status))
    lines.append("<b>Payouts by status</b>")
    lines.append(_breakdown(stats.payouts_by_status))
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _breakdown(counts: dict[str, int]) -> str:
    if not counts:
        return "none"
    return " · ".join(
        f"{escape(status.replace('_', ' '))} {n}" for status, n in sorted(counts.items())
    )


def export_caption(
    rows: int, period: str, start: datetime, end: datetime, *, full_numbers: bool
) -> str:
    """The caption of the /export document: how many records, when, and how phones are shown."""
    noun = "record" if rows == 1 else "records"
    phones = "full phone numbers" if full_numbers else "phone numbers masked"
    return f"{rows} {noun} ({escape(period)}: {when(start)} – {when(end)}, Nairobi time; {phones})"


def export_filename(period: str, now: datetime, *, full_numbers: bool) -> str:
    """payments-week-2026-11-20.csv; an admin's file says it holds full phone numbers."""
    day = now.astimezone(NAIROBI).strftime("%Y-%m-%d")
    suffix = "-full-phone-numbers" if full_numbers else ""
    return f"payments-{period}-{day}{suffix}.csv"


AMOUNT_QUESTION_GONE = (
    "This question no longer matches the command it answers; type the command again."
)


def amount_question(joined: int, first: int, command: str) -> str:
    """Which amount "/request … 1 500" meant: KES 1,500, or KES 1 with "500" in the text."""
    rest = "reason" if command == "send" else "description"
    tail = str(joined)[len(str(first)) :]
    return (
        f"<b>{kes(joined)} or {kes(first)}?</b>\n"
        f"“{first} {tail}” reads both ways: with {kes(first)}, “{tail}” starts the {rest}."
    )


def amount_chosen(amount: int) -> str:
    """The amount question once answered."""
    return f"✔️ {kes(amount)}"


def reverse_question(reversible: Reversible) -> str:
    """The /reverse confirmation card: what goes back, to whom."""
    receipt = f"receipt <code>{escape(reversible.receipt)}</code>"
    payment, c2b = reversible.payment, reversible.c2b
    if payment is not None:
        came = f"received from {phone(payment.msisdn)}, {receipt} (#{payment.id})"
    elif c2b is not None and c2b.payer_name:
        came = f"paid to the paybill by {escape(c2b.payer_name)}, {receipt}"
    else:
        came = f"paid to the paybill, {receipt}"
    return f"<b>Reverse {kes(reversible.amount)} {came}?</b>\nThe money goes back to the payer."


REVERSAL_HEADLINE = {
    ReversalStatus.SUBMITTING: "⏳ Sending the reversal to M-Pesa…",
    ReversalStatus.SUBMITTED: "📤 Reversal sent; M-Pesa's result will appear here.",
    ReversalStatus.UNKNOWN: "❔ M-Pesa did not answer in time; the result will appear here.",
    ReversalStatus.COMPLETED: "✅ Reversed",
    ReversalStatus.FAILED: "✖️ The reversal failed",
}


def reversal_card(reversal: Reversal) -> str:
    """Where a reversal stands."""
    status = ReversalStatus(reversal.status)
    lines = [
        f"<b>Reversal #{reversal.id}</b>",
        f"{kes(reversal.amount)}, receipt <code>{escape(reversal.receipt)}</code>",
        "",
        f"<b>{REVERSAL_HEADLINE[status]}</b>",
    ]
    if status is ReversalStatus.FAILED:
        info = describe_result(reversal.result_code, reversal.result_desc or "", api=Api.REVERSAL)
        lines.append(escape(info.meaning if reversal.result_code else (reversal.result_desc or "")))
    return "\n".join(lines)


def reverse_cancelled(receipt: str) -> str:
    """The /reverse card after [Cancel]."""
    return f"Reversal of <code>{escape(receipt)}</code> cancelled; nothing was sent."


def staff_list(members: Sequence[Staff], limits: dict[int, int] | None = None) -> str:
    """The /staff list, with each person's daily payout limit when given."""
    limits = limits or {}
    lines = [
        f"• {staff_name(m)} — <code>{m.telegram_id}</code> — {escape(str(m.role))}"
        + (f" — payouts up to {kes(limits[m.id])} a day" if m.id in limits else "")
        for m in members
    ]
    return fit(f"<b>Staff ({len(members)})</b>", lines, footer=f"\n{USAGE_STAFF}")


def staff_added(member: Staff) -> str:
    """After /staff add."""
    return (
        f"✅ {staff_name(member)} (<code>{member.telegram_id}</code>) is now "
        f"{'an admin' if StaffRole(member.role) is StaffRole.ADMIN else 'a cashier'}. "
        "Their command menu updates when they next open the bot."
    )


def limit_set(member: Staff, limit: int, *, own: bool) -> str:
    """After /staff limit."""
    whose = "their own limit" if own else "the default limit (STAFF_DAILY_PAYOUT_LIMIT)"
    return (
        f"✅ {staff_name(member)} (<code>{member.telegram_id}</code>) may now send payouts up to "
        f"{kes(limit)} a Nairobi day ({whose}). It counts from their next confirmation."
    )


def staff_removed(member: Staff) -> str:
    """After /staff remove."""
    return f"✅ {staff_name(member)} (<code>{member.telegram_id}</code>) is no longer staff."


VERDICT_WORDS = {
    "paid": "✅ Paid",
    "sent": "✅ Sent",
    "reversed": "✅ Reversed",
    "failed": "✖️ Not paid",
}


def verdict_label(ref: Any, verdict: str) -> str:
    """A verdict as its button says it: paid / sent / reversed, or not (by kind)."""
    if verdict != "failed":
        return VERDICT_WORDS[verdict]
    return {"payment": "✖️ Not paid", "payout": "✖️ Not sent", "reversal": "✖️ Not reversed"}[
        ref.kind.value
    ]


def resolve_look(look: Any, verdict: str | None) -> str:
    """What a fresh look found, and what the admin may now decide."""
    ref = look.ref
    record = look.record
    state = escape(str(getattr(record.status, "value", record.status)).replace("_", " "))
    lines = [
        f"🔎 <b>Resolving {escape(str(ref))}</b> ({escape(ref.kind.value)}, {kes(record.amount)})",
        f"Recorded as: {state}",
        "",
        escape(look.answer),
    ]
    for candidate in look.candidates[:5]:
        cb = candidate.callback
        lines.append(
            f"• {kes(cb.amount or 0)} from {escape(cb.phone or 'an unknown phone')}, receipt "
            f"<code>{escape(cb.receipt or '-')}</code>, {when(candidate.received_at)}"
        )
    lines.append("")
    if not look.parked:
        lines.append("M-Pesa's answer settled it; there is nothing left to decide.")
    elif look.waiting:
        lines.append("The answer and the buttons to decide will appear here.")
    elif not look.asked:
        lines.append(f"Ask again in a minute: /resolve {escape(str(ref))}")
    elif verdict in look.verdicts:
        lines.append(f"Record it as {escape(verdict_label(ref, verdict))}? Press to confirm.")
    else:
        lines.append("Decide only after checking the customer's M-Pesa message or the portal.")
    return "\n".join(lines)


def resolved(raw_ref: str, verdict: str, record: Any, who: Staff) -> str:
    """After an admin's verdict was recorded."""
    state = escape(str(getattr(record.status, "value", record.status)).replace("_", " "))
    return (
        f"✅ {escape(raw_ref)} recorded as {state} by {staff_name(who)}. "
        "The card, the order and the people concerned are updated."
    )
