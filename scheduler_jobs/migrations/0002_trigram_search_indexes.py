"""Trigram indexes for `?search=` on the job list (PostgreSQL only).

DRF's SearchFilter uses icontains, which Django writes as
UPPER("name"::text) LIKE UPPER('%…%'): a sequential scan of every job unless a
GIN trigram index exists on exactly that expression. SQLite has no such index
type; there the migration does nothing.
"""

from django.db import migrations

# The expressions exactly as Django writes them: varchar is cast, text is not.
INDEXES = {
    "dynamic_jobs_name_trgm": "UPPER(name::text)",
    "dynamic_jobs_description_trgm": "UPPER(description)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for index, expression in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {index} ON dynamic_jobs "
            f"USING gin ({expression} gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for index in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {index}")


class Migration(migrations.Migration):
    dependencies = [("scheduler_jobs", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
