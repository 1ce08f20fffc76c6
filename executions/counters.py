"""Database triggers that keep `execution_run_counts` (RunCount) up to date.

A counter of ended runs must never go down, so it cannot be a COUNT over
job_executions: housekeeping and cleanup jobs delete old rows. It is kept
instead in its own table, incremented by the database itself whenever an
execution reaches a finished status, by INSERT (a slot skipped at dispatch) or
by UPDATE (the worker, the reaper, a cancel). A trigger counts every path that
ends a run, including ones added later, at the cost of one small upsert per
ended run inside the statement that ends it; rows that do not finish (queued
inserts, log and sent_at updates) never call it, thanks to the WHEN clause.
A retry inserted (status retry_pending) is counted too, under that status: it
tells a failed attempt that was retried from a run that failed for good.

SQLite rebuilds a table for most ALTER TABLE changes and drops its triggers
with it, so beat checks at start-up that they exist and puts them back
(`ensure_triggers`); tests/executions/test_health_counters.py fails when a
migration loses them.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

FINISHED = ("completed", "failed", "timeout", "exhausted", "skipped", "cancelled")
RETRY = "retry_pending"
TRIGGERS = ("job_executions_count_insert", "job_executions_count_update")
# PostgreSQL spreads increments over this many rows per (status, template), by
# backend process, so concurrent workers finishing the same template do not
# wait on one row lock until each other's commit.
PG_SHARDS = 8

# Every piece of SQL below is built from the constants in this module only.
_IN = "(" + ", ".join(f"'{status}'" for status in FINISHED) + ")"
# A retry is inserted as retry_pending: counting those counts retries scheduled.
_IN_INSERT = _IN[:-1] + f", '{RETRY}')"

_SQLITE_UPSERT = (
    "INSERT INTO execution_run_counts (status, template_type, shard, runs) "
    "VALUES (NEW.status, NEW.template_type, 0, 1) "
    "ON CONFLICT (status, template_type, shard) DO UPDATE SET runs = runs + 1;"
)
SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS job_executions_count_insert "
    f"AFTER INSERT ON job_executions FOR EACH ROW WHEN NEW.status IN {_IN_INSERT} "
    f"BEGIN {_SQLITE_UPSERT} END",
    f"CREATE TRIGGER IF NOT EXISTS job_executions_count_update "
    f"AFTER UPDATE OF status ON job_executions FOR EACH ROW "
    f"WHEN NEW.status IN {_IN} AND OLD.status NOT IN {_IN} "
    f"BEGIN {_SQLITE_UPSERT} END",
]
POSTGRES = [
    "CREATE OR REPLACE FUNCTION execution_run_counts_add() RETURNS trigger "  # noqa: S608
    "LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO execution_run_counts (status, template_type, shard, runs) "
    f"VALUES (NEW.status, NEW.template_type, pg_backend_pid() % {PG_SHARDS}, 1) "
    "ON CONFLICT (status, template_type, shard) "
    "DO UPDATE SET runs = execution_run_counts.runs + 1; "
    "RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS job_executions_count_insert ON job_executions",
    "CREATE TRIGGER job_executions_count_insert AFTER INSERT ON job_executions "
    f"FOR EACH ROW WHEN (NEW.status IN {_IN_INSERT}) "
    "EXECUTE FUNCTION execution_run_counts_add()",
    "DROP TRIGGER IF EXISTS job_executions_count_update ON job_executions",
    "CREATE TRIGGER job_executions_count_update "
    "AFTER UPDATE OF status ON job_executions "
    f"FOR EACH ROW WHEN (NEW.status IN {_IN} AND OLD.status NOT IN {_IN}) "
    "EXECUTE FUNCTION execution_run_counts_add()",
]
BACKFILL = [
    "INSERT INTO execution_run_counts (status, template_type, shard, runs) "  # noqa: S608
    "SELECT status, template_type, 0, COUNT(*) FROM job_executions "
    f"WHERE status IN {_IN} GROUP BY status, template_type",
    "INSERT INTO execution_run_counts (status, template_type, shard, runs) "  # noqa: S608
    f"SELECT '{RETRY}', template_type, 0, COUNT(*) FROM job_executions "
    "WHERE triggered_by = 'retry' GROUP BY template_type",
]


def _statements(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return SQLITE
    if vendor == "postgresql":
        return POSTGRES
    raise NotImplementedError(
        f"Run counters need triggers written for {vendor}; only SQLite and "
        "PostgreSQL have them."
    )


def install_triggers(connection: Any, *, backfill: bool = False) -> None:
    """Create (or replace) the triggers; `backfill` first counts existing runs."""
    with connection.cursor() as cursor:
        if backfill:
            for sql in BACKFILL:
                cursor.execute(sql)
        for sql in _statements(connection.vendor):
            cursor.execute(sql)


def drop_triggers(connection: Any) -> None:
    with connection.cursor() as cursor:
        for name in TRIGGERS:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON job_executions")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        if connection.vendor == "postgresql":
            cursor.execute("DROP FUNCTION IF EXISTS execution_run_counts_add()")


def missing_triggers(connection: Any) -> list[str]:
    """The counting triggers that are not installed on job_executions."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger "
                "WHERE tgrelid = 'job_executions'::regclass AND NOT tgisinternal"
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master "
                "WHERE type = 'trigger' AND tbl_name = 'job_executions'"
            )
        present = {row[0] for row in cursor.fetchall()}
    return [name for name in TRIGGERS if name not in present]


def ensure_triggers(connection: Any) -> list[str]:
    """Put back counting triggers a table rebuild dropped; returns what was missing.

    Counters keep their values; runs that ended while a trigger was missing
    are not counted, and the log says so.
    """
    missing = missing_triggers(connection)
    if missing:
        logger.error(
            "Run counters: trigger(s) %s missing on job_executions (a migration "
            "rebuilt the table?); installing them again. Runs that ended "
            "meanwhile were not counted.",
            ", ".join(missing),
        )
        install_triggers(connection)
    return missing
