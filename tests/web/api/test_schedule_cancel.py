"""POST /api/v1/schedules/{scheduleId}/cancel: a shop backend stops the schedule it made."""

from __future__ import annotations

from datetime import date
from datetime import time
from datetime import timedelta

import pytest

from bot.services.api_keys import actor_for_key
from bot.services.calendar import Frequency
from bot.services.calendar import Recurrence
from bot.services.errors import Conflict
from models import AuditEvent
from models import Schedule
from models import ScheduleKind
from models import ScheduleStatus
from models import Staff

RENT = {
    "kind": "payment_request",
    "phoneNumber": "0708374149",
    "amount": 1500,
    "description": "Rent",
    "frequency": "daily",
    "start": "2026-11-21",
    "at": "09:00",
}


async def made(api, **fields) -> dict:
    response = await api.client.post(
        "/api/v1/schedules", json={**RENT, **fields}, headers=api.headers
    )
    assert response.status == 201, await response.text()
    return await response.json()


async def cancel(api, schedule_id, **headers: str):
    return await api.client.post(
        f"/api/v1/schedules/{schedule_id}/cancel", headers={**api.headers, **headers}
    )


async def test_a_cancelled_schedule_answers_cancelled_and_never_runs_again(api) -> None:
    schedule = await made(api)
    assert (schedule["status"], schedule["nextDueAt"]) == ("active", "2026-11-21T06:00:00+00:00")

    answer = await cancel(api, schedule["scheduleId"])

    assert answer.status == 200, await answer.text()
    body = await answer.json()
    assert (body["scheduleId"], body["status"], body["nextDueAt"]) == (
        schedule["scheduleId"],
        "cancelled",
        None,
    )
    assert body["occurrences"] == []
    api.clock.advance(timedelta(days=2).total_seconds())  # past the first due time
    await api.services.schedules.run_due()
    assert api.daraja.called("stk_push") == []
    assert (await Schedule.get(id=schedule["scheduleId"])).status == ScheduleStatus.CANCELLED
    events = await AuditEvent.filter(
        action="schedule.cancel", subject=f"schedule:{schedule['scheduleId']}"
    ).values_list("actor", "outcome")
    assert events == [(actor_for_key(api.key), "ok")]


async def test_cancelling_again_is_409_with_the_reason(api) -> None:
    schedule = await made(api)
    await cancel(api, schedule["scheduleId"])

    again = await cancel(api, schedule["scheduleId"])

    assert again.status == 409
    assert (await again.json())["error"] == {
        "code": "conflict",
        "message": f"S{schedule['scheduleId']} is cancelled; there is nothing left to cancel.",
    }


async def test_the_same_idempotency_key_replays_the_first_answer(api) -> None:
    schedule = await made(api)

    first = await cancel(api, schedule["scheduleId"], **{"Idempotency-Key": "stop-rent-1"})
    replay = await cancel(api, schedule["scheduleId"], **{"Idempotency-Key": "stop-rent-1"})

    assert (first.status, replay.status) == (200, 200)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert await replay.json() == await first.json()


async def test_a_finished_schedule_is_409(api) -> None:
    schedule = await made(api, frequency="once")
    api.clock.advance(timedelta(days=1).total_seconds())
    await api.services.schedules.run_due()
    assert (await Schedule.get(id=schedule["scheduleId"])).status == ScheduleStatus.FINISHED

    answer = await cancel(api, schedule["scheduleId"])

    assert answer.status == 409
    assert (await answer.json())["error"]["message"] == (
        f"S{schedule['scheduleId']} is finished; there is nothing left to cancel."
    )


async def test_an_unknown_schedule_is_404(api) -> None:
    unknown = await cancel(api, 4242)
    not_an_id = await cancel(api, "S7")

    assert (unknown.status, not_an_id.status) == (404, 404)
    assert (await unknown.json())["error"] == {
        "code": "not_found",
        "message": "There is no schedule S4242.",
    }


async def test_a_payout_schedule_waiting_for_an_admin_is_cancelled_before_any_confirm(
    api,
) -> None:
    schedule = await made(api, kind="payout", description="Wages")
    assert schedule["status"] == "awaiting_confirmation"

    answer = await cancel(api, schedule["scheduleId"])

    assert (await answer.json())["status"] == "cancelled"
    await api.services.staff.bootstrap_admins()
    admin = await Staff.filter(role="admin").first()
    with pytest.raises(Conflict) as refused:  # an admin's Confirm comes too late
        await api.services.schedules.confirm(
            schedule["scheduleId"], by_telegram_id=admin.telegram_id
        )
    assert str(refused.value) == f"S{schedule['scheduleId']} is cancelled."
    assert api.daraja.called("b2c_payment") == []


async def test_a_schedule_made_in_the_chat_is_not_the_api_keys_to_cancel(api) -> None:
    await api.services.staff.bootstrap_admins()
    admin = await Staff.filter(role="admin").first()
    schedule = await api.services.schedules.create(
        ScheduleKind.PAYOUT,
        "0708374149",
        1500,
        Recurrence(Frequency.WEEKLY, start=date(2026, 11, 20), at=time(17, 0), weekdays=(4,)),
        description="Wages",
        actor=f"tg:{admin.telegram_id}",
        created_by=admin,
        created_via="chat",
    )

    answer = await cancel(api, schedule.id)

    assert answer.status == 403
    assert (await answer.json())["error"] == {
        "code": "not_allowed",
        "message": f"S{schedule.id} was made in the chat; cancel it there: /schedule cancel "
        f"S{schedule.id}",
    }
    assert (await Schedule.get(id=schedule.id)).status == ScheduleStatus.AWAITING_CONFIRMATION
    refused = await AuditEvent.filter(action="schedule.cancel").values_list("actor", "outcome")
    assert refused == [(actor_for_key(api.key), "refused")]
