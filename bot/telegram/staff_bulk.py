"""Bulk payouts in the chat: a CSV/XLSX with caption /bulk (or /bulk, then the file), the summary
with [Confirm] [Cancel], a second admin's [Approve] [Reject], one progress message, the result.

Handlers only translate: every rule is in BulkService (reading, checking) and BatchDecisions
(confirm, approve, pause, cancel, retry).
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardButton
from telegram import InlineKeyboardMarkup
from telegram import InputFile
from telegram import Message
from telegram import Update
from telegram.ext import Application
from telegram.ext import CallbackQueryHandler
from telegram.ext import CommandHandler
from telegram.ext import ContextTypes
from telegram.ext import MessageHandler
from telegram.ext import filters

from bot.services.bulk import batch_ref
from bot.services.bulk_rows import rejected_csv
from bot.services.bulk_sender import batch_counts
from bot.services.errors import ServiceError
from bot.telegram import bulk_texts
from bot.telegram import texts
from bot.telegram.keyboards import data
from bot.telegram.staff_base import ADMIN
from bot.telegram.staff_base import StaffHandlerBase
from bot.telegram.staff_base import answer
from bot.telegram.staff_base import callback_id
from bot.telegram.staff_base import chat_of
from bot.telegram.staff_base import edit
from models import BatchStatus
from models import PayoutBatch

log = logging.getLogger(__name__)

TOASTS = {
    "confirm": "Confirmed",
    "cancel": "Cancelled; rows not sent yet were dropped",
    "approve": "Approved; sending",
    "reject": "Rejected; nothing was sent",
    "pause": "Paused",
    "resume": "Resumed",
}


def batch_buttons(batch: PayoutBatch, *, failed: int = 0) -> InlineKeyboardMarkup | None:
    """The live message's buttons for where the batch stands."""
    status = BatchStatus(batch.status)
    rows: list[list[InlineKeyboardButton]] = []

    def button(label: str, verb: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(label, callback_data=data("bulk", verb, batch.id))

    if status is BatchStatus.AWAITING_CONFIRMATION:
        rows.append([button("✅ Confirm", "confirm"), button("✖️ Cancel", "cancel")])
    elif status is BatchStatus.AWAITING_APPROVAL:
        rows.append([button("✖️ Cancel", "cancel")])
    elif status is BatchStatus.SENDING:
        rows.append([button("⏸ Pause", "pause"), button("✖️ Cancel", "cancel")])
    elif status is BatchStatus.PAUSED:
        rows.append([button("▶️ Resume", "resume"), button("✖️ Cancel", "cancel")])
    if batch.settled_at is not None and failed:
        rows.append([button("🔁 Retry failed rows", "retry")])
    return InlineKeyboardMarkup(rows) if rows else None


def approval_buttons(batch: PayoutBatch) -> InlineKeyboardMarkup | None:
    """[Approve] [Reject] for a second admin, while the batch waits for one."""
    if BatchStatus(batch.status) is not BatchStatus.AWAITING_APPROVAL:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("✅ Approve", callback_data=data("bulk", "approve", batch.id)),
                InlineKeyboardButton("✖️ Reject", callback_data=data("bulk", "reject", batch.id)),
            ]
        ]
    )


async def live_card(services: Any, batch: PayoutBatch) -> tuple[str, InlineKeyboardMarkup | None]:
    """The batch's live message and its buttons, from the database now."""
    counts = await batch_counts(batch.id)
    return bulk_texts.batch_card(batch, counts), batch_buttons(batch, failed=counts.failed)


