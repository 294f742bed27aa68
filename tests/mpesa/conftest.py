"""Fixtures for tests that talk to the simulator over raw HTTP (no client in between)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mpesa.simulator import SimulatorConfig
from mpesa.simulator import create_simulator
from tests.helpers.clock import Clock
from tests.helpers.sim_http import START
from tests.helpers.sim_http import MakeSim
from tests.helpers.sim_http import Sim


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def make_sim(aiohttp_server: Any, clock: Clock) -> AsyncIterator[MakeSim]:
    made: list[Sim] = []

    async def make(*, token: bool = True, **config: Any) -> Sim:
        app = create_simulator(SimulatorConfig(clock=clock, **config))
        server = await aiohttp_server(app)
        http = httpx.AsyncClient(base_url=str(server.make_url("")).rstrip("/"))
        sim = Sim(http=http, app=app)
        await sim.receiver.start()
        made.append(sim)
        if token:
            answer = await http.get(
                "/oauth/v1/generate",
                params={"grant_type": "client_credentials"},
                auth=("simulator-key", "simulator-secret"),
            )
            sim.token = answer.json()["access_token"]
        return sim

    yield make
    left = []
    for sim in made:
        if not sim.warnings_read:
            left += await sim.warnings()
        await sim.http.aclose()
        await sim.receiver.close()
    # a test that expects warnings reads them; any other test must cause none
    assert left == []


@pytest.fixture
async def sim(make_sim: MakeSim) -> Sim:
    return await make_sim()
