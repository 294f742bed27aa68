"""The API's payout batches and schedules: created, waiting for an admin, read back."""

from __future__ import annotations

import aiohttp

from models import Notification
from models import PayoutBatch
from models import Schedule
from models import ScheduleStatus
from tests.web.api.conftest import SQLITE_ONLY

ROWS = [
    {"phone": "0708374149", "amount": 1500, "name": "Jane", "reference": "Nov wages"},
    {"phone": "0733123456", "amount": 500, "name": "Airtel"},
    {"phone": "0708374150", "amount": "800"},
]


async def test_json_rows_make_a_batch_that_waits_for_an_admin(api) -> None:
    response = await api.client.post(
        "/api/v1/payout-batches",
        json={"rows": ROWS, "description": "November wages"},
        headers={**api.headers, "Idempotency-Key": "batch-1"},
    )

    assert response.status == 201, await response.text()
    body = await response.json()
    assert (body["status"], body["totalAmount"]) == ("awaiting_confirmation", 1500)
    assert (body["counts"]["valid"], body["counts"]["rejected"]) == (1, 2)
    assert [r["line"] for r in body["rejected"]] == [2, 3]
    assert "JSON integer" in body["rejected"][1]["reason"]
    batch = await PayoutBatch.get(id=body["batchId"])
    assert (batch.created_by_id, batch.source) == (None, "api:shop")
    # the admins are shown its summary; nothing is sent by the key itself
    reviews = await Notification.filter(event_key__contains="batch_review")
    assert [n.recipient for n in reviews] == ["1001"]
    assert api.daraja.called("b2c_payment") == []

    again = await api.client.post(
        "/api/v1/payout-batches",
        json={"rows": ROWS, "description": "November wages"},
        headers={**api.headers, "Idempotency-Key": "batch-1"},
    )
    assert again.status == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await PayoutBatch.all().count() == 1


async def test_a_multipart_file_and_the_batch_read_back(api) -> None:
    form = aiohttp.FormData()
    form.add_field(
        "file",
        b"phone;amount;name\n0708 374 149;1,500.00;Jane\n0708374150;2000;John\n",
        filename="wages.csv",
        content_type="text/csv",
    )
    form.add_field("description", "Wages")
    response = await api.client.post("/api/v1/payout-batches", data=form, headers=api.headers)
    assert response.status == 201, await response.text()
    created = await response.json()

    read = await api.client.get(f"/api/v1/payout-batches/{created['batchId']}", headers=api.headers)

    body = await read.json()
    assert read.status == 200
    assert body["totalAmount"] == 3500
    assert [(r["line"], r["status"], r["phoneNumber"]) for r in body["rows"]] == [
        (2, "queued", "2547****149"),
        (3, "queued", "2547****150"),
    ]


@SQLITE_ONLY
async def test_bad_batches_are_refused_with_the_field(api) -> None:
    cases = [
        ({}, "rows"),
        ({"rows": []}, "rows"),
        ({"rows": "x"}, "rows"),
        ({"rows": ROWS, "extra": 1}, "extra"),
        ({"rows": ROWS, "description": 5}, "description"),
    ]
    for body, field in cases:
        response = await api.client.post("/api/v1/payout-batches", json=body, headers=api.headers)
        assert response.status == 400, body
        assert (await response.json())["error"]["field"] == field
    missing = await api.client.get("/api/v1/payout-batches/999", headers=api.headers)
    assert missing.status == 404
    assert await PayoutBatch.all().count() == 0


async def test_a_payout_schedule_waits_for_an_admin_and_a_request_starts(api) -> None:
    payout = {
        "kind": "payout",
        "phoneNumber": "0708374149",
        "amount": 1500,
        "description": "Wages",
        "frequency": "weekly",
        "weekdays": ["fri"],
        "start": "2026-11-20",
        "at": "17:00",
    }
    made = await api.client.post("/api/v1/schedules", json=payout, headers=api.headers)
    assert made.status == 201, await made.text()
    body = await made.json()
    assert (body["status"], body["rule"]) == (
        "awaiting_confirmation",
        "every Friday at 17:00, from 20 Nov 2026",
    )
    assert await Notification.filter(event_key__contains="schedule_review").exists()

    request = {**payout, "kind": "payment_request", "frequency": "monthly", "monthDay": 1}
    del request["weekdays"]
    started = await api.client.post("/api/v1/schedules", json=request, headers=api.headers)
    assert started.status == 201, await started.text()
    assert (await started.json())["status"] == "active"

    listed = await (await api.client.get("/api/v1/schedules", headers=api.headers)).json()
    assert len(listed["data"]) == 2
    one = await api.client.get(f"/api/v1/schedules/{body['scheduleId']}", headers=api.headers)
    assert (await one.json())["occurrences"] == []
    schedule = await Schedule.get(id=body["scheduleId"])
    assert schedule.status == ScheduleStatus.AWAITING_CONFIRMATION


@SQLITE_ONLY
async def test_bad_schedules_are_refused_with_the_field(api) -> None:
    base = {
        "kind": "payout",
        "phoneNumber": "0708374149",
        "amount": 1500,
        "frequency": "daily",
        "start": "2026-11-20",
        "at": "17:00",
    }
    cases = [
        ({**base, "kind": "gift"}, "kind"),
        ({**base, "at": "5pm"}, "at"),
        ({**base, "frequency": "weekly"}, "frequency"),
        ({**base, "amount": "1500"}, "amount"),
        ({**base, "phoneNumber": "0733123456"}, "phoneNumber"),
        ({**base, "color": "red"}, "color"),
    ]
    for body, field in cases:
        response = await api.client.post("/api/v1/schedules", json=body, headers=api.headers)
        assert response.status == 400, (body, await response.text())
        assert (await response.json())["error"]["field"] == field


@SQLITE_ONLY
async def test_a_batch_may_be_larger_than_other_requests(api) -> None:
    rows = [{"phone": f"0708{i:06d}", "amount": 100, "reference": "x" * 60} for i in range(1500)]

    response = await api.client.post(
        "/api/v1/payout-batches", json={"rows": rows}, headers=api.headers
    )
    other = await api.client.post(
        "/api/v1/orders", json={"amount": 100, "description": "y" * 70_000}, headers=api.headers
    )

    assert response.status == 201, await response.text()
    assert (await response.json())["counts"]["valid"] == 1500
    assert other.status == 413
