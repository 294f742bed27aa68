"""What the e-mail channel sends: receipts (with their PDF), admin alerts and the daily summary.

Like chat messages, an e-mail row is an event (``{"event": "receipt", "payment_id": 12}``) and is
rendered when it is delivered, from the database as it is then. Receipts are in the customer's
language; alerts and the summary are for staff, in English like the staff chat.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from email.utils import parseaddr
from typing import Any

from bot.config import Settings
from bot.i18n import kes
from bot.i18n import translator
from bot.notify.channels import PermanentDeliveryError
from bot.services.documents import receipt_lines
from bot.services.documents import receipt_pdf
from bot.services.documents import receipt_rows
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from bot.services.reports import ReportService
from bot.services.reports import Stats
from models import Notification
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from mpesa.security import NAIROBI

SUBJECT_LIMIT = 120


def mask_email(address: str | None) -> str:
    """An address for logs: "wanjiku@example.co.ke" -> "w***@example.co.ke"."""
    if not address:
        return "-"
    local, at, domain = str(address).strip().rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def sender_domain(sender: str) -> str:
    """The domain of SMTP_FROM ("Shop <receipts@shop.co.ke>" -> "shop.co.ke")."""
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def message_id(notification: Notification, domain: str) -> str:
    """One Message-ID per outbox row, the same on every attempt (a receiver can de-duplicate)."""
    digest = hashlib.sha256(notification.event_key.encode()).hexdigest()[:16]
    return f"<n{notification.id}.{digest}@{domain}>"


class EmailComposer:
    """Turns an EMAIL outbox row into the message to send (headers, text, attachments)."""

    def __init__(
        self,
        settings: Settings,
        *,
        reports: ReportService | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._settings = settings
        self._reports = reports or ReportService(clock=clock, settings=settings)
        self._clock = clock
        self._sender = settings.smtp_from or f"{settings.business_name} <mpesa-bot@localhost>"
        self._events: dict[str, Callable[[EmailMessage, dict[str, Any]], Any]] = {
            "receipt": self._receipt,
            "alert": self._alert,
            "daily_summary": self._daily_summary,
        }

    @property
    def sender(self) -> str:
        """The From of every e-mail: SMTP_FROM."""
        return self._sender

    @property
    def sender_address(self) -> str:
        """SMTP_FROM's bare address (the envelope's MAIL FROM)."""
        return parseaddr(self._sender)[1]

    async def compose(self, notification: Notification) -> EmailMessage:
        """The message for one row; PermanentDeliveryError when it can never be rendered."""
        payload = notification.payload or {}
        event = str(payload.get("event"))
        render = self._events.get(event)
        if render is None:
            raise PermanentDeliveryError(f"unknown e-mail event {event!r}")
        message = EmailMessage()
        message["From"] = self._sender
        try:
            message["To"] = Address(addr_spec=notification.recipient.strip())
        except (ValueError, IndexError) as exc:
            raise PermanentDeliveryError(f"not an e-mail address: {exc}") from exc
        message["Date"] = format_datetime(self._clock().astimezone(UTC))
        message["Message-ID"] = message_id(notification, sender_domain(self._sender))
        await render(message, payload)
        return message

    async def _receipt(self, message: EmailMessage, payload: dict[str, Any]) -> None:
        payment = await Payment.get_or_none(id=payload.get("payment_id"))
        if payment is None or payment.order_id is None:
            raise PermanentDeliveryError(f"no order payment {payload.get('payment_id')!r}")
        order = await Order.get(id=payment.order_id)
        if payment.status != PaymentStatus.PAID or order.status != OrderStatus.PAID:
            raise PermanentDeliveryError(f"payment {payment.id} is not paid: no receipt")
        language = str(payload.get("language") or self._settings.default_language)
        _ = translator(language)
        settings = self._settings
        lines = receipt_lines(
            order,
            payment,
            business=settings.business_name,
            paybill=settings.paybill,
            language=language,
        )
        message["Subject"] = _subject(
            _(
                "Your receipt from {business}: order {code}",
                business=settings.business_name,
                code=order.code,
            )
        )
        rows = receipt_rows(lines, language)
        width = max(len(label) for label, _value in rows)
        body = [_("Thank you for your payment. Your receipt is below and attached as a PDF."), ""]
        body += [f"{label.ljust(width)}  {value}" for label, value in rows]
        body += ["", _("You get this e-mail because you gave this address when you paid.")]
        message.set_content("\n".join(body) + "\n")
        message.add_attachment(
            receipt_pdf(lines, language),
            maintype="application",
            subtype="pdf",
            filename=f"receipt-{order.code}.pdf",
        )
        message["Content-Language"] = language  # after set_content, which drops Content-*

    async def _alert(self, message: EmailMessage, payload: dict[str, Any]) -> None:
        text = str(payload.get("text", "")).strip() or "(no text)"
        first = text.splitlines()[0]
        message["Subject"] = _subject(f"[{self._settings.business_name}] Alert: {first}")
        message.set_content(
            f"{text}\n\nThe same alert was sent to the admins in the Telegram chat.\n"
        )

    async def _daily_summary(self, message: EmailMessage, payload: dict[str, Any]) -> None:
        day = str(payload.get("day", ""))
        try:
            start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=NAIROBI)
        except ValueError:
            raise PermanentDeliveryError(f"not a day: {day!r}") from None
        # the day so far when it is sent at DAILY_SUMMARY_TIME; the whole day if sent later
        until = min(self._clock(), start + timedelta(days=1) - timedelta(microseconds=1))
        stats = await self._reports.stats("today", now=until)
        message["Subject"] = _subject(
            f"[{self._settings.business_name}] Daily summary {start:%a %d %b %Y}"
        )
        message.set_content(summary_text(stats, start=start, until=until))


def summary_text(stats: Stats, *, start: datetime, until: datetime) -> str:
    """The daily summary e-mail's text (whole shillings, Nairobi times)."""
    local_until = until.astimezone(NAIROBI)
    lines = [
        f"Summary of {start:%A %d %B %Y}, 00:00 to {local_until:%H:%M} Nairobi time.",
        "",
        f"Received:  {kes(stats.received_total)} in {stats.received_count} payment(s)",
        f"  M-Pesa prompts (STK):  {kes(stats.stk_received_total)} ({stats.stk_received_count})",
        f"  Paybill (C2B):         {kes(stats.c2b_received_total)} ({stats.c2b_received_count})",
    ]
    if stats.airtel_received_count:
        lines.append(
            f"  Airtel Money:          {kes(stats.airtel_received_total)} "
            f"({stats.airtel_received_count})"
        )
    if stats.reversed_count:
        lines.append(f"Reversed:  {kes(stats.reversed_total)} ({stats.reversed_count})")
    lines.append(f"Sent:      {kes(stats.sent_total)} in {stats.sent_count} payout(s)")
    success = stats.success_percent
    lines.append(
        "Prompts:   none finished"
        if success is None
        else f"Prompts:   {success}% of {stats.stk_settled} finished prompt(s) were paid"
    )
    for title, counts in (
        ("Payments by status", stats.payments_by_status),
        ("Payouts by status", stats.payouts_by_status),
    ):
        if counts:
            shown = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
            lines.append(f"{title}: {shown}")
    lines += ["", "Details: /stats and /history in the Telegram chat."]
    return "\n".join(lines) + "\n"


def _subject(text: str) -> str:
    """One line, at most SUBJECT_LIMIT characters."""
    line = " ".join(text.split())
    return line if len(line) <= SUBJECT_LIMIT else line[: SUBJECT_LIMIT - 1] + "…"
