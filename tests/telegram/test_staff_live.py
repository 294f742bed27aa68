"""Staff status messages kept live from the outbox: the same message edited as M-Pesa reports."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.telegram import keyboards
from bot.telegram import texts
from bot.telegram.chat_channel import TelegramChatChannel
from models import NotificationChannel
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import StaffRole
from tests.helpers.b2c import b2c_success
from tests.helpers.stk import stk_callback
from tests.helpers.telegram import ADMIN_ID
from tests.helpers.telegram import CASHIER_ID
from tests.helpers.telegram import World
from tests.helpers.telegram import staff_world

SECOND_ADMIN_ID = 3003


@pytest.fixture
async def world(db, settings) -> AsyncIterator[World]:
    """The bot whose outbox delivers CHAT events through the Telegram chat channel."""
    channel = TelegramChatChannel()
    cashier = (CASHIER_ID, StaffRole.CASHIER, "Mary")
    second_admin = (SECOND_ADMIN_ID, StaffRole.ADMIN, "Otieno")
    channels = {NotificationChannel.CHAT: channel}
    async with staff_world(settings, cashier, second_admin, channels=channels) as world:
        channel.bind(world.h.app.bot, world.services)
        yield world


@pytest.mark.parametrize(
    ("result_code", "status", "buttons"),
    [
        (0, PaymentStatus.PAID, None),
        (1032, PaymentStatus.CANCELLED, "🔁 Retry"),
        (1, PaymentStatus.INSUFFICIENT_FUNDS, "🔁 Retry"),
        (1037, PaymentStatus.TIMED_OUT, "🔁 Retry"),
    ],
)
async def test_request_status_message_is_edited_with_the_outcome(
    world: World, result_code: int, status: PaymentStatus, buttons: str | None
) -> None:
    sent = await world.h.send(CASHIER_ID, "/request 0708374149 1500")
    message_id = sent[0].result["message_id"]
    payment = await Payment.get()

    await world.services.payments.apply_stk_callback(
        stk_callback(payment.checkout_request_id, result_code=result_code, amount=1500)
    )
    await world.services.outbox.run_once()

    payment = await Payment.get()
    assert payment.status == status
    shown = world.h.api.message(CASHIER_ID, message_id)
    assert shown["text"] == texts.payment_card(payment)
    assert len(world.h.api.chat_messages(CASHIER_ID)) == 1  # edited, not a second message
    labels = [
        b["text"] for row in shown.get("reply_markup", {}).get("inline_keyboard", []) for b in row
    ]
    assert labels == ([buttons] if buttons else [])


async def test_approval_across_two_admins_and_the_result_in_the_same_message(
    world: World,
) -> None:
    sent = await world.h.send(ADMIN_ID, "/send 0708374149 20000 Supplier")
    message_id = sent[0].result["message_id"]
    payout = await Payout.get()
    await world.h.press(ADMIN_ID, f"payout:confirm:{payout.id}", message_id=message_id)
    await world.services.outbox.run_once()

    card = world.h.last_message(SECOND_ADMIN_ID)
    assert card["reply_markup"] == keyboards.approval_buttons(await Payout.get()).to_dict()

    await world.h.press(
        SECOND_ADMIN_ID, f"payout:approve:{payout.id}", message_id=card["message_id"]
    )
    await world.services.outbox.run_once()

    initiator_card = world.h.api.message(ADMIN_ID, message_id)["text"]
    assert "Approved by Otieno" in initiator_card
    assert len(world.daraja.called("b2c_payment")) == 1

    await world.services.payouts.results.apply_b2c_result(
        b2c_success(
            originator=payout.originator_conversation_id,
            amount=20000,
            receiver="254708374149 - John <Doe>",
        )
    )
    await world.services.outbox.run_once()

    payout = await Payout.get()
    assert payout.status == PayoutStatus.COMPLETED
    final = world.h.api.message(ADMIN_ID, message_id)["text"]
    assert "Receipt: <code>UKK7R3N9TD</code>" in final
    assert "Received by: " in final
    assert "Approved by Otieno" in final
