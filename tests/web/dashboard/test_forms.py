"""The Request payment and Send money forms: the services' checks as typed and when sent."""

from __future__ import annotations

import pytest

from models import AuditEvent
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from tests.web.dashboard.conftest import ADMIN
from tests.web.dashboard.conftest import CASHIER
from tests.web.dashboard.conftest import csrf_of

AIRTEL_OFF = "0733 123 456 is an Airtel number; M-Pesa needs Safaricom"


async def token_for(dash, path: str = "/dashboard/request") -> str:
    page = await dash.client.get(path)
    assert page.status == 200, await page.text()
    return csrf_of(await page.text())


async def check(dash, path: str, **fields: str) -> dict:
    token = await token_for(dash, "/dashboard/request")
    answer = await dash.client.post(path, data=fields, headers={"X-CSRF-Token": token})
    assert answer.status == 200, await answer.text()
    return await answer.json()


async def test_the_check_gives_the_services_words_for_each_field(dash):
    await dash.sign_in(CASHIER)

    bad = await check(dash, "/dashboard/check/request", phone="0733 123 456", amount="1.5")
    good = await check(dash, "/dashboard/check/request", phone="+254708374149", amount="1500")

    assert bad["ok"] is False
    assert bad["fields"]["phone"] == {"ok": False, "message": AIRTEL_OFF}
    assert bad["fields"]["amount"]["ok"] is False
    assert bad["fields"]["amount"]["message"].startswith("1.5 is not a whole number of shillings")
    assert good == {
        "ok": True,
        "fields": {
            "phone": {"ok": True, "message": "M-Pesa number 0708 374 149"},
            "amount": {"ok": True, "message": "KES 1,500"},
        },
    }
    assert await Payment.all().count() == 0


async def test_a_check_without_the_csrf_token_is_refused(dash):
    await dash.sign_in(CASHIER)

    answer = await dash.client.post(
        "/dashboard/check/request", data={"phone": "0708374149", "amount": "10"}
    )

    assert answer.status == 403


async def test_without_javascript_the_sent_form_says_the_same(dash):
    await dash.sign_in(CASHIER)
    token = await token_for(dash)

    answer = await dash.client.post(
        "/dashboard/request",
        data={"csrf_token": token, "phone": "0733 123 456", "amount": "0"},
    )

    assert answer.status == 422
    html = await answer.text()
    assert AIRTEL_OFF in html
    assert "0 is not a valid amount" in html
    assert 'aria-invalid="true"' in html


async def test_a_request_is_confirmed_then_sent_like_request_and_its_page_follows(dash):
    await dash.sign_in(CASHIER)
    token = await token_for(dash)
    fields = {"phone": "0708 374 149", "amount": "1,500", "description": "Sufuria"}

    confirm = await dash.client.post("/dashboard/request", data={"csrf_token": token, **fields})
    assert confirm.status == 200
    html = await confirm.text()
    assert "KES 1,500" in html and "0708 374 149" in html and "M-Pesa" in html
    assert await Payment.all().count() == 0  # nothing sent before the confirm

    sent = await dash.client.post(
        "/dashboard/request/confirm", data={"csrf_token": token, **fields}, allow_redirects=False
    )

    payment = await Payment.get()
    assert (sent.status, sent.headers["Location"]) == (303, f"/dashboard/payments/{payment.id}")
    assert (payment.amount, payment.msisdn, payment.description) == (
        1500,
        "254708374149",
        "Sufuria",
    )
    assert (payment.status, payment.initiated_via) == (PaymentStatus.PENDING, "dashboard")
    initiator = await payment.initiated_by
    assert initiator.telegram_id == CASHIER
    event = await AuditEvent.get(action="payment.request", subject=f"payment:{payment.id}")
    assert event.actor == f"tg:{CASHIER}"


async def test_a_second_push_to_the_same_phone_is_refused_with_the_services_words(dash):
    await dash.sign_in(CASHIER)
    token = await token_for(dash)
    fields = {"csrf_token": token, "phone": "0708374149", "amount": "100"}
    await dash.client.post("/dashboard/request/confirm", data=fields, allow_redirects=False)

    again = await dash.client.post("/dashboard/request/confirm", data=fields)

    assert again.status == 422
    assert "0708" in await again.text() or "prompt" in (await again.text()).lower()
    assert await Payment.all().count() == 1


@pytest.mark.parametrize("path", ["/dashboard/send"])
async def test_a_cashier_cannot_open_send_money(dash, path):
    await dash.sign_in(CASHIER)

    answer = await dash.client.get(path)

    assert answer.status == 403
    assert "Send money" not in await answer.text()


async def test_send_money_records_the_payout_and_its_page_asks_for_the_confirm(dash):
    await dash.sign_in(ADMIN)
    token = await token_for(dash, "/dashboard/send")

    low = await dash.client.post(
        "/dashboard/send", data={"csrf_token": token, "phone": "0708374149", "amount": "5"}
    )
    assert low.status == 422
    assert "KES 5 is below the KES 10 minimum" in await low.text()

    sent = await dash.client.post(
        "/dashboard/send",
        data={"csrf_token": token, "phone": "0708374149", "amount": "2500", "reason": "Refund"},
        allow_redirects=False,
    )

    payout = await Payout.get()
    assert (sent.status, sent.headers["Location"]) == (303, f"/dashboard/payouts/{payout.id}")
    assert (payout.status, payout.amount, payout.remarks) == (
        PayoutStatus.AWAITING_CONFIRMATION,
        2500,
        "Refund",
    )
    page = await (await dash.client.get(sent.headers["Location"])).text()
    assert f"/dashboard/payouts/{payout.id}/confirm" in page


async def test_the_send_check_says_when_a_second_admin_must_approve(dash):
    await dash.sign_in(ADMIN)
    threshold = dash.settings.payout_approval_threshold

    above = await check(
        dash, "/dashboard/check/send", phone="0708374149", amount=str(threshold + 1), reason="Rent"
    )

    assert above["ok"] is True
    assert "a second admin must approve it" in above["fields"]["amount"]["message"]
