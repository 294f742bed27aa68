"""Point lookups on hot paths: the SQL written once, the rows read into models by Tortoise itself.

Tortoise builds and compiles a query on every call, which costs more than the indexed lookup it
runs (about 0.15 ms a query). ``/status`` and the staff check behind every command run a lookup
or two per update, so their statements are prepared here once per SQL dialect. The SELECT lists
come from each model's own metadata and rows become models through ``Model._init_from_db``, the
same conversion Tortoise's executor applies, so a new column needs no change here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model


def select_list(model: type[Model], alias: str) -> str:
    """``alias."col" AS "alias.col", ...`` for every column of ``model``."""
    columns = sorted(model._meta.fields_db_projection.values())
    return ", ".join(f'{alias}."{c}" AS "{alias}.{c}"' for c in columns)


def from_row(model: type[Model], alias: str, row: dict[str, Any]) -> Model | None:
    """The ``model`` instance whose columns ``row`` holds under ``alias.``; None for a NULL row."""
    prefix = f"{alias}."
    values = {key[len(prefix) :]: value for key, value in row.items() if key.startswith(prefix)}
    if values.get(model._meta.db_pk_column) is None:
        return None  # the outer join found nothing
    return model._init_from_db(**values)


class PreparedSelect:
    """One SELECT, its ``?`` placeholders rewritten for the connection's dialect on first use."""

    def __init__(self, build: Any, *, connection: str = "default") -> None:
        # build() returns the SQL; called once the models are initialised (their columns known)
        self._build = build
        self._connection = connection
        self._sql: dict[str, str] = {}

    def sql_for(self, db: BaseDBAsyncClient) -> str:
        """The statement as this connection's dialect takes it."""
        dialect = db.capabilities.dialect
        sql = self._sql.get(dialect)
        if sql is None:
            sql = self._build()
            if dialect == "postgres":
                parts = sql.split("?")
                sql = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
            self._sql[dialect] = sql
        return sql

    async def rows(self, *params: Any) -> Sequence[dict[str, Any]]:
        """The rows the statement returns for ``params``, as dicts keyed by column alias."""
        db = connections.get(self._connection)
        return await db.execute_query_dict(self.sql_for(db), list(params))
