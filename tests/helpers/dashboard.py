"""The live dashboard for browser tests: the real `run` service (tests/helpers/live.py) on a free
loopback port against a strict simulator, a migrated SQLite file database, Telegram in-process.

``live_dashboard`` yields a LiveDashboard: ``.url``, ``.services``, ``.link(telegram_id)`` (a
one-time sign-in URL) and ``await .signed_in(browser, telegram_id, width=…)`` -> (context, page).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.config import Settings
from bot.main import Runtime
from bot.services.dashboard import login_url
from models import StaffRole
from mpesa.simulator import SimulatorConfig
from tests.helpers.engine import SIMULATOR_B2C_SHORTCODE
from tests.helpers.live import live_service
from tests.helpers.live import live_settings

ADMIN, ADMIN2, CASHIER = 1001, 1002, 2002


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
    settings = live_settings(
        tmp_path,
        simulator.url,
        telegram_bot_token="7000000001:DASH-TEST",
        admin_telegram_ids=[ADMIN, ADMIN2],
        mpesa_consumer_key="simulator-key",
        mpesa_consumer_secret="simulator-secret",
        mpesa_initiator_name="testapi",
        mpesa_security_credential=simulator.credential(),
        mpesa_b2c_shortcode=SIMULATOR_B2C_SHORTCODE,
        # the default pace: the seeded pending payments must stay pending while a page is read
        reconcile_interval_s=Settings.model_fields["reconcile_interval_s"].default,
    )
    async with live_service(settings) as service:
        await service.services.staff.add_as_operator(CASHIER, StaffRole.CASHIER, "Brian")
        yield LiveDashboard(url=service.url, runtime=service.runtime, settings=settings)
