"""The live record pages' event stream: "changed" when the record moves, "final" at the end."""

from __future__ import annotations

import asyncio

from models import Payment
from models import PaymentStatus
from tests.web.dashboard.conftest import CASHIER

EVENT_WAIT_S = 10.0


async def next_event(response) -> str:
    """The name of the next event on a server-sent event stream."""
    while True:
        line = await asyncio.wait_for(response.content.readline(), EVENT_WAIT_S)
        assert line, "the stream ended"
        text = line.decode().strip()
        if text.startswith("event:"):
            return text.split(":", 1)[1].strip()


async def test_the_stream_says_changed_then_final_when_the_payment_settles(dash):
    await dash.sign_in(CASHIER)
    payment = await dash.services.payments.request_payment(
        "0708374149", 100, initiator=None, actor="tg:2002"
    )
    stream = await dash.client.get(f"/dashboard/live/payments/{payment.id}")
    assert stream.status == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    assert await next_event(stream) == "ready"

    await Payment.filter(id=payment.id).update(status=PaymentStatus.CANCELLED)

    assert await next_event(stream) == "changed"
    assert await next_event(stream) == "final"
    stream.close()


async def test_a_cashier_cannot_follow_a_payout(dash):
    await dash.sign_in(CASHIER)

    answer = await dash.client.get("/dashboard/live/payouts/1")

    assert answer.status == 403


async def test_no_stream_without_a_session(dash):
    answer = await dash.client.get("/dashboard/live/payments/1", allow_redirects=False)

    assert answer.status in (302, 303)
