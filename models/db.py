"""Database set-up: Tortoise config, migrations, and the refusal to start unmigrated."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise import connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.migrations.executor import MigrationExecutor

log = logging.getLogger(__name__)

APP_LABEL = "models"
MODEL_MODULES = ["models.tables", "models.bulk", "models.schedules", "models.dashboard"]
MIGRATIONS_MODULE = "models.migrations"


class DatabaseNotMigrated(Exception):
    """The database lacks migrations this code needs; str() says what to run."""


def tortoise_config(db_url: str) -> dict[str, Any]:
    """Return the Tortoise config for our one app on ``db_url`` (sqlite://… or postgres://…)."""
    return {
        "connections": {"default": _with_driver_options(db_url)},
        "apps": {
            APP_LABEL: {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _with_driver_options(db_url: str) -> str:
    """Give SQLite a WAL journal and a busy timeout so two processes can share the file."""
    if db_url.startswith("sqlite://") and ":memory:" not in db_url:
        path = Path(db_url.removeprefix("sqlite://").split("?", 1)[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        if "?" not in db_url:
            return f"{db_url}?journal_mode=WAL&busy_timeout=5000"
    return db_url


# for the `tortoise` CLI: `tortoise -c models.db.TORTOISE_ORM makemigrations`
TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", "sqlite://:memory:"))


async def init_db(db_url: str, *, check_migrated: bool = True) -> None:
    """Open the database for this process; refuse an unmigrated one with a clear message."""
    _forget_compiled_queries()
    await Tortoise.init(config=tortoise_config(db_url), _enable_global_fallback=True)
    if check_migrated:
        missing = await pending_migrations()
        if missing:
            await close_db()
            raise DatabaseNotMigrated(
                f"the database is missing {len(missing)} migration(s) ({', '.join(missing)}); "
                "run `mpesa-bot migrate` first"
            )


async def close_db() -> None:
    """Close every connection this process opened."""
    await Tortoise.close_connections()


async def pending_migrations() -> list[str]:
    """Names of migrations on disk not yet applied to the open database."""
    executor = MigrationExecutor(connections.get("default"), _apps_config())
    plan = await executor.plan(None)
    return [
        f"{step.migration.app_label}.{step.migration.name}" for step in plan if not step.backward
    ]


async def migrate(db_url: str) -> list[str]:
    """Apply every pending migration to ``db_url``; return the names applied."""
    await Tortoise.init(config=tortoise_config(db_url), _enable_global_fallback=True)
    try:
        applied = await pending_migrations()
        executor = MigrationExecutor(connections.get("default"), _apps_config())
        await executor.migrate(None)
        for name in applied:
            log.info("db.migrated migration=%s", name)
        return applied
    finally:
        await close_db()


def _forget_compiled_queries() -> None:
    # Tortoise caches compiled INSERTs per connection name, not per SQL dialect: a process that
    # opens SQLite and then PostgreSQL (tests, tools) would reuse the wrong SQL
    EXECUTOR_CACHE.clear()


def _apps_config() -> dict[str, Any]:
    return {
        APP_LABEL: {
            "models": MODEL_MODULES,
            "default_connection": "default",
            "migrations": MIGRATIONS_MODULE,
        }
    }
