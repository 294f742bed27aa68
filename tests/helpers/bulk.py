"""Bulk payouts against the simulator: a faulty transport for B2C POSTs, a world, a batch."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from dataclasses import field
from types import SimpleNamespace
from typing import Any

import httpx

from bot.config import Settings
from bot.notify.channels import RecordingChatChannel
from bot.services.container import Services
from bot.services.container import build_services
from bot.web.app import create_app
from models import NotificationChannel
from models import Payout
from models import PayoutBatch
from models import Staff
from models import StaffRole
from mpesa.client import B2C_PATH
from mpesa.simulator import SANDBOX_SHORTCODE
from mpesa.simulator import SimulatorConfig
from tests.helpers.engine import simulator_daraja
from tests.helpers.simulator import RunningSimulator

ADMIN, SECOND_ADMIN = 1001, 1002
LOST_URL = "http://127.0.0.1:9/lost"  # the discard port: nobody listens


@dataclass
class FaultyB2C(httpx.AsyncBaseTransport):
    """Forwards everything to the simulator; chosen B2C POSTs lose their answer after the
    simulator applied them (a read time-out), and one POST switches the simulator's spike
    arrest on for the next calls. Records each B2C POST's OriginatorConversationID."""

    sim_url: str
    time_out_at: set[int] = field(default_factory=set)  # 1-based B2C POST numbers
    spike_at: int | None = None
    spike_n: int = 3
    crash_at: int | None = None  # this POST reaches the simulator, then its sender is killed
    posts: list[str] = field(default_factory=list)
    inner: httpx.AsyncBaseTransport = field(default_factory=httpx.AsyncHTTPTransport)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == B2C_PATH:
            body = json.loads(request.content)
            self.posts.append(body["OriginatorConversationID"])
            number = len(self.posts)
            if number == self.spike_at:
                async with httpx.AsyncClient(base_url=self.sim_url) as control:
                    answer = await control.post(
                        "/simulator/faults",
                        json={
                            "rate_limit_next_n": self.spike_n,
                            "rate_limit_status": 429,
                            "rate_limit_retry_after_s": 1,
                        },
                    )
                    answer.raise_for_status()
            if number in self.time_out_at or number == self.crash_at:
                # its result callback is lost too: only a Transaction Status query settles it
                body["ResultURL"] = body["QueueTimeOutURL"] = LOST_URL
                content = json.dumps(body).encode()
                headers = {k: v for k, v in request.headers.items() if k != "content-length"}
                request = httpx.Request("POST", request.url, headers=headers, content=content)
            response = await self.inner.handle_async_request(request)
            if number == self.crash_at:
                await response.aclose()
                raise asyncio.CancelledError  # the worker died mid-POST: no answer recorded
            if number in self.time_out_at:
                await response.aread()
                await response.aclose()
                raise httpx.ReadTimeout(
                    "answer lost after the simulator applied it", request=request
                )
            return response
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def rows_csv(count: int, *, amount: int = 100, start: int = 0) -> bytes:
    """A batch file of ``count`` distinct Safaricom numbers."""
    lines = ["phone,amount,name,reference"]
    lines += [f"0708{start + i:06d},{amount},Worker {start + i},Wages" for i in range(count)]
    return ("\n".join(lines) + "\n").encode()


async def confirmed_batch(services: Services, content: bytes) -> PayoutBatch:
    """Upload, confirm (ADMIN) and, when needed, approve (SECOND_ADMIN) a batch file."""
    summary = await services.bulk.upload(
        content, file_name="wages.csv", by_telegram_id=ADMIN, chat_id=ADMIN
    )
    batch = await services.batches.confirm(summary.batch.id, by_telegram_id=ADMIN)
    if batch.needs_approval:
        batch = await services.batches.approve(batch.id, by_telegram_id=SECOND_ADMIN)
    return batch


def sim_config() -> SimulatorConfig:
    """The simulator for batches: no callback delay."""
    return SimulatorConfig(query_pending_s=0.0, callback_delay_s=0.0)


@asynccontextmanager
async def world(
    aiohttp_server: Any,
    settings: Settings,
    sim: RunningSimulator,
    transport: FaultyB2C,
    *,
    instances: int = 1,
) -> AsyncIterator[SimpleNamespace]:
    """Our web server (callbacks) and ``instances`` service sets on one database."""
    holder = SimpleNamespace()
    server = await aiohttp_server(create_app(holder, settings=settings))
    our_url = str(server.make_url("")).rstrip("/")
    settings = settings.model_copy(update={"mpesa_shortcode": SANDBOX_SHORTCODE})
    secret = settings.resolved_callback_secret()
    clients, sets = [], []
    for _ in range(instances):
        daraja = simulator_daraja(sim, our_url, secret, http=httpx.AsyncClient(transport=transport))
        clients.append(daraja)
        sets.append(
            build_services(
                settings, daraja=daraja, channels={NotificationChannel.CHAT: RecordingChatChannel()}
            )
        )
    holder.__dict__.update(vars(sets[0]))
    await sets[0].staff.bootstrap_admins()
    await Staff.create(telegram_id=SECOND_ADMIN, role=StaffRole.ADMIN, name="Second")
    control = httpx.AsyncClient(base_url=sim.url)
    try:
        yield SimpleNamespace(services=sets[0], instances=sets, sim=control, transport=transport)
    finally:
        await control.aclose()
        for daraja in clients:
            await daraja.aclose()


async def settle_all(w: SimpleNamespace, *, passes: int = 40) -> None:
    """Drain the simulator's callbacks and reconcile until no payout is left in flight."""
    for _ in range(passes):
        (await w.sim.post("/simulator/drain")).raise_for_status()
        await w.services.reconciler.run_once()
        (await w.sim.post("/simulator/drain")).raise_for_status()
        open_ = await Payout.filter(status__in=["submitting", "submitted", "unknown"]).count()
        if open_ == 0:
            return
    raise AssertionError(f"{open_} payouts still in flight after {passes} passes")


async def simulator_payouts(w: SimpleNamespace) -> Counter[str]:
    """How many payouts the simulator made per OriginatorConversationID."""
    state = (await w.sim.get("/simulator/state")).json()
    return Counter(p["originator_conversation_id"] for p in state["payouts"])
