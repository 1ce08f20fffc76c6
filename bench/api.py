"""The REST API and the admin at size: 100 000 jobs, 1 000 000 executions.

    python -m bench.api [--jobs 100000] [--executions 1000000] [--requests 40]
                        [--reseed] [--drop]

PostgreSQL database `bench_api` (kept between runs, since seeding takes a
while; `--reseed` rebuilds it, `--drop` removes it afterwards). Rows are loaded
with COPY; then ANALYZE. Each page is requested through Django's test client as
a logged-in superuser with DEBUG off: a few warm-up requests, then
`--requests` timed ones; p50/p95 and the number of SQL queries per request.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import common

DB_NAME = "bench_api"
STATUSES = (
    ["completed"] * 88
    + ["failed"] * 5
    + ["timeout"] * 2
    + ["skipped"] * 3
    + ["exhausted"] * 2
)
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Asia/Kolkata")


def _copy(model: Any, columns: list[str], rows) -> None:
    """COPY rows (tuples in `columns` order) into the model's table."""
    from django.db import connection

    table = model._meta.db_table
    cols = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3
        with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _defaults(model: Any, given: list[str]) -> tuple[list[str], list[Any]]:
    """Columns the benchmark's rows leave unset, with each default (NOT NULL safe)."""
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.column in given:
            continue
        if field.has_default():
            value = field.get_default()
        elif field.null:
            value = None
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = datetime.now(UTC)
        elif field.get_internal_type() in ("CharField", "TextField"):
            value = ""
        else:
            raise RuntimeError(f"No value for {model.__name__}.{field.name}")
        if isinstance(value, dict | list):
            value = json.dumps(value)
        columns.append(field.column)
        values.append(value)
    return columns, values


def seed(jobs: int, executions: int) -> dict[str, float]:
    from django.db import connection

    from executions.models import JobExecution
    from scheduler_jobs.models import DynamicJob

    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)
    timings = {}
    started = time.perf_counter()
    job_cols = [
        "name",
        "template_type",
        "parameters",
        "schedule",
        "enabled",
        "next_run_at",
        "last_status",
    ]
    extra_cols, extra_vals = _defaults(DynamicJob, job_cols)

    def job_rows():
        for i in range(jobs):
            if i % 2:
                schedule = {
                    "type": "interval",
                    "every_seconds": rng.randrange(60, 3601, 60),
                }
            else:
                schedule = {
                    "type": "cron",
                    "cron": f"{rng.randrange(60)} {rng.randrange(24)} * * *",
                    "timezone": ZONES[i % len(ZONES)],
                }
            yield (
                f"job-{i:06d}",
                "heartbeat",
                json.dumps({"message": f"job {i}", "fail": False, "sleep_seconds": 0}),
                json.dumps(schedule),
                i % 10 != 0,
                now + timedelta(seconds=rng.randrange(60, 86400)),
                rng.choice(STATUSES),
                *extra_vals,
            )

    _copy(DynamicJob, job_cols + extra_cols, job_rows())
    timings["jobs"] = time.perf_counter() - started
    first_id = DynamicJob.objects.order_by("id").values_list("id", flat=True).first()

    started = time.perf_counter()
    exec_cols = [
        "job_id",
        "job_name",
        "template_type",
        "status",
        "attempt",
        "scheduled_for",
        "created_at",
        "sent_at",
        "started_at",
        "completed_at",
        "duration_seconds",
        "parameters",
        "result",
        "error",
        "logs",
        "triggered_by",
        "execution_host",
        "celery_task_id",
        "queue",
    ]
    extra_cols, extra_vals = _defaults(JobExecution, exec_cols)
    span = 30 * 86400
    log_line = json.dumps(
        [{"at": now.isoformat(), "level": "INFO", "message": "Scheduler is alive"}]
    )

    def execution_rows():
        for i in range(executions):
            job = i % jobs
            # Oldest first, so ids grow with time as in production.
            scheduled = now - timedelta(
                seconds=span - span * i // executions, microseconds=job
            )
            status = rng.choice(STATUSES)
            started_at = scheduled + timedelta(milliseconds=rng.randrange(5, 900))
            duration = rng.random() * 2
            failed = status in ("failed", "timeout", "exhausted")
            yield (
                first_id + job,
                f"job-{job:06d}",
                "heartbeat",
                status,
                1,
                scheduled,
                scheduled,
                scheduled,
                None if status == "skipped" else started_at,
                started_at + timedelta(seconds=duration),
                None if status == "skipped" else round(duration, 3),
                json.dumps(
                    {"message": f"job {job}", "fail": failed, "sleep_seconds": 0}
                ),
                None if failed else json.dumps({"message": "ok", "host": "bench"}),
                "RuntimeError: failed on purpose" if failed else "",
                log_line,
                "scheduler",
                "bench/1",
                f"{i:032x}",
                "celery",
                *extra_vals,
            )

    _copy(JobExecution, exec_cols + extra_cols, execution_rows())
    timings["executions"] = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    timings["analyze"] = time.perf_counter() - started
    return timings


