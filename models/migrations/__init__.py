"""The committed migrations, frozen history: each one states its own operations and SQL on purpose.

A migration is what a database that was at its parent looked like when it was applied; it never
imports from the models or from another migration, and it is never edited once committed. The
blocks two migrations (or two tables in one) share are two moments of the schema, not code to
share: write a new migration with `tortoise -c models.db.TORTOISE_ORM makemigrations` instead.
"""
