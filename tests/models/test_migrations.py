"""Migrations: committed, complete, applied by `migrate`, and required before start-up."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tortoise.cli.cli import tortoise_cli_context
from tortoise.migrations.autodetector import MigrationAutodetector

from models import Payment
from models import Staff
from models import StaffRole
from models import migrations as migrations_package
from models.db import DatabaseNotMigrated
from models.db import close_db
from models.db import init_db
from models.db import migrate
from models.db import pending_migrations
from models.db import tortoise_config
from tests.conftest import POSTGRES_URL
from tests.conftest import postgres_reachable

MONEY_INTENTS = "0005_money_intents"
AIRTEL = "0006_airtel_provider"


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


async def stored_before(url: str, migration: str, sql: str) -> None:
    """Migrate the database at ``url`` up to the migration before ``migration``, then run
    ``sql`` there: records as an older release wrote them."""
    from tortoise import Tortoise
    from tortoise import connections
    from tortoise.migrations.executor import MigrationExecutor
    from tortoise.migrations.executor import MigrationTarget

    from models.db import _apps_config

    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        executor = MigrationExecutor(connections.get("default"), _apps_config())
        before = committed_migrations()[committed_migrations().index(migration) - 1]
        await executor.migrate([MigrationTarget("models", before)])
        await connections.get("default").execute_script(sql)
    finally:
        await close_db()


async def test_records_in_flight_before_the_money_intents_are_read_as_possibly_sent(empty_database):
    """An upgrade never turns a payout or push that may have left into one that is sent again."""
    from models import Payout
    from models import PayoutStatus
    from models import PostState

    await stored_before(
        empty_database,
        MONEY_INTENTS,
        "INSERT INTO staff (telegram_id, name, role, active, created_at, updated_at) "
        "VALUES (1, '', 'admin', TRUE, '2026-11-20 09:00:00', '2026-11-20 09:00:00');"
        "INSERT INTO payout (originator_conversation_id, msisdn, amount, command_id, remarks, "
        "occasion, status, initiated_by_id, needs_approval, query_count, created_at, "
        "updated_at) VALUES ('ocid-1', '254708374149', 500, 'BusinessPayment', 'Refund', '', "
        "'submitting', 1, FALSE, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00');",
    )

    later = committed_migrations()[committed_migrations().index(MONEY_INTENTS) :]
    assert await migrate(empty_database) == [f"models.{name}" for name in later]
    await init_db(empty_database)
    try:
        payout = await Payout.get(originator_conversation_id="ocid-1")
        assert (payout.status, payout.post_state) == (PayoutStatus.SUBMITTING, PostState.SENDING)
        assert payout.confirmed_at is not None
    finally:
        await close_db()


async def test_records_from_before_airtel_are_mpesas(empty_database):
    """Migration 0006 gives every existing payment and payout the provider M-Pesa."""
    from models import Payout
    from models import Provider

    await stored_before(
        empty_database,
        AIRTEL,
        "INSERT INTO staff (telegram_id, name, role, active, created_at, updated_at) "
        "VALUES (1, '', 'admin', TRUE, '2026-11-20 09:00:00', '2026-11-20 09:00:00');"
        "INSERT INTO payment (msisdn, amount, account_reference, description, status, "
        "attempt, initiated_via, created_at, updated_at) VALUES ('254708374149', 150, 'HP', "
        "'', 'paid', 1, 'chat', '2026-11-20 09:00:00', '2026-11-20 09:00:00');"
        "INSERT INTO payout (originator_conversation_id, msisdn, amount, command_id, remarks, "
        "occasion, status, initiated_by_id, needs_approval, query_count, created_at, "
        "updated_at) VALUES ('ocid-1', '254708374149', 500, 'BusinessPayment', 'Refund', '', "
        "'completed', 1, FALSE, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00');",
    )

    assert await migrate(empty_database) == [f"models.{AIRTEL}"] + [
        f"models.{name}"
        for name in committed_migrations()[committed_migrations().index(AIRTEL) + 1 :]
    ]
    await init_db(empty_database)
    try:
        payment = await Payment.get(msisdn="254708374149")
        payout = await Payout.get(originator_conversation_id="ocid-1")
        assert (payment.provider, payment.transaction_id) == (Provider.MPESA, None)
        assert payout.provider is Provider.MPESA
    finally:
        await close_db()


async def _indexed_columns(url: str) -> set[tuple[str, str]]:
    """(table, column) pairs that lead some index of the migrated database at ``url``."""
    from tortoise import connections

    conn = connections.get("default")
    if url.startswith("sqlite"):
        _, tables = await conn.execute_query("SELECT name FROM sqlite_master WHERE type='table'")
        found = set()
        for table in (row["name"] for row in tables):
            _, indexes = await conn.execute_query(f"PRAGMA index_list('{table}')")
            for index in indexes:
                _, columns = await conn.execute_query(f"PRAGMA index_info('{index['name']}')")
                first = min(columns, key=lambda c: c["seqno"])
                found.add((table, first["name"]))
        return found
    _, rows = await conn.execute_query(
        "SELECT t.relname AS tbl, a.attname AS col FROM pg_index i "
        "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] "
        "WHERE n.nspname = 'public'"
    )
    return {(row["tbl"], row["col"]) for row in rows}


async def test_every_indexed_field_has_its_index_in_the_migrated_database(empty_database):
    """A field declared db_index is looked up by (inbox match keys, outbox due times, a phone's
    payments): the migrated schema must carry its index on both engines. SQLite rebuilds a table
    on AlterField and may drop its indexes, so a later migration has to put them back."""
    from tortoise import Tortoise

    await migrate(empty_database)
    await init_db(empty_database)
    try:
        wanted = {
            (model._meta.db_table, field.source_field or field.model_field_name)
            for app in Tortoise.apps.values()
            for model in app.values()
            if not model._meta.abstract
            for field in model._meta.fields_map.values()
            if field.index and not field.pk
        }
        missing = wanted - await _indexed_columns(empty_database)
    finally:
        await close_db()

    assert sorted(missing) == []
