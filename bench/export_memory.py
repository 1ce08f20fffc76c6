"""Peak memory of the data_export template over 10 k, 100 k and 1 M rows.

    python -m bench.export_memory                 # SQLite, 1 000 000 rows
    python -m bench.export_memory --rows 200000 --db postgres

Fills the test-only Ticket table (tests.testapp) in a fresh database, then runs
the real template (validate_params + execute) once per size, each in a fresh
child process, and prints the child's peak RSS and the peak of Python
allocations (tracemalloc) during the export. Streaming means the figures stay
flat while the row count grows a hundredfold; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "EXPORT-MEMORY "
PG_BASE = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")


def _env(database_url: str, work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "SCHEDULER_VAR_DIR": str(work / "var"),
        "SCHEDULER_EXPORT_ROOT": str(work / "exports"),
        "CELERY_BROKER_URL": "memory://",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def _child(args: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.export_memory", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    raise RuntimeError(
        f"child {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    )


def _setup_django() -> None:
    import django

    django.setup()


def child_fill(rows: int) -> dict:
    """Insert `rows` tickets with executemany over a generator (constant memory)."""
    _setup_django()
    from django.db import connection, transaction
    from django.utils import timezone

    now = timezone.now()
    statuses = ("open", "resolved", "closed")
    started = time.monotonic()

    def batch(start: int, stop: int):
        for i in range(start, stop):
            yield (
                f"=cmd|' /C calc'!A{i}" if i % 1000 == 0 else f"Ticket number {i}",
                statuses[i % 3],
                i % 5 + 1,
                f"user{i}@example.com",
                f"token-{i}",
                "",
                '{"source": "bench"}',
                now,
            )

    sql = (
        "INSERT INTO testapp_tickets (title, status, priority, requester_email, "
        "api_token, password_hint, metadata, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    step = 20_000
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, rows, step):
            cursor.executemany(sql, batch(start, min(rows, start + step)))
    return {"rows": rows, "seconds": round(time.monotonic() - started, 1)}


def child_export(limit: int, fmt: str) -> dict:
    import resource
    import tracemalloc

    _setup_django()
    from job_templates.context import BoundedLogHandler, ExecutionContext, make_logger
    from job_templates.registry import registry

    template = registry.get("data_export")
    params = template.validate_params(
        {
            "collection": "testapp.Ticket",
            "filters": {"id__lte": limit},
            "format": fmt,
            "destination": f"bench/{limit}.{{ext}}",
        }
    )
    handler = BoundedLogHandler()
    ctx = ExecutionContext(
        logger=make_logger("bench.export", handler), job_name="bench"
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    started = time.monotonic()
    result = template.execute(params, ctx)
    seconds = time.monotonic() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": result["rows"],
        "bytes": result["bytes"],
        "seconds": round(seconds, 1),
        "python_peak_mib": round(peak / 1024 / 1024, 1),
        "rss_before_mib": round(rss_before, 1),
        "rss_peak_mib": round(rss_after, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--format", choices=("csv", "json", "jsonl"), default="csv")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "fill":
            out = child_fill(int(rest[0]))
        else:
            out = child_export(int(rest[0]), rest[1])
        print(MARK + json.dumps(out), flush=True)
        return

    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    if args.db == "sqlite":
        database_url = f"sqlite:///{work / 'bench.sqlite3'}"
    else:
        import psycopg

        name = f"bench_export_{os.getpid()}"
        with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        database_url = f"{PG_BASE}/{name}"
    env = _env(database_url, work)
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        filled = _child(["--child", "fill", str(args.rows)], env)
        print(
            f"Filled {filled['rows']:,} tickets in {filled['seconds']} s ({args.db})."
        )
        sizes = sorted({min(args.rows, n) for n in (10_000, 100_000, args.rows)})
        print(
            f"\ndata_export, format {args.format}, one fresh process per size\n"
            f"{'rows':>10} {'file MiB':>9} {'seconds':>8} {'Python peak MiB':>16} "
            f"{'RSS before MiB':>15} {'RSS peak MiB':>13}"
        )
        for size in sizes:
            out = _child(["--child", "export", str(size), args.format], env)
            print(
                f"{out['rows']:>10,} {out['bytes'] / 2**20:>9.1f} {out['seconds']:>8} "
                f"{out['python_peak_mib']:>16} {out['rss_before_mib']:>15} "
                f"{out['rss_peak_mib']:>13}"
            )
        print(
            "\nPython peak: tracemalloc during execute(); RSS: the child's peak "
            "resident memory (Django and the database driver included)."
        )
    finally:
        if args.db == "postgres":
            import psycopg

            with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
