"""The Notifier services call: it writes outbox rows in the caller's transaction, never sends.

Chat messages are events (``{"event": "payment", "payment_id": 12}``) that the chat channel renders
from the current database state, so a late delivery never shows stale text. SMS messages are
rendered here, in plain words. Every row has an ``event_key``: one message per event and recipient,
however often the event is reported (duplicate callbacks, two reconcilers).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from bot.notify import receipts
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from models import Customer
from models import DarajaQuery
from models import Notification
from models import NotificationChannel
from models import Order
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import Provider
from models import Reversal
from models import Staff
from models import StaffRole
from mpesa.phone import mask_msisdn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxRow:
    """One message the outbox is to deliver: its event key, channel, recipient and payload."""

    event_key: str
    channel: NotificationChannel
    recipient: str
    payload: dict[str, Any]
    delay_s: float = 0.0


def method_of(provider: Provider | str | None) -> str:
    """The API's word for a provider in webhooks: "MPESA" or "AIRTEL"."""
    return Provider(provider or Provider.MPESA).value.upper()


class Notifier:
    """Decides who hears about what, and queues it in the outbox."""

    def __init__(
        self,
        *,
        business_name: str,
        admin_telegram_ids: list[int] | None = None,
        sms_enabled: bool = True,
        webhook_url: str | None = None,
        clock: Clock = utcnow,
        default_language: str = "en",
        admin_emails: list[str] | None = None,
        email_enabled: bool = False,
    ) -> None:
        self._business = business_name
        self._bootstrap_admins = list(admin_telegram_ids or [])
        self._sms_enabled = sms_enabled
        self._webhook_url = webhook_url
        self._clock = clock
        self._default_language = default_language
        self._email_enabled = email_enabled
        self._admin_emails = list(admin_emails or []) if email_enabled else []

    @property
    def sms_enabled(self) -> bool:
        """True when SMS messages are delivered (an SMS channel is configured)."""
        return self._sms_enabled

    async def enqueue(
        self,
        *,
        event_key: str,
        channel: NotificationChannel,
        recipient: str | int,
        payload: dict[str, Any],
        delay_s: float = 0.0,
    ) -> None:
        """Queue one message unless this event already queued it (INSERT ... ON CONFLICT IGNORE)."""
        await self.write([OutboxRow(event_key, channel, str(recipient), payload, delay_s)])

    async def write(self, rows: Iterable[OutboxRow]) -> None:
        """Queue ``rows`` in one statement; a row whose event_key is already queued is skipped."""
        objects = [
            Notification(
                event_key=row.event_key[:128],
                channel=row.channel,
                recipient=row.recipient,
                payload=row.payload,
                next_attempt_at=self.due_at(row),
            )
            for row in rows
        ]
        if objects:
            await Notification.bulk_create(objects, ignore_conflicts=True)

    def due_at(self, row: OutboxRow) -> datetime:
        """When the outbox may first try to deliver ``row`` (aware UTC)."""
        return self._clock() + timedelta(seconds=row.delay_s)

    # -- payments ---------------------------------------------------------------------------

    async def payment_changed(self, payment: Payment) -> None:
        """Tell everyone concerned that an STK payment moved to its current status."""
        status = PaymentStatus(payment.status)
        paid = status is PaymentStatus.PAID
        order = None
        if payment.order_id is not None and (paid or status.can_retry):
            order = await payment.order
        customer = await payment.customer if paid and payment.customer_id else None
        creator = await order.created_by if paid and order and order.created_by_id else None
        admin_ids = await self.admin_ids() if status is PaymentStatus.REVIEW else []
        await self.write(
            self.payment_rows(
                payment, order=order, customer=customer, creator=creator, admin_ids=admin_ids
            )
        )

    async def payment_superseded(self, payment: Payment) -> None:
        """Show an older attempt's status message as replaced by a newer one (no buttons)."""
        if payment.chat_id is None:
            return
        await self.enqueue(
            event_key=f"payment:{payment.id}:superseded:chat:{payment.chat_id}",
            channel=NotificationChannel.CHAT,
            recipient=payment.chat_id,
            payload={"event": "payment", "payment_id": payment.id},
        )

    def payment_rows(
        self,
        payment: Payment,
        *,
        order: Order | None,
        customer: Customer | None,
        creator: Staff | None,
        admin_ids: list[int],
    ) -> list[OutboxRow]:
        """The messages a payment's current status produces, given its related records.

        ``order`` is needed when the payment has one and is paid or retryable; ``customer`` and
        ``creator`` (the order's) when it is paid; ``admin_ids`` when it is under review.
        """
        status = PaymentStatus(payment.status)
        base = f"payment:{payment.id}:{status.value}"
        rows: list[OutboxRow] = []
        if payment.chat_id is not None:
            rows.append(
                OutboxRow(
                    f"{base}:chat:{payment.chat_id}",
                    NotificationChannel.CHAT,
                    str(payment.chat_id),
                    {"event": "payment", "payment_id": payment.id},
                )
            )
        if status is PaymentStatus.PAID:
            rows += self._paid_rows(payment, base, order, customer, creator)
        elif status.can_retry and payment.order_id is not None and order is not None:
            rows += self._order_payment_failed_rows(payment, base, order)
        elif status is PaymentStatus.REVIEW:
            text = (
                f"Payment #{payment.id} needs review: {payment.review_reason or 'see the record'}"
            )
            rows += self.alert_rows(f"{base}:alert", text, admin_ids)
            rows += self.alert_email_rows(f"{base}:alert", text)
        return rows

    def _order_payment_failed_rows(
        self, payment: Payment, base: str, order: Order
    ) -> list[OutboxRow]:
        # the shop hears about failed attempts of its orders; the order stays open for a retry
        return self.webhook_rows(
            base,
            "payment.failed",
            {
                "orderId": order.code,
                "reference": order.reference,
                "paymentId": payment.id,
                "paymentMethod": method_of(payment.provider),
                "status": PaymentStatus(payment.status).value,
                "amount": payment.amount,
                "attempt": payment.attempt,
                "resultCode": payment.result_code,
                "resultDesc": payment.result_desc,
            },
        )

    def _paid_rows(
        self,
        payment: Payment,
        base: str,
        order: Order | None,
        customer: Customer | None,
        creator: Staff | None,
    ) -> list[OutboxRow]:
        rows: list[OutboxRow] = []
        language = self.language_of(customer)
        if self._sms_enabled:
            rows.append(
                OutboxRow(
                    f"{base}:sms",
                    NotificationChannel.SMS,
                    payment.msisdn,
                    {"text": self.payment_receipt_sms(payment, order, language=language)},
                )
            )
        if self._email_enabled and order is not None and order.email:
            # rendered (with its PDF) when delivered, like chat messages: never stale
            rows.append(
                OutboxRow(
                    f"{base}:email",
                    NotificationChannel.EMAIL,
                    order.email,
                    {"event": "receipt", "payment_id": payment.id, "language": language},
                )
            )
        # its own event, even in the chat of the status message: an edit is silent, a receipt
        # message is not, and each is delivered (and retried) once
        if customer is not None and customer.chat_id:
            rows.append(
                OutboxRow(
                    f"{base}:customer:{customer.chat_id}",
                    NotificationChannel.CHAT,
                    str(customer.chat_id),
                    {"event": "payment_receipt", "payment_id": payment.id},
                )
            )
        if order is not None:
            rows += self.order_paid_rows(order, payment, creator)
        return rows

    def order_paid_rows(
        self, order: Order, payment: Payment | None, creator: Staff | None
    ) -> list[OutboxRow]:
        """The messages an order paid (by ``payment``, or by C2B when None) produces."""
        rows: list[OutboxRow] = []
        if creator is not None and (payment is None or creator.telegram_id != payment.chat_id):
            rows.append(
                OutboxRow(
                    f"order:{order.id}:paid:staff:{creator.telegram_id}",
                    NotificationChannel.CHAT,
                    str(creator.telegram_id),
                    {"event": "order_paid", "order_id": order.id},
                )
            )
        rows += self.webhook_rows(
            f"order:{order.id}:paid",
            "order.paid",
            {
                "orderId": order.code,
                "reference": order.reference,
                "amount": order.amount,
                "receipt": order.paid_receipt,
                "paymentId": payment.id if payment else None,
                # a paybill (C2B) payment is M-Pesa's
                "paymentMethod": method_of(payment.provider if payment else None),
            },
        )
        return rows

    async def order_paid(self, order: Order) -> None:
        """Tell the order's creator and the shop that an order was paid (C2B or STK)."""
        creator = await order.created_by if order.created_by_id else None
        await self.write(self.order_paid_rows(order, None, creator))

    def language_of(self, customer: Customer | None) -> str:
        """The language a customer reads SMS and e-mail in: theirs, else DEFAULT_LANGUAGE."""
        if customer is not None and customer.language:
            return customer.language
        return self._default_language

    def payment_receipt_sms(
        self, payment: Payment, order: Order | None, *, language: str | None = None
    ) -> str:
        """The customer's SMS receipt for a paid STK payment, in plain words."""
        return receipts.payment_receipt_sms(
            payment,
            order,
            business_name=self._business,
            language=language or self._default_language,
        )

    # -- payouts ----------------------------------------------------------------------------

    async def payout_changed(self, payout: Payout) -> None:
        """Tell the initiator (and the recipient by SMS once paid) where a payout stands."""
        await self.write(self.payout_rows(payout))

    # Same shape as payment_rows on purpose: each row spells out its event key, which is what
    # makes the outbox deliver it once
    def payout_rows(self, payout: Payout) -> list[OutboxRow]:
        """The messages a payout's current status produces."""
        status = PayoutStatus(payout.status)
        base = f"payout:{payout.id}:{status.value}"
        rows: list[OutboxRow] = []
        if payout.chat_id is not None:
            rows.append(
                OutboxRow(
                    f"{base}:chat:{payout.chat_id}",
                    NotificationChannel.CHAT,
                    str(payout.chat_id),
                    {"event": "payout", "payout_id": payout.id},
                )
            )
        if status is PayoutStatus.COMPLETED and self._sms_enabled:
            text = receipts.payout_sms(
                payout, business_name=self._business, language=self._default_language
            )
            rows.append(
                OutboxRow(f"{base}:sms", NotificationChannel.SMS, payout.msisdn, {"text": text})
            )
        if status in (PayoutStatus.COMPLETED, PayoutStatus.FAILED):
            rows += self.webhook_rows(
                f"payout:{payout.id}:{status.value}",
                f"payout.{status.value}",
                {
                    "payoutId": payout.id,
                    "paymentMethod": method_of(payout.provider),
                    "amount": payout.amount,
                    "phoneNumber": mask_msisdn(payout.msisdn),
                    "receipt": payout.receipt,
                    "resultCode": payout.result_code,
                    "resultDesc": payout.result_desc,
                },
            )
        return rows

    async def approval_requested(self, payout: Payout) -> None:
        """Ask every other active admin to approve or reject a payout above the threshold."""
        initiator = await payout.initiated_by
        await self.write(
            OutboxRow(
                f"payout:{payout.id}:approval:{admin_id}",
                NotificationChannel.CHAT,
                str(admin_id),
                {"event": "payout_approval", "payout_id": payout.id},
            )
            for admin_id in await self.admin_ids()
            if admin_id != initiator.telegram_id
        )

    # -- other answers ----------------------------------------------------------------------

    async def query_answered(self, query: DarajaQuery) -> None:
        """Push a balance or status answer to whoever asked for it."""
        await self._tell_asker("query", query)

    async def reversal_changed(self, reversal: Reversal) -> None:
        """Tell the admin who asked where a reversal stands."""
        await self._tell_asker("reversal", reversal)

    async def _tell_asker(self, noun: str, record: DarajaQuery | Reversal) -> None:
        """One chat event per status of ``record``, to the chat it was asked from (if any)."""
        if record.chat_id is None:
            return
        await self.enqueue(
            event_key=f"{noun}:{record.id}:{record.status}:chat:{record.chat_id}",
            channel=NotificationChannel.CHAT,
            recipient=record.chat_id,
            payload={"event": noun, f"{noun}_id": record.id},
        )

    async def admin_alert(self, event_key: str, text: str) -> None:
        """Alert every active admin (configuration problems, drift, reviews)."""
        await self.write(
            self.alert_rows(event_key, text, await self.admin_ids())
            + self.alert_email_rows(event_key, text)
        )

    def alert_email_rows(self, event_key: str, text: str) -> list[OutboxRow]:
        """The same alert by e-mail to each of ADMIN_EMAILS (none when e-mail is off)."""
        return [
            OutboxRow(
                f"{event_key}:email:{address}",
                NotificationChannel.EMAIL,
                address,
                {"event": "alert", "text": text},
            )
            for address in self._admin_emails
        ]

    async def daily_summary(self, day: str) -> None:
        """Queue the daily summary of ``day`` (YYYY-MM-DD, Nairobi) to each of ADMIN_EMAILS."""
        await self.write(
            OutboxRow(
                f"summary:{day}:email:{address}",
                NotificationChannel.EMAIL,
                address,
                {"event": "daily_summary", "day": day},
            )
            for address in self._admin_emails
        )

    async def pay_link_sms(self, order: Order, msisdn: str, link: str, *, language: str) -> None:
        """Text a customer the link to pay ``order`` (once per order and phone)."""
        text = receipts.pay_link_sms(order, link, business_name=self._business, language=language)
        await self.enqueue(
            event_key=f"order:{order.id}:link:sms:{msisdn}",
            channel=NotificationChannel.SMS,
            recipient=msisdn,
            payload={"text": text},
        )

    @staticmethod
    def alert_rows(event_key: str, text: str, admin_ids: list[int]) -> list[OutboxRow]:
        """One alert message per admin in ``admin_ids``."""
        return [
            OutboxRow(
                f"{event_key}:admin:{admin_id}",
                NotificationChannel.CHAT,
                str(admin_id),
                {"event": "alert", "text": text},
            )
            for admin_id in admin_ids
        ]

    async def webhook_event(self, event_key: str, event_type: str, data: dict[str, Any]) -> None:
        """Queue a signed webhook to the shop backend, when one is configured."""
        await self.write(self.webhook_rows(event_key, event_type, data))

    def webhook_rows(
        self, event_key: str, event_type: str, data: dict[str, Any]
    ) -> list[OutboxRow]:
        """The shop webhook for an event: one row, or none when no webhook is configured."""
        if not self._webhook_url:
            return []
        # the id is drawn once, here: a retried delivery repeats it so the shop can de-duplicate
        payload = {"id": f"evt_{uuid.uuid4().hex}", "type": event_type, "data": data}
        return [
            OutboxRow(
                f"{event_key}:webhook", NotificationChannel.WEBHOOK, self._webhook_url, payload
            )
        ]

    async def admin_ids(self) -> list[int]:
        """Telegram ids of active admins: the configured bootstrap admins and those in the DB."""
        ids = dict.fromkeys(self._bootstrap_admins)
        rows = await Staff.filter(role=StaffRole.ADMIN, active=True).values_list(
            "telegram_id", flat=True
        )
        ids.update(dict.fromkeys(rows))
        removed = await Staff.filter(active=False).values_list("telegram_id", flat=True)
        return [admin for admin in ids if admin not in set(removed)]
