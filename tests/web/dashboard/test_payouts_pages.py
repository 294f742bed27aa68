"""Payouts on the dashboard: the list, a payout's page, and maker-checker as in the chat."""

from __future__ import annotations

import pytest

from models import AuditEvent
from models import Payout
from models import PayoutStatus
from models import StaffRole
from tests.web.dashboard.conftest import ADMIN
from tests.web.dashboard.conftest import ADMIN2
from tests.web.dashboard.conftest import CASHIER
from tests.web.dashboard.conftest import csrf_of


@pytest.fixture
async def second(dash, aiohttp_client):
    """A second admin, signed in from another browser (its own cookies)."""
    await dash.services.staff.add_as_operator(ADMIN2, StaffRole.ADMIN, "Achieng")
    other = await aiohttp_client(dash.client.server)
    await dash.sign_in(ADMIN2, on=other)
    return other


async def send(dash, amount: int, *, phone: str = "0708374149", reason: str = "Refund") -> Payout:
    return await dash.services.payouts.send_money(
        phone, amount, initiator_telegram_id=ADMIN, reason=reason
    )


async def post(client, path: str, **data: str):
    page = await client.get("/dashboard/payouts")
    token = csrf_of(await page.text())
    return await client.post(path, data={"csrf_token": token, **data}, allow_redirects=False)


async def test_above_the_threshold_the_requester_cannot_approve_and_a_second_admin_can(
    dash, second
):
    await dash.sign_in(ADMIN)
    payout = await send(dash, dash.settings.payout_approval_threshold + 5_000)

    confirmed = await post(dash.client, f"/dashboard/payouts/{payout.id}/confirm")
    assert confirmed.status == 303
    assert (await Payout.get(id=payout.id)).status == PayoutStatus.AWAITING_APPROVAL

    own_page = await (await dash.client.get(f"/dashboard/payouts/{payout.id}")).text()
    assert f"/dashboard/payouts/{payout.id}/approve" not in own_page
    assert "another admin must approve it" in own_page
    refused = await post(dash.client, f"/dashboard/payouts/{payout.id}/approve")
    assert refused.status == 403
    assert "another admin must approve it" in await refused.text()
    assert (await Payout.get(id=payout.id)).status == PayoutStatus.AWAITING_APPROVAL

    their_page = await (await second.get(f"/dashboard/payouts/{payout.id}")).text()
    assert f"/dashboard/payouts/{payout.id}/approve" in their_page
    approved = await post(second, f"/dashboard/payouts/{payout.id}/approve")

    assert approved.status == 303
    stored = await Payout.get(id=payout.id)
    assert stored.status in (PayoutStatus.SUBMITTING, PayoutStatus.SUBMITTED)
    assert (await stored.approved_by).telegram_id == ADMIN2
    outcomes = await AuditEvent.filter(action="payout.approve").values_list("actor", "outcome")
    assert sorted(outcomes) == [(f"tg:{ADMIN}", "refused"), (f"tg:{ADMIN2}", "ok")]


async def test_only_the_requester_confirms(dash, second):
    await dash.sign_in(ADMIN)
    payout = await send(dash, 500)

    theirs = await post(second, f"/dashboard/payouts/{payout.id}/confirm")

    assert theirs.status == 403
    assert "Only the admin who started this payout can confirm it." in await theirs.text()
    assert (await Payout.get(id=payout.id)).status == PayoutStatus.AWAITING_CONFIRMATION


async def test_a_second_confirm_loses_and_says_why(dash):
    await dash.sign_in(ADMIN)
    payout = await send(dash, 500)
    await post(dash.client, f"/dashboard/payouts/{payout.id}/confirm")

    again = await post(dash.client, f"/dashboard/payouts/{payout.id}/confirm")

    assert again.status == 409
    assert "already sent" in await again.text()
    assert len(dash.services.payouts._daraja.called("b2c_payment")) == 1


async def test_the_list_finds_a_phone_in_any_form_and_shows_the_limit_left(dash):
    await dash.sign_in(ADMIN)
    mine = await send(dash, 700, phone="0712345678", reason="Supplier")
    await send(dash, 800)
    await post(dash.client, f"/dashboard/payouts/{mine.id}/confirm")

    found = await dash.client.get("/dashboard/payouts", params={"q": "+254 712 345 678"})

    html = await found.text()
    assert found.status == 200
    assert f"Payout #{mine.id}" in html and "Supplier" in html
    assert "1 payout" in html
    limit = dash.services.staff.daily_payout_limit(await dash.services.staff.find(ADMIN))
    assert f"KES {limit - 700:,}" in html


async def test_bad_filters_are_said_not_guessed(dash):
    await dash.sign_in(ADMIN)

    answer = await dash.client.get("/dashboard/payouts", params={"from": "yesterday", "min": "x"})

    html = await answer.text()
    assert answer.status == 200
    assert "yesterday is not a date" in html
    assert "x is not an amount" in html


@pytest.mark.parametrize("path", ["/dashboard/payouts", "/dashboard/payouts/1"])
async def test_a_cashier_gets_403_and_no_data(dash, path):
    await dash.sign_in(ADMIN)
    await send(dash, 900, reason="Secret supplier")
    await dash.sign_in(CASHIER)

    answer = await dash.client.get(path)

    assert answer.status == 403
    assert "Secret supplier" not in await answer.text()
