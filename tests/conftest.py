"""Shared fixtures: settings, and a fresh database per test on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext
from tortoise.context import tortoise_test_context

from bot.config import Settings
from models.db import MODEL_MODULES
from models.db import tortoise_config
from mpesa.simulator import SimulatorConfig
from tests.helpers.browser import browser
from tests.helpers.browser import browser_report_header
from tests.helpers.simulator import RunningSimulator
from tests.helpers.simulator import describe_warnings
from tests.helpers.simulator import start_simulator

__all__ = ["browser"]

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
_prepared_pg: set[str] = set()


def postgres_reachable() -> bool:
    """True when something answers on the test PostgreSQL port."""
    parts = urlsplit(POSTGRES_URL)
    try:
        with socket.create_connection((parts.hostname, parts.port or 5432), timeout=0.5):
            return True
    except OSError:
        return False


def pytest_report_header(config: pytest.Config) -> list[str]:
    if postgres_reachable():
        where = urlsplit(POSTGRES_URL).netloc
        pg = f"postgresql: reachable at {where}; engine tests run on it too"
    else:
        pg = "postgresql: NOT reachable; every [postgres] test variant will be SKIPPED"
    return [pg, browser_report_header()]


def _worker_database_url() -> str:
    # one database per test process: parallel runs (two checkouts, CI beside a developer) never meet
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    parts = urlsplit(POSTGRES_URL)
    return parts._replace(path=f"/mpesa_bot_test_{worker}_{os.getpid()}").geturl()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop this process's PostgreSQL test database, if it made one."""
    if not _prepared_pg:
        return
    import asyncio

    import asyncpg

    async def drop() -> None:
        admin = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
        try:
            for url in _prepared_pg:
                name = urlsplit(url).path.lstrip("/")
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(drop())


async def _prepare_postgres(url: str) -> None:
    """Once per worker: a fresh database with the schema generated from the models."""
    import asyncpg

    parts = urlsplit(url)
    admin = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    try:
        name = parts.path.lstrip("/")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    ctx = TortoiseContext()
    async with ctx:
        await ctx.init(config=tortoise_config(url))
        await ctx.generate_schemas(safe=False)


async def _truncate_all(ctx: TortoiseContext) -> None:
    conn = ctx.connections.get("default")
    tables = [model._meta.db_table for model in ctx.apps.get_models_iterable()]
    quoted = ", ".join(f'"{table}"' for table in tables)
    await conn.execute_script(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest) -> AsyncIterator[TortoiseContext]:
    """A fresh, empty database for one test: in-memory SQLite, or PostgreSQL when reachable."""
    # Tortoise caches compiled INSERTs per connection name, not per dialect: one process that
    # alternates SQLite and PostgreSQL must forget them between tests
    EXECUTOR_CACHE.clear()
    if request.param == "sqlite":
        async with tortoise_test_context(MODEL_MODULES) as ctx:
            yield ctx
        return
    if not postgres_reachable():
        pytest.skip(f"PostgreSQL not reachable at {urlsplit(POSTGRES_URL).netloc}")
    url = _worker_database_url()
    if url not in _prepared_pg:
        await _prepare_postgres(url)
        _prepared_pg.add(url)
    ctx = TortoiseContext()
    async with ctx:
        await ctx.init(config=tortoise_config(url))
        await _truncate_all(ctx)
        yield ctx


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings for tests: sandbox, test credentials, a temporary data directory."""
    # every value spelled out, defaults too, so a changed default cannot move the tests; alike
    # in shape to bot/demo.py's demo_settings on purpose (see there)
    return Settings(
        _env_file=None,
        telegram_bot_token="123456:TEST-TOKEN",
        admin_telegram_ids=[1001],
        mpesa_base_url="https://daraja.test",
        mpesa_consumer_key="test-key",
        mpesa_consumer_secret="test-secret",
        mpesa_shortcode="174379",
        mpesa_passkey="bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
        mpesa_account_reference="HPlanet",
        mpesa_transaction_desc="Payment",
        mpesa_initiator_name="testapi",
        mpesa_security_credential="c2VjdXJpdHktY3JlZGVudGlhbA==",
        mpesa_b2c_shortcode="600996",
        public_base_url="https://pay.example.co.ke",
        callback_secret="test-callback-secret-0123",
        data_dir=tmp_path / "data",
        business_name="Household Planet Kenya",
        payout_approval_threshold=10_000,
        staff_daily_payout_limit=100_000,
    )


StartSimulator = Callable[..., Awaitable[RunningSimulator]]


@pytest.fixture
async def simulators() -> AsyncIterator[StartSimulator]:
    """Start strict simulators on loopback; the test fails if any of them warned about a request.

    Every project test that talks to the simulator goes through this, so a request the client
    builds that Daraja would refuse, drop or frown upon cannot pass unnoticed.
    """
    started: list[RunningSimulator] = []

    async def start(config: SimulatorConfig | None = None) -> RunningSimulator:
        sim = await start_simulator(config)
        started.append(sim)
        return sim

    yield start
    warnings = [w for sim in started for w in sim.warnings()]
    for sim in started:
        await sim.close()
    assert warnings == [], "the simulator warned:\n" + describe_warnings(warnings)
