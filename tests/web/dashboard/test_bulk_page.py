"""The bulk upload page: the file goes to the bulk service; its report is shown, nothing is sent."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from models import AuditEvent, Payout, PayoutBatch
from tests.web.dashboard.conftest import ADMIN, CASHIER, csrf_of

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "bulk" / "messy.csv"


async def upload(dash, content: bytes, name: str = "wages.csv"):
    page = await dash.client.get("/dashboard/bulk")
    assert page.status == 200
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf_of(await page.text()))
    form.add_field("description", "Wages week 48")
    form.add_field("file", content, filename=name, content_type="text/csv")
    return await dash.client.post("/dashboard/bulk", data=form, allow_redirects=False)


async def test_an_uploaded_list_is_checked_and_reported_not_sent(dash):
    await dash.sign_in(ADMIN)
    content = b"phone,amount,name\n0708374149,1500,Wanjiku\n0733123456,200,Otieno\nabc,5,X\n"

    answer = await upload(dash, content)

    batch = await PayoutBatch.get()
    assert (answer.status, answer.headers["Location"]) == (303, f"/dashboard/bulk/{batch.id}")
    assert (batch.source, batch.valid_count, batch.rejected_count) == ("dashboard", 1, 2)
    assert batch.total_amount == 1500
    report = await (await dash.client.get(answer.headers["Location"])).text()
    assert "Rejected rows" in report
    assert "0733123456 is an Airtel number; M-Pesa needs Safaricom" in report
    assert "Wanjiku" in report
    assert await Payout.all().count() == 0
    event = await AuditEvent.get(action="bulk.create")
    assert event.actor == f"tg:{ADMIN}"


async def test_a_messy_real_world_file_is_read(dash):
    await dash.sign_in(ADMIN)

    answer = await upload(dash, FIXTURE.read_bytes(), "messy.csv")

    assert answer.status == 303
    batch = await PayoutBatch.get()
    assert batch.valid_count > 0


async def test_a_file_that_is_not_a_list_is_refused_with_the_reason(dash):
    await dash.sign_in(ADMIN)

    answer = await upload(dash, b"just some words\nand more words\n", "list.csv")

    assert answer.status == 422
    assert await PayoutBatch.all().count() == 0


async def test_a_cashier_gets_403(dash):
    await dash.sign_in(CASHIER)

    assert (await dash.client.get("/dashboard/bulk")).status == 403