class BulkHandlers(StaffHandlerBase):
    """/bulk, the batch file, and the batch buttons."""

    async def bulk_cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/bulk: the admin's next document (within 10 minutes) is the batch file."""
        if await self.member(update, ADMIN, "bulk.upload") is None:
            return
        try:
            await self._services.bulk.expect_file(update.effective_user.id)
        except ServiceError as exc:
            await self.refuse(update, exc)
            return
        await update.effective_message.reply_html(bulk_texts.BULK_WAITING)

    async def on_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A document captioned /bulk, or sent after /bulk: read, check and summarise it."""
        message = update.effective_message
        caption = (message.caption or "").strip()
        user_id = update.effective_user.id
        captioned = (
            caption.split(maxsplit=1)[0].split("@")[0].lower() == "/bulk" if caption else False
        )
        if not captioned and not await self._services.bulk.awaits_file(user_id):
            return  # not a batch file: nothing to do with it
        if await self.member(update, ADMIN, "bulk.upload") is None:
            return
        document = message.document
        limit = self._services.settings.bulk_max_file_bytes
        if document.file_size and document.file_size > limit:
            await message.reply_html(
                texts.refusal(
                    f"The file is {document.file_size:,} bytes; at most {limit:,} bytes "
                    "(BULK_MAX_FILE_BYTES). Split it into smaller files."
                )
            )
            return
        content = bytes(await (await document.get_file()).download_as_bytearray())
        description = caption.split(maxsplit=1)[1] if captioned and " " in caption else ""
        try:
            result = await self._services.bulk.upload(
                content,
                file_name=document.file_name,
                by_telegram_id=user_id,
                chat_id=chat_of(update),
                description=description,
            )
        except ServiceError as exc:
            await self.refuse(update, exc, bulk_texts.USAGE_BULK)
            return
        batch = result.batch
        markup = batch_buttons(batch) if result.can_confirm else None
        sent = await message.reply_html(bulk_texts.summary(result), reply_markup=markup)
        await self._services.bulk.set_status_message(batch.id, chat_of(update), sent.message_id)
        if result.rejected:
            await context.bot.send_document(
                chat_of(update),
                InputFile(
                    rejected_csv(result.rejected), filename=f"{batch_ref(batch)}-rejected.csv"
                ),
                caption=bulk_texts.rejected_caption(len(result.rejected)),
            )

    async def on_bulk_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """[Confirm] [Cancel] [Approve] [Reject] [Pause] [Resume] [Retry failed rows]."""
        query = update.callback_query
        verb, batch_id = callback_id(query)
        batches = self._services.batches
        user_id = query.from_user.id
        if batch_id is None:
            await answer(query)
            return
        if verb == "retry":
            await self._retry(update, context, batch_id)
            return
        decide = {
            "confirm": batches.confirm,
            "cancel": batches.cancel,
            "approve": batches.approve,
            "reject": batches.reject,
            "pause": batches.pause,
            "resume": batches.resume,
        }.get(verb)
        if decide is None:
            await answer(query)
            return
        try:
            batch = await decide(batch_id, by_telegram_id=user_id)
        except ServiceError as exc:
            await answer(query, str(exc), alert=True)
            return
        await answer(query, TOASTS[verb])
        message: Message | None = query.message  # type: ignore[assignment]
        if verb in ("approve", "reject"):
            counts = await batch_counts(batch.id)
            await edit(query, bulk_texts.batch_card(batch, counts), approval_buttons(batch))
            return
        if verb == "confirm" and message is not None and batch.message_id != message.message_id:
            # an API batch confirmed from its review card: progress goes on this message
            await self._services.bulk.set_status_message(
                batch.id, message.chat_id, message.message_id
            )
            batch = await self._services.bulk.get(batch.id)
        text, markup = await live_card(self._services, batch)
        await edit(query, text, markup)

    async def _retry(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, batch_id: int
    ) -> None:
        query = update.callback_query
        try:
            result = await self._services.batches.retry_failed(
                batch_id, by_telegram_id=query.from_user.id, chat_id=chat_of(update)
            )
        except ServiceError as exc:
            await answer(query, str(exc), alert=True)
            return
        await answer(query, f"New batch {batch_ref(result.batch)}")
        sent = await context.bot.send_message(
            chat_of(update),
            bulk_texts.summary(result),
            reply_markup=batch_buttons(result.batch) if result.can_confirm else None,
        )
        await self._services.bulk.set_status_message(
            result.batch.id, chat_of(update), sent.message_id
        )


def register(app: Application, services: Any) -> None:
    """Add /bulk, the batch file and the batch buttons."""
    handlers = BulkHandlers(services)
    only_new = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("bulk", handlers.bulk_cmd, filters=only_new))
    app.add_handler(MessageHandler(filters.Document.ALL & only_new, handlers.on_document))
    app.add_handler(CallbackQueryHandler(handlers.on_bulk_button, pattern=r"^bulk:"))
