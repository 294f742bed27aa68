"""The overview: figures per period, charts drawn on the server, latest records, attention."""

from __future__ import annotations

from models import CallbackInbox
from models import DarajaQuery
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import Staff
from tests.web.dashboard.conftest import ADMIN
from tests.web.dashboard.conftest import CASHIER


async def test_the_overview_shows_figures_charts_latest_and_attention(dash) -> None:
    await Payment.create(
        msisdn="254708374149", amount=1500, account_reference="HP", status=PaymentStatus.PAID,
        receipt="UKK0000001", description="<b>Blender</b>",
    )  # fmt: skip
    await Payment.create(
        msisdn="254708374149", amount=200, account_reference="HP", status=PaymentStatus.REVIEW
    )
    admin = await Staff.get(telegram_id=ADMIN)
    await Payout.create(
        originator_conversation_id="oc-1", msisdn="254708374149", amount=20_000, remarks="Rent",
        status=PayoutStatus.AWAITING_APPROVAL, initiated_by_id=admin.id, needs_approval=True,
    )  # fmt: skip
    await CallbackInbox.create(kind="stk", body="{}", status="unmatched")
    await DarajaQuery.create(
        kind="balance", status="answered",
        result={"accounts": [{"name": "Utility", "available_cents": 500_000}]},
    )  # fmt: skip
    await dash.sign_in(CASHIER)
    answer = await dash.client.get("/dashboard/?period=7d")
    text = await answer.text()
    assert answer.status == 200
    assert "KES 1,500" in text and "&lt;b&gt;Blender&lt;/b&gt;" in text
    assert "<svg" in text and 'class="in"' in text
    assert "Payouts awaiting approval" in text
    assert "Payments in review or unknown" in text
    assert "Callbacks that match no record yet" in text
    assert "Low balance: KES 5,000" in text
    assert "50%" in text  # one paid of two settled requests


async def test_nothing_waiting_says_so(dash) -> None:
    await dash.sign_in(ADMIN)
    text = await (await dash.client.get("/dashboard/")).text()
    assert "Nothing waits for anyone." in text