def measure(client: Any, path: str, requests: int) -> dict[str, Any]:
    from django.db import connection

    for _ in range(3):
        response = client.get(path)
    status = response.status_code
    # Not CaptureQueriesContext: each request resets connection.queries.
    captured: list[dict[str, Any]] = []

    def record(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            captured.append(
                {
                    "sql": sql % tuple(f"'{p}'" for p in params) if params else sql,
                    "time": time.perf_counter() - started,
                }
            )

    with connection.execute_wrapper(record):
        client.get(path)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
    return {
        "status": status,
        "queries": len(captured),
        "p50": common.percentile(times, 50),
        "p95": common.percentile(times, 95),
        "slowest_sql": max(captured, key=lambda q: q["time"], default={"sql": ""}),
        "sql_seconds": sum(q["time"] for q in captured),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--drop", action="store_true")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="EXPLAIN ANALYZE the slowest query of each page",
    )
    args = parser.parse_args(argv)

    import psycopg

    url = common.pg_url(DB_NAME)
    print(f"Machine: {common.machine()}", flush=True)
    exists = False
    try:
        with psycopg.connect(url) as conn:
            exists = bool(
                conn.execute(
                    "SELECT to_regclass('job_executions') IS NOT NULL"
                ).fetchone()[0]
            )
    except psycopg.OperationalError:
        exists = False
    if args.reseed or not exists:
        common.create_migrated(url)
    common.use_database(url)
    import os

    os.environ.update(
        {"DEBUG": "0", "ALLOWED_HOSTS": "testserver", "LOG_LEVEL": "ERROR"}
    )
    common.setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from executions.models import JobExecution
    from scheduler_jobs.models import DynamicJob

    settings.DEBUG = False
    have = (DynamicJob.objects.count(), JobExecution.objects.count())
    if have != (args.jobs, args.executions):
        if any(have):
            common.create_migrated(url)
        print(
            f"Seeding {args.jobs:,} jobs and {args.executions:,} executions…",
            file=sys.stderr,
            flush=True,
        )
        timings = seed(args.jobs, args.executions)
        print(
            "  seeded: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()),
            file=sys.stderr,
            flush=True,
        )
    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    some_job = DynamicJob.objects.order_by("id").values_list("id", flat=True)[500]
    failed_job = (
        JobExecution.objects.filter(status="failed")
        .order_by("-id")
        .values_list("job_id", flat=True)
        .first()
    )
    execution_id = JobExecution.objects.order_by("-id").values_list("id", flat=True)[
        1000
    ]
    pages = [
        ("API job list, first page", "/api/v1/scheduler-jobs/", 50),
        ("API job list, search", "/api/v1/scheduler-jobs/?search=job-0999", 50),
        ("API execution list, first page", "/api/v1/executions/", 50),
        ("API execution list, status=failed", "/api/v1/executions/?status=failed", 50),
        (
            "API execution list, job + status",
            f"/api/v1/executions/?job={failed_job}&status=failed",
            50,
        ),
        ("API execution list, one job", f"/api/v1/executions/?job={some_job}", 50),
        ("API execution detail", f"/api/v1/executions/{execution_id}/", 50),
        ("admin execution changelist", "/admin/executions/jobexecution/", 300),
        (
            "admin changelist, status=failed",
            "/admin/executions/jobexecution/?status__exact=failed",
            300,
        ),
        ("admin job changelist", "/admin/scheduler_jobs/dynamicjob/", 300),
    ]
    rows = []
    slow: list[tuple[str, str]] = []
    for label, path, goal_ms in pages:
        result = measure(client, path, args.requests)
        met = result["p95"] * 1000 <= goal_ms and result["status"] == 200
        rows.append(
            [
                label,
                path,
                result["status"],
                f"{result['queries']} ({common.fmt_seconds(result['sql_seconds'])})",
                common.fmt_seconds(result["p50"]),
                common.fmt_seconds(result["p95"]),
                f"≤ {goal_ms} ms: {'met' if met else 'MISSED'}",
            ]
        )
        slow.append((label, result["slowest_sql"]["sql"]))
    print()
    print(
        common.table(
            ["page", "path", "HTTP", "queries (SQL time)", "p50", "p95", "goal (p95)"],
            rows,
        )
    )
    print(
        f"\n{DynamicJob.objects.count():,} jobs, {JobExecution.objects.count():,} "
        f"executions; {args.requests} timed requests per page (Django test client, "
        "DEBUG off, PostgreSQL)."
    )
    if args.explain:
        from django.db import connection

        for label, sql in slow:
            if not sql.startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = "\n".join(r[0] for r in cursor.fetchall())
            print(f"\n--- {label}: slowest query\n{sql[:600]}\n{plan}")
    print(f"Machine: {common.machine()}")
    if args.drop:
        from django.db import connections

        connections.close_all()
        common.drop_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
