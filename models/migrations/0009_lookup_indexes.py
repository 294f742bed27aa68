"""Put back the lookup indexes the schema lost.

Tortoise's AddField creates no index for a db_index field, and on SQLite an AlterField rebuilds
the table without its indexes, so inbox match keys, outbox due times and a phone's payments were
scanned in full. Each index is created only where no index already leads with that column, so
PostgreSQL (which kept most of them) gets no duplicate. A test checks every db_index field.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

LOOKUPS = [
    ("callback_inbox", "kind"),
    ("callback_inbox", "match_key"),
    ("callback_inbox", "status"),
    ("notification", "next_attempt_at"),
    ("notification", "status"),
    ("payment", "created_at"),
    ("payment", "msisdn"),
    ("payment", "next_query_at"),
    ("payment", "provider"),
    ("payment", "status"),
    ("payout", "confirmed_at"),
    ("payout", "created_at"),
    ("payout", "msisdn"),
    ("payout", "next_query_at"),
    ("payout", "provider"),
    ("payout", "status"),
    ("reversal", "next_query_at"),
]


async def _leading_columns(client, sqlite: bool) -> set[tuple[str, str]]:
    if sqlite:
        found = set()
        for table in sorted({table for table, _ in LOOKUPS}):
            _, indexes = await client.execute_query(f"PRAGMA index_list('{table}')")
            for index in indexes:
                _, columns = await client.execute_query(f"PRAGMA index_info('{index['name']}')")
                if columns:
                    found.add((table, min(columns, key=lambda c: c["seqno"])["name"]))
        return found
    _, rows = await client.execute_query(
        "SELECT t.relname AS tbl, a.attname AS col FROM pg_index i "
        "JOIN pg_class t ON t.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema() "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]"
    )
    return {(row["tbl"], row["col"]) for row in rows}


async def add_lookup_indexes(apps, schema_editor) -> None:
    client = schema_editor.client
    sqlite = client.capabilities.dialect == "sqlite"
    present = await _leading_columns(client, sqlite)
    for table, column in LOOKUPS:
        if (table, column) not in present:
            await client.execute_script(
                f'CREATE INDEX IF NOT EXISTS "idx_{table}_{column}" ON "{table}" ("{column}")'
            )


async def drop_lookup_indexes(apps, schema_editor) -> None:
    for table, column in LOOKUPS:
        await schema_editor.client.execute_script(f'DROP INDEX IF EXISTS "idx_{table}_{column}"')


class Migration(migrations.Migration):
    dependencies = [('models', '0008_staff_telegram_name')]

    initial = False

    operations = [ops.RunPython(add_lookup_indexes, drop_lookup_indexes)]
