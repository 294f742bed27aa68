"""Live record pages: a server-sent event stream that says when a payment or payout changed.

The page itself is the one rendering: ``static/live.js`` listens on
``GET /live/payments/{id}`` or ``/live/payouts/{id}`` and, on ``changed``, fetches the page
again and swaps its ``data-live-region`` parts, so "Waiting for PIN" turns "Paid" (and Retry
appears) without a reload. The stream reads the record through the services once a second (any
instance may have settled it) and ends when the record is final, after STREAM_MAX_S (the
browser reconnects) or when the server shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp_sse import sse_response

from bot.services.errors import NotFound
from bot.web.dashboard.auth import requires
from bot.web.dashboard.keys import CONTAINER_KEY
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus

log = logging.getLogger(__name__)

POLL_S = 1.0
STREAM_MAX_S = 300.0
# payouts that no longer move by themselves (a person or M-Pesa's answer is awaited otherwise)
PAYOUT_FINAL = frozenset(
    {PayoutStatus.COMPLETED, PayoutStatus.FAILED, PayoutStatus.CANCELLED, PayoutStatus.REJECTED}
)


class LiveStreams:
    """The open streams of this process, so a shutdown ends them at once."""

    def __init__(self) -> None:
        self.closing = asyncio.Event()

    async def close(self, _: web.Application) -> None:
        """on_shutdown: every stream stops waiting and ends."""
        self.closing.set()


LIVE_KEY: web.AppKey[LiveStreams] = web.AppKey("dashboard_live", LiveStreams)


def payment_state(payment: Payment) -> tuple[Any, ...]:
    """What the payment page shows that can change by itself."""
    return (payment.status, payment.receipt, payment.superseded_by_id, payment.result_desc)


def payment_final(payment: Payment) -> bool:
    """True when nothing more will change the payment by itself."""
    return PaymentStatus(payment.status).is_final


def payout_state(payout: Payout) -> tuple[Any, ...]:
    """What the payout page shows that can change by itself."""
    return (
        payout.status,
        payout.receipt,
        payout.approved_by_id,
        payout.rejected_by_id,
        payout.result_desc,
    )


def payout_final(payout: Payout) -> bool:
    """True when nothing more will change the payout by itself."""
    return PayoutStatus(payout.status) in PAYOUT_FINAL


async def stream(
    request: web.Request,
    read: Callable[[], Awaitable[Any]],
    state: Callable[[Any], tuple[Any, ...]],
    final: Callable[[Any], bool],
) -> web.StreamResponse:
    """Send ``changed`` each time ``state`` of the record moves; end once it is final."""
    try:
        record = await read()
    except NotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    closing = request.app[LIVE_KEY].closing
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_MAX_S
    async with sse_response(request) as events:
        seen = state(record)
        await events.send("ready", event="ready")
        while not final(record) and loop.time() < deadline and not closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), timeout=POLL_S)
            record = await read()
            now = state(record)
            if now != seen:
                seen = now
                await events.send("changed", event="changed")
        if final(record):
            await events.send("final", event="final")
    return events


@requires("cashier")
async def payment_events(request: web.Request) -> web.StreamResponse:
    """GET /live/payments/{id}: ``changed`` whenever the payment's page would show more."""
    payments = request.app[CONTAINER_KEY].payments
    ref = f"#{_record_id(request)}"

    async def read() -> Payment:
        found = await payments.find(ref)
        if not isinstance(found, Payment):
            raise NotFound(f"There is no payment {ref}.")
        return found

    return await stream(request, read, payment_state, payment_final)


@requires("admin")
async def payout_events(request: web.Request) -> web.StreamResponse:
    """GET /live/payouts/{id}: ``changed`` whenever the payout's page would show more."""
    payouts = request.app[CONTAINER_KEY].payouts
    ref = str(_record_id(request))
    return await stream(request, lambda: payouts.find(ref), payout_state, payout_final)


def _record_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 9:
        raise web.HTTPNotFound()
    return int(raw)


def add_routes(router: web.UrlDispatcher) -> None:
    """The live streams of the record pages."""
    router.add_get(r"/live/payments/{id}", payment_events, name="live_payment")
    router.add_get(r"/live/payouts/{id}", payout_events, name="live_payout")
