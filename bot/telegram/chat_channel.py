"""The outbox's chat channel: renders each CHAT event from the database and shows it on Telegram.

Live status messages (payments, payouts, reversals) are edited in place; everything else is a new
message. A message that already shows the right text ("message is not modified") counts as
delivered; a user who blocked the bot is given up on; anything else is retried by the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from html import escape
from typing import Any

from telegram import Bot
from telegram import InlineKeyboardMarkup
from telegram import InputFile
from telegram import Message
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.error import Forbidden

from bot.notify.channels import PermanentDeliveryError
from bot.services.bulk import batch_ref
from bot.services.bulk import counts_of
from bot.services.bulk_sender import batch_counts
from bot.services.bulk_sender import name_check
from bot.services.bulk_sender import result_csv_rows
from bot.services.calendar import nairobi
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from bot.telegram import bulk_texts
from bot.telegram import customer_texts
from bot.telegram import keyboards
from bot.telegram import staff_bulk
from bot.telegram import staff_keyboards
from bot.telegram import staff_schedules
from bot.telegram import staff_texts
from bot.telegram import texts
from bot.telegram.customer import payment_buttons as customer_payment_buttons
from bot.telegram.staff_base import payout_card
from models import Customer
from models import DarajaQuery
from models import Notification
from models import Order
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutBatch
from models import Provider
from models import QueryKind
from models import QueryStatus
from models import Reversal
from models import Schedule
from models import ScheduleOccurrence
from models import Staff
from mpesa.amounts import format_cents

log = logging.getLogger(__name__)

# how long a status message id may be missing before we give up waiting and send a new message
MESSAGE_ID_GRACE_S = 30.0
GONE = ("message to edit not found", "message can't be edited", "message_id_invalid")
UNREACHABLE_CHAT = ("chat not found", "user is deactivated", "peer_id_invalid")

Remember = Callable[[int, int, int], Awaitable[None]]


class StatusMessagePending(Exception):
    """The handler has not stored the status message id yet: retry shortly."""


class TelegramChatChannel:
    """Delivers CHAT outbox rows with the bot; ``bind`` it once the Application exists."""

    def __init__(
        self,
        bot: Bot | None = None,
        services: Any = None,
        *,
        clock: Clock = utcnow,
        message_id_grace_s: float = MESSAGE_ID_GRACE_S,
    ) -> None:
        self._bot = bot
        self._services = services
        self._clock = clock
        self._grace = timedelta(seconds=message_id_grace_s)
        self._events: dict[str, Callable[[int, dict[str, Any]], Awaitable[None]]] = {
            "payment": self._payment,
            "payment_receipt": self._payment_receipt,
            "order_paid": self._order_paid,
            "payout": self._payout,
            "payout_approval": self._payout_approval,
            "query": self._query,
            "reversal": self._reversal,
            "alert": self._alert,
            "batch_progress": self._batch_progress,
            "batch_approval": self._batch_approval,
            "batch_review": self._batch_review,
            "batch_done": self._batch_done,
            "schedule_review": self._schedule_review,
            "schedule_approval": self._schedule_approval,
            "schedule_reminder": self._schedule_reminder,
            "schedule_occurrence": self._schedule_occurrence,
        }

    def bind(self, bot: Bot, services: Any) -> None:
        """Attach the bot and services (both exist only after build_services has this channel)."""
        self._bot = bot
        self._services = services

    async def deliver(self, notification: Notification) -> None:
        """Render one CHAT event and show it; raise to retry, PermanentDeliveryError to give up."""
        if self._bot is None or self._services is None:
            raise RuntimeError("the chat channel is not bound to a bot yet")
        payload = notification.payload or {}
        handler = self._events.get(str(payload.get("event")))
        if handler is None:
            raise PermanentDeliveryError(f"unknown chat event {payload.get('event')!r}")
        try:
            chat_id = int(notification.recipient)
        except ValueError:
            raise PermanentDeliveryError(f"bad chat id {notification.recipient!r}") from None
        try:
            await handler(chat_id, payload)
        except Forbidden as exc:
            raise PermanentDeliveryError(f"the user blocked the bot: {exc}") from exc
        except BadRequest as exc:
            if _says(exc, UNREACHABLE_CHAT):
                raise PermanentDeliveryError(str(exc)) from exc
            raise

    # -- events ---------------------------------------------------------------------------------

    async def _payment(self, chat_id: int, payload: dict[str, Any]) -> None:
        payment = await _get(Payment, payload.get("payment_id"))
        order = await self._services.orders.order_for(payment)
        customer = await self._customer_in(payment, chat_id)
        if customer is not None:
            # the customer's own card, in their language
            language = self._language_of(customer)
            text = customer_texts.payment_card(payment, order, language)
            markup = customer_payment_buttons(payment, language)
        else:
            text, markup = texts.payment_card(payment, order), keyboards.payment_buttons(payment)
        await self._show_live(
            payment, chat_id, text, markup, self._services.payments.set_status_message
        )

    async def _payment_receipt(self, chat_id: int, payload: dict[str, Any]) -> None:
        payment = await _get(Payment, payload.get("payment_id"))
        order = await self._services.orders.order_for(payment)
        customer = (
            await Customer.get_or_none(id=payment.customer_id) if payment.customer_id else None
        )
        language = self._language_of(customer)
        await self._send(chat_id, customer_texts.receipt(payment, order, language))

    @staticmethod
    async def _customer_in(payment: Payment, chat_id: int) -> Customer | None:
        """The customer whose own chat shows this payment (None: a staff member's card)."""
        if payment.initiated_by_id is not None or payment.customer_id is None:
            return None
        customer = await Customer.get_or_none(id=payment.customer_id)
        if customer is None or customer.chat_id != chat_id:
            return None
        return customer

    def _language_of(self, customer: Customer | None) -> str:
        if customer is not None and customer.language:
            return customer.language
        return self._services.settings.default_language

    async def _order_paid(self, chat_id: int, payload: dict[str, Any]) -> None:
        order = await _get(Order, payload.get("order_id"))
        payment = (
            await Payment.filter(order_id=order.id, status=PaymentStatus.PAID)
            .order_by("-id")
            .first()
        )
        await self._send(chat_id, order_paid(order, payment))

    async def _payout(self, chat_id: int, payload: dict[str, Any]) -> None:
        payout = await _get(Payout, payload.get("payout_id"))
        await self._show_live(
            payout,
            chat_id,
            await payout_card(self._services, payout),
            keyboards.payout_buttons(payout),
            self._services.payouts.set_status_message,
        )

    async def _payout_approval(self, chat_id: int, payload: dict[str, Any]) -> None:
        payout = await _get(Payout, payload.get("payout_id"))
        text = f"🔔 <b>Approval needed</b>\n\n{await payout_card(self._services, payout)}"
        await self._send(chat_id, text, keyboards.approval_buttons(payout))

    async def _query(self, chat_id: int, payload: dict[str, Any]) -> None:
        query = await _get(DarajaQuery, payload.get("query_id"))
        # an admin's /resolve: its answer comes with the decisions it allows
        look = await self._services.resolutions.answered_look(query)
        if look is not None:
            await self._send(
                chat_id,
                staff_texts.resolve_look(look, None),
                staff_keyboards.resolve_buttons(look, None),
            )
            return
        await self._send(chat_id, query_answer(query))

    async def _reversal(self, chat_id: int, payload: dict[str, Any]) -> None:
        reversal = await _get(Reversal, payload.get("reversal_id"))
        await self._show_live(
            reversal,
            chat_id,
            staff_texts.reversal_card(reversal),
            staff_keyboards.reversal_buttons(reversal),
            self._services.reversals.set_reversal_message,
        )

    async def _batch_progress(self, chat_id: int, payload: dict[str, Any]) -> None:
        batch = await _get(PayoutBatch, payload.get("batch_id"))
        text, markup = await staff_bulk.live_card(self._services, batch)
        await self._show_live(batch, chat_id, text, markup, self._services.bulk.set_status_message)

    async def _batch_approval(self, chat_id: int, payload: dict[str, Any]) -> None:
        batch = await _get(PayoutBatch, payload.get("batch_id"))
        counts = await batch_counts(batch.id)
        requester = await Staff.get_or_none(id=batch.confirmed_by_id or 0)
        who = requester.name if requester is not None and requester.name else "an admin"
        await self._send(
            chat_id,
            bulk_texts.approval_card(batch, counts, who),
            staff_bulk.approval_buttons(batch),
        )

    async def _batch_review(self, chat_id: int, payload: dict[str, Any]) -> None:
        batch = await _get(PayoutBatch, payload.get("batch_id"))
        counts = await batch_counts(batch.id)
        await self._send(
            chat_id, bulk_texts.review_card(batch, counts), staff_bulk.batch_buttons(batch)
        )

    async def _batch_done(self, chat_id: int, payload: dict[str, Any]) -> None:
        batch = await _get(PayoutBatch, payload.get("batch_id"))
        rows = await self._services.bulk.rows(batch.id)
        counts = counts_of(rows)
        content = result_csv_rows(rows)
        differing = sum(
            1
            for row in rows
            if row.payout is not None
            and name_check(row.name, row.payout.receiver_name) == "differs"
        )
        await self._bot.send_document(
            chat_id,
            InputFile(content, filename=f"{batch_ref(batch)}-result.csv"),
            caption=bulk_texts.done_caption(batch, counts, differing=differing),
            parse_mode=ParseMode.HTML,
            reply_markup=staff_bulk.batch_buttons(batch, failed=counts.failed),
        )

    async def _schedule_review(self, chat_id: int, payload: dict[str, Any]) -> None:
        schedule = await _get(Schedule, payload.get("schedule_id"))
        text = (
            "🧾 <b>A schedule arrived through the API</b>; nothing runs until an admin confirms "
            f"it.\n\n{bulk_texts.schedule_card(schedule)}"
        )
        await self._send(chat_id, text, staff_schedules.schedule_buttons(schedule))

    # like _payout_approval: one renderer per outbox event, each naming its record, card and buttons
    async def _schedule_approval(self, chat_id: int, payload: dict[str, Any]) -> None:
        schedule = await _get(Schedule, payload.get("schedule_id"))
        text = f"🔔 <b>Approval needed</b>\n\n{bulk_texts.schedule_card(schedule)}"
        await self._send(chat_id, text, staff_schedules.approval_buttons(schedule))

    async def _schedule_reminder(self, chat_id: int, payload: dict[str, Any]) -> None:
        schedule = await _get(Schedule, payload.get("schedule_id"))
        due = datetime.fromisoformat(str(payload.get("due_at")))
        await self._send(
            chat_id,
            bulk_texts.schedule_reminder(schedule, nairobi(due)),
            staff_schedules.schedule_buttons(schedule),
        )

    async def _schedule_occurrence(self, chat_id: int, payload: dict[str, Any]) -> None:
        occurrence = await _get(ScheduleOccurrence, payload.get("occurrence_id"))
        schedule = await Schedule.get(id=occurrence.schedule_id)
        await self._send(chat_id, bulk_texts.occurrence_summary(schedule, occurrence))

    async def _alert(self, chat_id: int, payload: dict[str, Any]) -> None:
        await self._send(chat_id, f"⚠️ {escape(str(payload.get('text', '')))}")

    # -- showing --------------------------------------------------------------------------------

    async def _send(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> Message:
        return await self._bot.send_message(
            chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
        )

    async def _show_live(
        self,
        record: Payment | Payout | Reversal | PayoutBatch,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        remember: Remember | None,
    ) -> None:
        """Edit the record's status message; send (and remember) a new one when there is none."""
        if record.message_id is None or record.chat_id != chat_id:
            if remember is not None and self._clock() - record.created_at < self._grace:
                # the callback beat the handler's set_status_message: its id is coming
                raise StatusMessagePending(
                    f"{type(record).__name__} #{record.id} has no message yet"
                )
            await self._replace(record, chat_id, text, markup, remember)
            return
        try:
            await self._bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=record.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        except BadRequest as exc:
            if _says(exc, ("message is not modified",)):
                return  # it already shows this
            if not _says(exc, GONE):
                raise
            log.info("chat.status_message_gone record=%s reason=%s", record.id, exc)
            await self._replace(record, chat_id, text, markup, remember)

    async def _replace(
        self,
        record: Payment | Payout | Reversal | PayoutBatch,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        remember: Remember | None,
    ) -> None:
        message = await self._send(chat_id, text, markup)
        if remember is not None:
            await remember(record.id, chat_id, message.message_id)


def order_paid(order: Order, payment: Payment | None) -> str:
    """What the staff member who created an order reads when it is paid."""
    lines = [f"✅ <b>{customer_texts.order_line(order)} is paid</b>"]
    if payment is not None:
        amount = payment.paid_amount or payment.amount
        lines.append(f"{texts.kes(amount)} from {texts.phone(payment.msisdn)}")
    else:
        lines.append(texts.kes(order.amount))
    if order.paid_receipt:
        lines.append(f"M-Pesa receipt: <code>{escape(order.paid_receipt)}</code>")
    lines.append(f"Paid at: {texts.when(order.paid_at)}")
    return "\n".join(lines)


def query_answer(query: DarajaQuery) -> str:
    """A balance or transaction-status answer (balances come in cents)."""
    result = query.result or {}
    answered = QueryStatus(query.status) is QueryStatus.ANSWERED
    if QueryKind(query.kind) is QueryKind.BALANCE:
        if not answered:
            reason = result.get("result_desc") or result.get("error") or "no answer"
            who = "Airtel Money" if result.get("provider") == Provider.AIRTEL.value else "M-Pesa"
            return f"⚠️ The {who} balance check failed: {escape(str(reason))}"
        airtel = result.get("provider") == Provider.AIRTEL.value
        lines = ["💰 <b>Airtel Money balance</b>" if airtel else "💰 <b>M-Pesa balance</b>"]
        for account in result.get("accounts") or []:
            cents = account.get("available_cents")
            shown = format_cents(cents) if isinstance(cents, int) else "-"
            lines.append(f"{escape(str(account.get('name', '?')))}: {shown}")
        if len(lines) == 1:
            lines.append("M-Pesa sent no accounts.")
        lines.append(_balance_as_of(result.get("completed_at"), query.answered_at))
        return "\n".join(lines)
    if not answered:
        reason = result.get("result_desc") or result.get("error") or "no answer"
        return f"⚠️ The transaction status query failed: {escape(str(reason))}"
    lines = ["🔎 <b>Transaction status</b>"]
    if result.get("receipt"):
        lines.append(f"Receipt: <code>{escape(str(result['receipt']))}</code>")
    if result.get("transaction_status"):
        lines.append(f"Status: {escape(str(result['transaction_status']))}")
    if isinstance(result.get("amount"), int):
        lines.append(f"Amount: {texts.kes(result['amount'])}")
    if result.get("credit_party_name"):
        lines.append(f"To: {escape(str(result['credit_party_name']))}")
    return "\n".join(lines)


def _balance_as_of(reported: object, answered_at: datetime | None) -> str:
    """When the balance was true: M-Pesa's own time (BOCompletedTime), in Nairobi time."""
    try:
        moment = datetime.fromisoformat(str(reported)) if reported else None
    except ValueError:
        moment = None
    if moment is not None:
        return f"<i>As of {texts.when(moment)} (Nairobi time)</i>"
    return f"<i>As of {texts.when(answered_at)} (Nairobi time, when M-Pesa answered)</i>"


async def _get(model: Any, record_id: object) -> Any:
    """The record an event names; a missing one will never appear, so give up on it."""
    record = await model.get_or_none(id=record_id) if isinstance(record_id, int) else None
    if record is None:
        raise PermanentDeliveryError(f"{model.__name__} {record_id!r} does not exist")
    return record


def _says(exc: BadRequest, phrases: tuple[str, ...]) -> bool:
    text = str(exc).lower()
    return any(phrase in text for phrase in phrases)
