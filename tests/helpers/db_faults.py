"""A real database failure for tests: the first INSERT into a table fails, later ones succeed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tortoise import connections

TRIGGER = "test_fault_first_insert"


@asynccontextmanager
async def first_insert_fails(table: str, connection: str = "default") -> AsyncIterator[None]:
    """Make the database itself refuse the first row inserted into ``table`` while inside.

    The count of attempts lives outside the transaction (a Python function on SQLite, a sequence
    on PostgreSQL), so a rollback does not rearm the fault: the next attempt goes through.
    """
    db = connections.get(connection)
    if db.capabilities.dialect == "postgres":
        await db.execute_script(
            f"DROP SEQUENCE IF EXISTS {TRIGGER}_seq; CREATE SEQUENCE {TRIGGER}_seq;"
            f"CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger AS $$ BEGIN "
            f"IF nextval('{TRIGGER}_seq') = 1 THEN RAISE EXCEPTION 'forced fault'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql;"
            f"CREATE TRIGGER {TRIGGER} BEFORE INSERT ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER}();"
        )
        try:
            yield
        finally:
            await db.execute_script(
                f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}; DROP FUNCTION IF EXISTS {TRIGGER}();"
                f"DROP SEQUENCE IF EXISTS {TRIGGER}_seq;"
            )
        return
    attempts = 0

    def armed() -> bool:
        nonlocal attempts
        attempts += 1
        return attempts == 1

    await db._connection.create_function(TRIGGER, 0, armed)  # aiosqlite's own connection
    await db.execute_script(
        f"CREATE TEMP TRIGGER {TRIGGER} BEFORE INSERT ON {table} WHEN {TRIGGER}() "
        "BEGIN SELECT RAISE(ABORT, 'forced fault'); END;"
    )
    try:
        yield
    finally:
        await db.execute_script(f"DROP TRIGGER IF EXISTS {TRIGGER};")
