"""The payments pages: search, sort, page, export what is filtered, one payment's story."""

from __future__ import annotations

import csv
import io

from aiohttp.test_utils import TestClient

from models import AuditEvent
from models import C2BTransaction
from models import CallbackInbox
from models import Order
from models import Payment
from models import PaymentStatus
from models import Staff
from tests.web.dashboard.conftest import ADMIN
from tests.web.dashboard.conftest import CASHIER
from tests.web.dashboard.conftest import csrf_of


async def make(n: int, **fields):
    defaults = {
        "msisdn": "254708374149",
        "amount": 100 + n,
        "account_reference": "HPlanet",
        "status": PaymentStatus.PAID,
        "receipt": f"UKK{n:07d}",
        "checkout_request_id": f"ws_CO_{n:06d}",
        "description": f"Sale {n}",
    }
    return await Payment.create(**{**defaults, **fields})


async def ids_on(dash, query: str) -> list[int]:
    answer = await dash.client.get(f"/dashboard/payments?{query}")
    text = await answer.text()
    assert answer.status == 200, text
    return [p.id for p in await Payment.all() if f'href="/dashboard/payments/{p.id}"' in text]


async def test_search_by_phone_in_any_form_and_by_receipt(dash) -> None:
    mine = await make(1)
    other = await make(2, msisdn="254722000111")
    await dash.sign_in(CASHIER)
    for typed in ("0708374149", "%2B254708374149", "254%20708%20374%20149", "708374149"):
        assert await ids_on(dash, f"q={typed}") == [mine.id], typed
    assert await ids_on(dash, "q=ukk0000002") == [other.id]
    assert await ids_on(dash, f"q={other.checkout_request_id}") == [other.id]


async def test_search_by_order_code_status_amount_and_staff(dash) -> None:
    order = await Order.create(code="HP7K2M9Q4X", amount=500, description="Blender")
    brian = await Staff.get(telegram_id=CASHIER)
    with_order = await make(1, order_id=order.id, receipt=None, status=PaymentStatus.PENDING)
    big = await make(2, amount=9000, initiated_by_id=brian.id)
    await make(3, status=PaymentStatus.CANCELLED, receipt=None)
    await dash.sign_in(ADMIN)
    assert await ids_on(dash, "q=hp7k2m9q4x") == [with_order.id]
    assert await ids_on(dash, "status=pending") == [with_order.id]
    assert await ids_on(dash, "min=1000&max=10000") == [big.id]
    assert await ids_on(dash, f"staff={brian.id}") == [big.id]


async def test_a_wrong_filter_says_which_and_why(dash) -> None:
    await dash.sign_in(CASHIER)
    answer = await dash.client.get("/dashboard/payments?min=1.5")
    assert answer.status == 400
    assert "whole shillings" in await answer.text()
    answer = await dash.client.get("/dashboard/payments?q=0712345")
    assert answer.status == 400


async def test_sorting_and_paging(dash) -> None:
    made = [await make(n, amount=100 + n) for n in range(30)]
    await dash.sign_in(CASHIER)
    first = await ids_on(dash, "sort=amount_asc")
    assert sorted(first) == [p.id for p in made[:25]]
    second = await ids_on(dash, "sort=amount_asc&page=2")
    assert sorted(second) == [p.id for p in made[25:]]
    text = await (await dash.client.get("/dashboard/payments?sort=amount_asc")).text()
    assert "Page 1 of 2" in text and "page=2" in text


async def test_the_csv_is_exactly_the_filter_with_phones_masked_for_cashiers(dash) -> None:
    await make(1, description="=HYPERLINK(1)")
    await make(2, msisdn="254722000111")
    await dash.sign_in(CASHIER)
    answer = await dash.client.get("/dashboard/payments.csv?q=0708374149")
    assert answer.status == 200
    assert "masked" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(await answer.text())))
    assert rows[0][5] == "phone_masked"
    assert [(r[1], r[5], r[8]) for r in rows[1:]] == [
        (str((await Payment.get(receipt="UKK0000001")).id), "2547****149", "'=HYPERLINK(1)")
    ]
    assert await AuditEvent.filter(action="dashboard.export", actor=f"tg:{CASHIER}").exists()


async def test_paybill_payments_are_listed_and_exported(dash) -> None:
    await C2BTransaction.create(
        trans_id="RKTQDM7W6S",
        amount=750,
        shortcode="174379",
        bill_ref_number="INV-9",
        msisdn="2547****149",
    )
    await dash.sign_in(ADMIN)
    text = await (await dash.client.get("/dashboard/payments?kind=paybill&q=rktqdm7w6s")).text()
    assert "RKTQDM7W6S" in text and "INV-9" in text
    csv_text = await (await dash.client.get("/dashboard/payments.csv?kind=paybill")).text()
    assert (
        "RKTQDM7W6S" in csv_text and csv_text.splitlines()[0].split(",")[5] == "phone_full_number"
    )


async def test_a_payment_page_shows_its_timeline_and_the_raw_callback_to_admins_only(dash) -> None:
    payment = await make(1, description="<script>alert(1)</script>")
    await AuditEvent.create(
        actor=f"tg:{ADMIN}", action="payment.requested", subject=f"payment:{payment.id}"
    )
    await CallbackInbox.create(
        kind="stk",
        body='{"Body": {"stkCallback": {"ResultCode": 0}}}',
        match_key=payment.checkout_request_id,
    )
    await dash.sign_in(ADMIN)
    text = await (await dash.client.get(f"/dashboard/payments/{payment.id}")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>alert" not in text
    assert "payment requested" in text and "Raw callback body" in text
    assert 'id="payment-live"' in text

    other = TestClient(dash.client.server)  # a second browser: its own cookie jar
    await other.start_server()
    try:
        await dash.sign_in(CASHIER, on=other)
        text = await (await other.get(f"/dashboard/payments/{payment.id}")).text()
        assert "payment requested" in text and "Raw callback body" not in text
    finally:
        await other.close()


async def test_retry_from_the_page_sends_a_new_attempt(dash) -> None:
    failed = await make(1, status=PaymentStatus.CANCELLED, receipt=None)
    await dash.sign_in(CASHIER)
    page = await dash.client.get(f"/dashboard/payments/{failed.id}")
    answer = await dash.client.post(
        f"/dashboard/payments/{failed.id}/retry",
        data={"csrf_token": csrf_of(await page.text())},
        allow_redirects=False,
    )
    assert answer.status == 303
    new = await Payment.get(retry_of_id=failed.id)
    assert answer.headers["Location"] == f"/dashboard/payments/{new.id}"


async def test_a_cashier_cannot_reverse(dash) -> None:
    paid = await make(1)
    await dash.sign_in(CASHIER)
    page = await dash.client.get(f"/dashboard/payments/{paid.id}")
    assert "Reverse…" not in await page.text()
    answer = await dash.client.post(
        f"/dashboard/payments/{paid.id}/reverse", data={"csrf_token": csrf_of(await page.text())}
    )
    assert answer.status == 403
