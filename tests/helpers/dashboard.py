"""The live dashboard for browser tests: the real `run` service (bot.main.serve) on a free
loopback port against a strict simulator, a migrated SQLite file database, Telegram in-process.

``live_dashboard`` yields a LiveDashboard: ``.url``, ``.services``, ``.link(telegram_id)`` (a
one-time sign-in URL) and ``await .signed_in(browser, telegram_id, width=…)`` -> (context, page).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.config import Settings
from bot.main import Runtime
from bot.main import serve
from bot.services.dashboard import login_url
from bot.telegram.transport import InProcessBotApi
from models import StaffRole
from models.db import migrate
from mpesa.simulator import SANDBOX_PASSKEY
from mpesa.simulator import SANDBOX_SHORTCODE
from mpesa.simulator import SimulatorConfig

ADMIN, ADMIN2, CASHIER = 1001, 1002, 2002
START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveDashboard:
    """The running service, seen from a browser test."""

    url: str
    runtime: Runtime
    settings: Settings

    @property
    def services(self) -> Any:
        return self.runtime.services

    async def link(self, telegram_id: int) -> str:
        """A fresh one-time sign-in link for this staff member, as /dashboard answers."""
        token = await self.services.dashboard.issue_link(telegram_id)
        return login_url(self.url, token)

    async def signed_in(
        self, browser: Any, telegram_id: int, *, width: int = 1280
    ) -> tuple[Any, Any]:
        """A new browser context (its own cookies) signed in as ``telegram_id``."""
        context = await browser.new_context(viewport={"width": width, "height": 900})
        page = await context.new_page()
        await page.goto(await self.link(telegram_id))
        await page.click("#sign-in")
        await page.wait_for_url(f"{self.url}/dashboard/")
        return context, page


@pytest.fixture
async def live_dashboard(tmp_path, simulators) -> AsyncIterator[LiveDashboard]:
    """The real service with an admin (1001, 1002) and a cashier (2002, Brian)."""
    simulator = await simulators(SimulatorConfig(query_pending_s=0.0, callback_delay_s=0.3))
    port = _free_port()
    settings = Settings(
        _env_file=None,
        telegram_bot_token="7000000001:DASH-TEST",
        admin_telegram_ids=[ADMIN, ADMIN2],
        mpesa_base_url=simulator.url,
        mpesa_consumer_key="simulator-key",
        mpesa_consumer_secret="simulator-secret",
        mpesa_passkey=SANDBOX_PASSKEY,
        mpesa_shortcode=SANDBOX_SHORTCODE,
        mpesa_initiator_name="testapi",
        mpesa_security_credential=simulator.credential(),
        mpesa_b2c_shortcode="600996",
        public_base_url=f"http://127.0.0.1:{port}",
        web_host="127.0.0.1",
        web_port=port,
        data_dir=tmp_path / "data",
        business_name="Household Planet Kenya",
        log_level="WARNING",
    )
    await migrate(settings.resolved_database_url)
    stop, ready = asyncio.Event(), asyncio.Event()
    holder: dict[str, Runtime] = {}

    def on_ready(runtime: Runtime, url: str) -> None:
        holder["runtime"] = runtime
        ready.set()

    server = asyncio.create_task(
        serve(settings, stop=stop, telegram_request=InProcessBotApi(), on_ready=on_ready)
    )
    try:
        await asyncio.wait_for(ready.wait(), timeout=START_TIMEOUT_S)
        runtime = holder["runtime"]
        await runtime.services.staff.add_as_operator(CASHIER, StaffRole.CASHIER, "Brian")
        yield LiveDashboard(url=settings.public_base_url or "", runtime=runtime, settings=settings)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server, timeout=START_TIMEOUT_S)
