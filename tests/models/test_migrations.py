"""Migrations: committed, complete, applied by `migrate`, and required before start-up."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tortoise.cli.cli import tortoise_cli_context
from tortoise.migrations.autodetector import MigrationAutodetector

from models import Payment, Staff, StaffRole
from models import migrations as migrations_package
from models.db import (
    DatabaseNotMigrated,
    close_db,
    init_db,
    migrate,
    pending_migrations,
    tortoise_config,
)
from tests.conftest import POSTGRES_URL, postgres_reachable


def committed_migrations() -> list[str]:
    """The migration modules in models/migrations, in order (0001_initial, 0002_…, …)."""
    folder = Path(migrations_package.__file__).parent
    return sorted(p.stem for p in folder.glob("[0-9][0-9][0-9][0-9]_*.py"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def empty_database(request, tmp_path):
    """The URL of a brand-new, empty database."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'fresh.sqlite3'}"
        return
    if not postgres_reachable():
        pytest.skip(f"PostgreSQL not reachable at {urlsplit(POSTGRES_URL).netloc}")
    import asyncpg

    name = f"mpesa_bot_migrate_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlsplit(POSTGRES_URL)._replace(path=f"/{name}").geturl()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_start_up_refuses_an_unmigrated_database(empty_database):
    with pytest.raises(DatabaseNotMigrated) as caught:
        await init_db(empty_database)

    assert "run `mpesa-bot migrate` first" in str(caught.value)


async def test_migrate_applies_everything_once_and_the_schema_works(empty_database):
    applied = await migrate(empty_database)
    again = await migrate(empty_database)

    assert applied == [f"models.{name}" for name in committed_migrations()]
    assert applied[:2] == ["models.0001_initial", "models.0002_payout_rejected_by"]
    assert again == []
    await init_db(empty_database)
    try:
        assert await pending_migrations() == []
        staff = await Staff.create(telegram_id=42, role=StaffRole.ADMIN)
        await Payment.create(
            msisdn="254708374149", amount=150, account_reference="HP1", initiated_by=staff
        )
        assert await Payment.filter(initiated_by=staff).count() == 1
    finally:
        await close_db()


async def test_committed_migrations_match_the_models():
    """`tortoise makemigrations` would find nothing to do: no model change is uncommitted."""
    config = tortoise_config("sqlite://:memory:")
    async with tortoise_cli_context(config) as ctx:
        writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()

    assert [writer.name for writer in writers] == []
