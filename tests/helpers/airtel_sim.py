"""The Airtel simulator served on loopback for the bot's tests: its public key, calls, warnings."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from airtel.client import AirtelClient
from airtel.simulator import SIM_STATE
from airtel.simulator import Portal
from airtel.simulator import SimulatorConfig
from airtel.simulator import create_simulator
from airtel.simulator.app import SIM_DELIVERER
from airtel.simulator.state import SimulatorState
from bot.config import Settings
from tests.helpers.airtel import private_key
from tests.helpers.clock import Clock
from tests.helpers.simulator import serve_on_loopback


@dataclass
class RunningAirtel:
    """An Airtel simulator on 127.0.0.1, with the public key it served over HTTP."""

    url: str
    app: web.Application
    server: TestServer
    public_key_pem: bytes
    clock: Clock
    clients: list[AirtelClient] = field(default_factory=list)

    @property
    def state(self) -> SimulatorState:
        """The simulator's whole state (transactions, deliveries, calls, warnings)."""
        return self.app[SIM_STATE]

    def posts(self, path: str) -> int:
        """How many POSTs to ``path`` reached the simulator (money is sent at most once)."""
        return self.state.count_calls("POST", path)

    def warnings(self) -> list[str]:
        """Every warning the simulator recorded about requests it was sent."""
        return [f"{w.path} {w.field}: {w.message}" for w in self.state.warnings]

    async def drain(self) -> None:
        """Wait until every callback the simulator owes has been POSTed."""
        await self.app[SIM_DELIVERER].drain()

    def hold_callbacks(self) -> asyncio.Event:
        """Hold every callback until the returned event is set (the payer still deciding).

        Without it a callback may beat the card that announces the prompt, so a test that reads
        the "waiting" card first holds the payer back instead of racing them.
        """
        gate = asyncio.Event()
        self.app[SIM_DELIVERER].wait = gate.wait  # type: ignore[method-assign]
        return gate

    def portal(self, **changes: Any) -> None:
        """Change what the merchant set in Airtel's portal (callback URL, hash key...)."""
        self.state.portal.update(changes)

    def settings(self, settings: Settings, key_path: Path, **overrides: Any) -> Settings:
        """``settings`` with Airtel on and pointed at this simulator (its key saved at key_path)."""
        key_path.write_bytes(self.public_key_pem)
        values = {
            "airtel_enabled": True,
            "airtel_base_url": self.url,
            "airtel_client_id": "simulator-client-id",
            "airtel_client_secret": "simulator-client-secret",
            "airtel_disbursement_pin": "1234",
            "airtel_public_key_path": key_path,
            "airtel_enquiry_after_s": 0.0,
            **overrides,
        }
        return Settings(**{**settings.model_dump(), **values}, _env_file=None)

    async def close(self) -> None:
        """Close the clients made for it, then stop serving."""
        for client in self.clients:
            await client.aclose()
        await self.server.close()


async def start_airtel(config: SimulatorConfig | None = None) -> RunningAirtel:
    """Serve a strict Airtel simulator with a fake clock; download its key like a user would."""
    clock = Clock(datetime(2026, 11, 20, 11, 30, 5, tzinfo=UTC))
    config = config or SimulatorConfig()
    config.clock = clock
    config.private_key = config.private_key or private_key()
    config.portal = config.portal or Portal()
    app = create_simulator(config)
    server, url, public_key_pem = await serve_on_loopback(app, "/simulator/public-key")
    return RunningAirtel(url, app, server, public_key_pem, clock)
