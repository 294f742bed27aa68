"""The bulk upload page: the file goes to the bulk service; its report is shown, nothing is sent."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from models import AuditEvent
from models import BatchStatus
from models import Payout
from models import PayoutBatch
from models import StaffRole
from tests.web.dashboard.conftest import ADMIN
from tests.web.dashboard.conftest import ADMIN2
from tests.web.dashboard.conftest import CASHIER
from tests.web.dashboard.conftest import csrf_of

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


async def press(client, batch_id: int, decision: str):
    page = await client.get(f"/dashboard/bulk/{batch_id}")
    return await client.post(
        f"/dashboard/bulk/{batch_id}/{decision}",
        data={"csrf_token": csrf_of(await page.text())},
        allow_redirects=False,
    )


async def test_a_batch_is_confirmed_and_approved_on_its_page_by_the_chats_rules(
    dash, aiohttp_client
):
    """Confirm on the page reserves the total; at or above the threshold a second admin must
    approve, never the requester; every press is audited like the chat's."""
    await dash.services.staff.add_as_operator(ADMIN2, StaffRole.ADMIN, "Achieng")
    other = await aiohttp_client(dash.client.server)
    await dash.sign_in(ADMIN2, on=other)
    await dash.sign_in(ADMIN)
    content = b"phone,amount,name\n0708374149,6000,Wanjiku\n0712345678,5000,Otieno\n"
    batch_id = int((await upload(dash, content)).headers["Location"].rsplit("/", 1)[1])
    report = await (await dash.client.get(f"/dashboard/bulk/{batch_id}")).text()

    confirmed = await press(dash.client, batch_id, "confirm")
    own = await press(dash.client, batch_id, "approve")
    approved = await press(other, batch_id, "approve")

    assert f'action="/dashboard/bulk/{batch_id}/confirm"' in report
    assert confirmed.status == 303
    assert own.status == 409
    assert "You asked for this batch; another admin must approve it." in await own.text()
    assert approved.status == 303
    batch = await PayoutBatch.get(id=batch_id)
    assert (batch.status, batch.total_amount) == (BatchStatus.SENDING, 11_000)
    assert await Payout.all().count() == 2  # reserved at Confirm, one payout per row
    actions = await AuditEvent.filter(action__startswith="bulk.").values_list("action", "actor")
    assert ("bulk.confirm", f"tg:{ADMIN}") in actions
    assert ("bulk.approve", f"tg:{ADMIN2}") in actions
    sending = await (await dash.client.get(f"/dashboard/bulk/{batch_id}")).text()
    assert f'action="/dashboard/bulk/{batch_id}/pause"' in sending
    assert f'action="/dashboard/bulk/{batch_id}/confirm"' not in sending


async def test_a_batch_cancelled_on_its_page_sends_nothing_and_unknown_decisions_are_404(dash):
    await dash.sign_in(ADMIN)
    content = b"phone,amount\n0708374149,1500\n"
    batch_id = int((await upload(dash, content)).headers["Location"].rsplit("/", 1)[1])

    unknown = await press(dash.client, batch_id, "explode")
    cancelled = await press(dash.client, batch_id, "cancel")
    again = await press(dash.client, batch_id, "confirm")

    assert unknown.status == 404
    assert cancelled.status == 303
    assert again.status == 409
    assert (await PayoutBatch.get(id=batch_id)).status == BatchStatus.CANCELLED
    assert await Payout.filter(status__not="cancelled").count() == 0


async def test_a_list_larger_than_the_servers_usual_body_limit_is_taken(dash):
    """The server refuses bodies over 64 KiB, except this form (up to BULK_MAX_FILE_BYTES)."""
    await dash.sign_in(ADMIN)
    rows = "".join(f"07{12000000 + i:08d},{100 + i},Person number {i}\n" for i in range(3000))
    content = ("phone,amount,name\n" + rows).encode()
    assert 64 * 1024 < len(content) < dash.settings.bulk_max_file_bytes

    answer = await upload(dash, content, "big.csv")

    assert answer.status == 303
    assert (await PayoutBatch.get()).row_count == 3000
