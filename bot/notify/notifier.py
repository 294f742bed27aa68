"""The Notifier services call: it writes outbox rows in the caller's transaction, never sends.

Chat messages are events (``{"event": "payment", "payment_id": 12}``) that the chat channel renders
from the current database state, so a late delivery never shows stale text. SMS messages are
rendered here, in plain words. Every row has an ``event_key``: one message per event and recipient,
however often the event is reported (duplicate callbacks, two reconcilers).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from models import (
    DarajaQuery,
    Notification,
    NotificationChannel,
    Order,
    Payment,
    PaymentStatus,
    Payout,
    PayoutStatus,
    Reversal,
    Staff,
    StaffRole,
)
from mpesa.amounts import format_kes
from mpesa.phone import mask_msisdn

log = logging.getLogger(__name__)


class Notifier:
    """Decides who hears about what, and queues it in the outbox."""

    def __init__(
        self,
        *,
        business_name: str,
        admin_telegram_ids: list[int] | None = None,
        sms_enabled: bool = True,
        webhook_url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._business = business_name
        self._bootstrap_admins = list(admin_telegram_ids or [])
        self._sms_enabled = sms_enabled
        self._webhook_url = webhook_url
        self._clock = clock

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
        row = Notification(
            event_key=event_key[:128],
            channel=channel,
            recipient=str(recipient),
            payload=payload,
            next_attempt_at=self._clock() + timedelta(seconds=delay_s),
        )
        await Notification.bulk_create([row], ignore_conflicts=True)

    # -- payments ---------------------------------------------------------------------------

    async def payment_changed(self, payment: Payment) -> None:
        """Tell everyone concerned that an STK payment moved to its current status."""
        status = PaymentStatus(payment.status)
        base = f"payment:{payment.id}:{status.value}"
        if payment.chat_id is not None:
            await self.enqueue(
                event_key=f"{base}:chat:{payment.chat_id}",
                channel=NotificationChannel.CHAT,
                recipient=payment.chat_id,
                payload={"event": "payment", "payment_id": payment.id},
            )
        if status is PaymentStatus.PAID:
            await self._payment_paid(payment, base)
        elif status.can_retry and payment.order_id is not None:
            await self._order_payment_failed(payment, base)
        elif status is PaymentStatus.REVIEW:
            await self.admin_alert(
                f"{base}:alert",
                f"Payment #{payment.id} needs review: {payment.review_reason or 'see the record'}",
            )

    async def _order_payment_failed(self, payment: Payment, base: str) -> None:
        # the shop hears about failed attempts of its orders; the order stays open for a retry
        order = await payment.order
        await self.webhook_event(
            base,
            "payment.failed",
            {
                "orderId": order.code,
                "reference": order.reference,
                "paymentId": payment.id,
                "status": PaymentStatus(payment.status).value,
                "amount": payment.amount,
                "attempt": payment.attempt,
                "resultCode": payment.result_code,
                "resultDesc": payment.result_desc,
            },
        )

    async def _payment_paid(self, payment: Payment, base: str) -> None:
        order = await payment.order if payment.order_id else None
        if self._sms_enabled:
            await self.enqueue(
                event_key=f"{base}:sms",
                channel=NotificationChannel.SMS,
                recipient=payment.msisdn,
                payload={"text": self.payment_receipt_sms(payment, order)},
            )
        customer = await payment.customer if payment.customer_id else None
        # its own event, even in the chat of the status message: an edit is silent, a receipt
        # message is not, and each is delivered (and retried) once
        if customer is not None and customer.chat_id:
            await self.enqueue(
                event_key=f"{base}:customer:{customer.chat_id}",
                channel=NotificationChannel.CHAT,
                recipient=customer.chat_id,
                payload={"event": "payment_receipt", "payment_id": payment.id},
            )
        if order is not None:
            await self._order_paid(order, payment)

    async def _order_paid(self, order: Order, payment: Payment | None) -> None:
        creator = await order.created_by if order.created_by_id else None
        if creator is not None and (payment is None or creator.telegram_id != payment.chat_id):
            await self.enqueue(
                event_key=f"order:{order.id}:paid:staff:{creator.telegram_id}",
                channel=NotificationChannel.CHAT,
                recipient=creator.telegram_id,
                payload={"event": "order_paid", "order_id": order.id},
            )
        await self.webhook_event(
            f"order:{order.id}:paid",
            "order.paid",
            {
                "orderId": order.code,
                "reference": order.reference,
                "amount": order.amount,
                "receipt": order.paid_receipt,
                "paymentId": payment.id if payment else None,
            },
        )

    async def order_paid(self, order: Order) -> None:
        """Tell the order's creator and the shop that an order was paid (C2B or STK)."""
        await self._order_paid(order, None)

    def payment_receipt_sms(self, payment: Payment, order: Order | None) -> str:
        """The customer's SMS receipt for a paid STK payment, in plain words."""
        if order is not None:
            what = f"order {order.code}"
        else:
            what = payment.description or payment.account_reference
        # a payment confirmed by STK query has no receipt number (M-Pesa's own SMS has it)
        receipt = f" M-Pesa receipt {payment.receipt}." if payment.receipt else ""
        return (
            f"{self._business}: we received {format_kes(payment.paid_amount or payment.amount)} "
            f"for {what}.{receipt} Thank you."
        )

    # -- payouts ----------------------------------------------------------------------------

    async def payout_changed(self, payout: Payout) -> None:
        """Tell the initiator (and the recipient by SMS once paid) where a payout stands."""
        status = PayoutStatus(payout.status)
        base = f"payout:{payout.id}:{status.value}"
        if payout.chat_id is not None:
            await self.enqueue(
                event_key=f"{base}:chat:{payout.chat_id}",
                channel=NotificationChannel.CHAT,
                recipient=payout.chat_id,
                payload={"event": "payout", "payout_id": payout.id},
            )
        if status is PayoutStatus.COMPLETED and self._sms_enabled:
            await self.enqueue(
                event_key=f"{base}:sms",
                channel=NotificationChannel.SMS,
                recipient=payout.msisdn,
                payload={
                    "text": (
                        f"{self._business} has sent you {format_kes(payout.amount)} by M-Pesa. "
                        f"Receipt {payout.receipt or 'pending'}. Reason: {payout.remarks}."
                    )
                },
            )
        if status in (PayoutStatus.COMPLETED, PayoutStatus.FAILED):
            await self.webhook_event(
                f"payout:{payout.id}:{status.value}",
                f"payout.{status.value}",
                {
                    "payoutId": payout.id,
                    "amount": payout.amount,
                    "phoneNumber": mask_msisdn(payout.msisdn),
                    "receipt": payout.receipt,
                    "resultCode": payout.result_code,
                    "resultDesc": payout.result_desc,
                },
            )

    async def approval_requested(self, payout: Payout) -> None:
        """Ask every other active admin to approve or reject a payout above the threshold."""
        initiator = await payout.initiated_by
        for admin_id in await self.admin_ids():
            if admin_id == initiator.telegram_id:
                continue
            await self.enqueue(
                event_key=f"payout:{payout.id}:approval:{admin_id}",
                channel=NotificationChannel.CHAT,
                recipient=admin_id,
                payload={"event": "payout_approval", "payout_id": payout.id},
            )

    # -- other answers ----------------------------------------------------------------------

    async def query_answered(self, query: DarajaQuery) -> None:
        """Push a balance or status answer to whoever asked for it."""
        if query.chat_id is None:
            return
        await self.enqueue(
            event_key=f"query:{query.id}:{query.status}:chat:{query.chat_id}",
            channel=NotificationChannel.CHAT,
            recipient=query.chat_id,
            payload={"event": "query", "query_id": query.id},
        )

    async def reversal_changed(self, reversal: Reversal) -> None:
        """Tell the admin who asked where a reversal stands."""
        if reversal.chat_id is None:
            return
        await self.enqueue(
            event_key=f"reversal:{reversal.id}:{reversal.status}:chat:{reversal.chat_id}",
            channel=NotificationChannel.CHAT,
            recipient=reversal.chat_id,
            payload={"event": "reversal", "reversal_id": reversal.id},
        )

    async def admin_alert(self, event_key: str, text: str) -> None:
        """Alert every active admin (configuration problems, drift, reviews)."""
        for admin_id in await self.admin_ids():
            await self.enqueue(
                event_key=f"{event_key}:admin:{admin_id}",
                channel=NotificationChannel.CHAT,
                recipient=admin_id,
                payload={"event": "alert", "text": text},
            )

    async def webhook_event(self, event_key: str, event_type: str, data: dict[str, Any]) -> None:
        """Queue a signed webhook to the shop backend, when one is configured."""
        if not self._webhook_url:
            return
        await self.enqueue(
            event_key=f"{event_key}:webhook",
            channel=NotificationChannel.WEBHOOK,
            recipient=self._webhook_url,
            # the id is drawn once, here: a retried delivery repeats it so the shop can de-duplicate
            payload={"id": f"evt_{uuid.uuid4().hex}", "type": event_type, "data": data},
        )

    async def admin_ids(self) -> list[int]:
        """Telegram ids of active admins: the configured bootstrap admins and those in the DB."""
        ids = dict.fromkeys(self._bootstrap_admins)
        rows = await Staff.filter(role=StaffRole.ADMIN, active=True).values_list(
            "telegram_id", flat=True
        )
        ids.update(dict.fromkeys(rows))
        removed = await Staff.filter(active=False).values_list("telegram_id", flat=True)
        return [admin for admin in ids if admin not in set(removed)]
