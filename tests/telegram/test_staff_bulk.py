"""Bulk payouts and schedules in the chat: the file, the summary, Confirm, approval, progress."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.notify.channels import RecordingChatChannel
from bot.telegram.transport import text_message
from models import BatchStatus
from models import Notification
from models import PayoutBatch
from models import Schedule
from models import ScheduleStatus
from models import StaffRole
from tests.helpers.telegram import World
from tests.helpers.telegram import staff_world

ADMIN_ID, SECOND_ADMIN_ID, CASHIER_ID = 1001, 3003, 2002
FILE = (
    "\ufeffPhone;Amount;Name;Reference\n"
    "0708 374 149;1,500.00;Jane Doe;Nov wages\n"
    "0733123456;500;Airtel Person;Nov wages\n"
    "0708374150;2000;John;Nov wages\n"
).encode()


@pytest.fixture
async def world(db, settings) -> AsyncIterator[World]:
    members = (
        (SECOND_ADMIN_ID, StaffRole.ADMIN, "Otieno"),
        (CASHIER_ID, StaffRole.CASHIER, "Mary"),
    )
    async with staff_world(settings, *members) as world:
        await world.services.staff.bootstrap_admins()
        yield world


async def send_file(world: World, user_id: int, content: bytes, *, caption: str | None) -> list:
    message: dict[str, Any] = text_message(user_id, "User", "")
    del message["text"]
    message["document"] = world.h.api.add_file(content, "wages.csv")
    if caption is not None:
        message["caption"] = caption
    return await world.h._feed({"message": message})


def buttons(call: Any) -> list[str]:
    markup = call.params.get("reply_markup")
    if markup is None:
        return []
    rows = markup if isinstance(markup, dict) else markup.to_dict()
    return [b["callback_data"] for row in rows["inline_keyboard"] for b in row]


async def test_a_file_captioned_bulk_is_summarised_with_its_rejected_rows(world: World) -> None:
    calls = await send_file(world, ADMIN_ID, FILE, caption="/bulk")

    batch = await PayoutBatch.get()
    summary = next(c for c in calls if c.method == "sendMessage")
    text = summary.params["text"]
    assert "<b>2</b> valid rows, <b>KES 3,500</b>" in text
    assert "line 3:" in text  # the Airtel number, refused with /send's reason
    assert buttons(summary) == [f"bulk:confirm:{batch.id}", f"bulk:cancel:{batch.id}"]
    document = next(c for c in calls if c.method == "sendDocument")
    assert document.params["document"]["filename"] == f"B{batch.id}-rejected.csv"
    assert b"0733123456" in document.params["document"]["content"]
    assert (batch.chat_id, batch.message_id) == (ADMIN_ID, summary.result["message_id"])


async def test_bulk_then_the_file(world: World) -> None:
    first = await world.h.send(ADMIN_ID, "/bulk")
    assert "Send the CSV or XLSX file now" in first[0].params["text"]

    await send_file(world, ADMIN_ID, FILE, caption=None)

    assert await PayoutBatch.all().count() == 1


async def test_a_document_without_bulk_is_ignored_and_cashiers_are_refused(world: World) -> None:
    assert await send_file(world, ADMIN_ID, FILE, caption=None) == []
    calls = await send_file(world, CASHIER_ID, FILE, caption="/bulk")

    assert await PayoutBatch.all().count() == 0
    assert "admins" in calls[0].params["text"].lower()


async def test_confirm_then_a_second_admin_approves_and_progress_is_one_message(
    world: World, settings
) -> None:
    calls = await send_file(world, ADMIN_ID, FILE, caption="/bulk")
    batch = await PayoutBatch.get()
    message_id = next(c for c in calls if c.method == "sendMessage").result["message_id"]
    services = world.services
    services.batches._bulk._settings = settings.model_copy(
        update={"payout_approval_threshold": 1000}
    )
    await PayoutBatch.filter(id=batch.id).update(needs_approval=True)

    pressed = await world.h.press(ADMIN_ID, f"bulk:confirm:{batch.id}", message_id=message_id)
    assert (await PayoutBatch.get(id=batch.id)).status == BatchStatus.AWAITING_APPROVAL
    edited = [c for c in pressed if c.method == "editMessageText"]
    assert "Waiting for a second admin" in edited[-1].params["text"]
    # the approval card goes to the other admin only
    approvals = await Notification.filter(event_key__contains="batch_approval")
    assert [n.recipient for n in approvals] == [str(SECOND_ADMIN_ID)]

    refused = await world.h.press(ADMIN_ID, f"bulk:approve:{batch.id}", message_id=message_id)
    assert any("another admin" in str(c.params.get("text", "")) for c in refused)
    await world.h.press(SECOND_ADMIN_ID, f"bulk:approve:{batch.id}", message_id=message_id)
    assert (await PayoutBatch.get(id=batch.id)).status == BatchStatus.SENDING

    await services.bulk_sender.run_once(budget_s=2.0)
    await services.bulk_sender.settle_batches()
    channel = RecordingChatChannel()
    assert channel is not None
    progress = await Notification.filter(event_key__startswith=f"batch:{batch.id}:progress")
    assert {n.recipient for n in progress} == {str(ADMIN_ID)}


async def test_schedule_a_weekly_payout_and_manage_it(world: World) -> None:
    calls = await world.h.send(ADMIN_ID, "/schedule pay 0708374149 1500 weekly fri 17:00 Wages")

    schedule = await Schedule.get()
    assert schedule.status == ScheduleStatus.AWAITING_CONFIRMATION
    assert buttons(calls[0]) == [f"sched:confirm:{schedule.id}", f"sched:cancel:{schedule.id}"]
    message_id = calls[0].result["message_id"]
    await world.h.press(ADMIN_ID, f"sched:confirm:{schedule.id}", message_id=message_id)
    assert (await Schedule.get(id=schedule.id)).status == ScheduleStatus.ACTIVE

    listed = await world.h.send(ADMIN_ID, "/schedule list")
    assert f"S{schedule.id}" in listed[0].params["text"]
    await world.h.send(ADMIN_ID, f"/schedule pause S{schedule.id}")
    assert (await Schedule.get(id=schedule.id)).status == ScheduleStatus.PAUSED
    await world.h.send(ADMIN_ID, f"/schedule resume S{schedule.id}")
    skipped = await world.h.send(ADMIN_ID, f"/schedule skip S{schedule.id}")
    assert "Schedule" in skipped[0].params["text"]
    await world.h.send(ADMIN_ID, f"/schedule cancel S{schedule.id}")
    assert (await Schedule.get(id=schedule.id)).status == ScheduleStatus.CANCELLED


async def test_schedule_usage_and_cashier_payouts_refused(world: World) -> None:
    usage = await world.h.send(ADMIN_ID, "/schedule")
    assert "Usage: /schedule" in usage[0].params["text"]
    refused = await world.h.send(CASHIER_ID, "/schedule pay 0708374149 1500 daily 08:00 Rent")
    assert "admins" in refused[0].params["text"].lower()
    assert await Schedule.all().count() == 0
