"""The real service running on loopback for browser tests: `serve` against the simulators.

The whole `mpesa-bot run` process is started in the test's event loop: its web server on a free
loopback port, the jobs (outbox, reconciliation), the bot with Telegram replaced by the
in-process Bot API, a fresh migrated SQLite database in the test's folder, and the strict Daraja
simulator (the Airtel one too, when asked) calling back over loopback. A test drives it through
a browser and reads the database to check what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from bot.callback_paths import airtel_callback_url
from bot.config import Settings
from bot.main import Runtime
from bot.main import serve
from bot.notify.channels import RecordingChatChannel
from bot.telegram.transport import InProcessBotApi
from models import Notification
from models import NotificationChannel
from models import Order
from models.db import migrate
from mpesa.simulator import SANDBOX_PASSKEY
from mpesa.simulator import SANDBOX_SHORTCODE
from mpesa.simulator import SimulatorConfig
from tests.helpers.airtel_sim import RunningAirtel
from tests.helpers.airtel_sim import start_airtel
from tests.helpers.ports import free_port

ADMIN = 1001
START_TIMEOUT_S = 30.0


@dataclass
class LiveService:
    """One running service: its URL, its runtime (services, settings) and what it sent."""

    url: str
    runtime: Runtime
    api: InProcessBotApi
    sms: RecordingChatChannel
    email: RecordingChatChannel
    airtel: RunningAirtel | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def services(self) -> Any:
        """The service container of the running process."""
        return self.runtime.services

    @property
    def settings(self) -> Settings:
        """The settings it runs with (PUBLIC_BASE_URL resolved)."""
        return self.runtime.settings

    async def order(self, amount: int, description: str = "") -> Order:
        """Open an order as the shop's API would."""
        return await self.services.orders.create_order(
            amount, description, created_by=None, actor="test", via="test"
        )

    def pay_url(self, order: Order) -> str:
        """The order's payment page on this service."""
        return f"{self.url}/pay/{order.code}"

    async def email_rows(self) -> list[Notification]:
        """Every e-mail the service queued in its outbox, oldest first."""
        return await Notification.filter(channel=NotificationChannel.EMAIL).order_by("id")


def live_settings(tmp_path: Path, daraja_url: str, **overrides: Any) -> Settings:
    """A shop on the simulator: loopback web server, its own database, quick reconciliation."""
    port = free_port()
    values: dict[str, Any] = {
        "telegram_bot_token": "7000000001:LIVE-TEST",
        "admin_telegram_ids": [ADMIN],
        "mpesa_base_url": daraja_url,
        "mpesa_passkey": SANDBOX_PASSKEY,
        "mpesa_shortcode": SANDBOX_SHORTCODE,
        "public_base_url": f"http://127.0.0.1:{port}",
        "web_host": "127.0.0.1",
        "web_port": port,
        "data_dir": tmp_path / "data",
        "business_name": "Household Planet Kenya",
        "reconcile_interval_s": 1.0,
        "log_level": "WARNING",
        **overrides,
    }
    return Settings(_env_file=None, **values)


StartLive = Callable[..., Awaitable[LiveService]]


@contextlib.asynccontextmanager
async def live_service(settings: Settings) -> AsyncIterator[LiveService]:
    """Migrate the database, serve until the block ends, then shut down gracefully."""
    await migrate(settings.resolved_database_url)
    api = InProcessBotApi()
    sms, email = RecordingChatChannel(), RecordingChatChannel()
    stop, ready = asyncio.Event(), asyncio.Event()
    started: list[tuple[Runtime, str]] = []

    def on_ready(runtime: Runtime, url: str) -> None:
        started.append((runtime, url))
        ready.set()

    task = asyncio.create_task(
        serve(
            settings,
            stop=stop,
            telegram_request=api,
            sms_channel=sms,
            email_channel=email,
            on_ready=on_ready,
        )
    )
    waiting = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait(
        {task, waiting}, timeout=START_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
    )
    if task in done:
        waiting.cancel()
        task.result()  # raises what stopped the start-up
    if waiting not in done:
        waiting.cancel()
        stop.set()
        raise TimeoutError(f"the service did not start within {START_TIMEOUT_S:g} s")
    runtime, url = started[0]
    try:
        yield LiveService(url, runtime, api, sms, email, stop=stop)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=START_TIMEOUT_S)


@pytest.fixture
async def start_live(simulators, tmp_path) -> AsyncIterator[StartLive]:
    """Start the real service against a strict simulator; ``airtel=True`` adds Airtel's."""
    stack = contextlib.AsyncExitStack()
    airtels: list[RunningAirtel] = []

    async def start(
        *, sim: SimulatorConfig | None = None, airtel: bool = False, **overrides: Any
    ) -> LiveService:
        daraja = await simulators(sim or SimulatorConfig(callback_delay_s=1.0))
        settings = live_settings(tmp_path, daraja.url, **overrides)
        running_airtel = None
        if airtel:
            running_airtel = await start_airtel()
            stack.push_async_callback(running_airtel.close)
            airtels.append(running_airtel)
            settings = running_airtel.settings(settings, tmp_path / "airtel.pem")
            running_airtel.portal(
                callback_url=airtel_callback_url(
                    settings.public_base_url or "", settings.resolved_callback_secret()
                )
            )
        service = await stack.enter_async_context(live_service(settings))
        service.airtel = running_airtel
        return service

    async with stack:
        yield start
        for running in airtels:
            # the service's own Airtel client must never make the simulator warn
            assert running.warnings() == []
