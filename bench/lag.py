"""Dispatch lag: 1 000 jobs due in the same second, real beat and workers.

    python -m bench.lag [--jobs 1000] [--workers 2] [--concurrency 1]

PostgreSQL (database `bench_lag`, created and dropped here) and Redis (db 9 by
default, BENCH_REDIS_URL) with a real `celery beat -S
executions.beat:DynamicJobScheduler` and real `celery worker` processes. The
jobs are heartbeats whose next slot is the same second D, a little after every
process is up. Reported, from D (each execution's `scheduled_for`):

* all dispatched: the last execution's `sent_at` (its message is on the broker);
* due → running: `started_at - scheduled_for`, p50 / p99 / max;
* all finished: the last `completed_at`.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta

from bench import common

DB_NAME = "bench_lag"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lag", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1, help="per worker")
    parser.add_argument("--lead", type=float, default=15.0, help="seconds to D")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)

    url = common.pg_url(DB_NAME)
    print(f"Machine: {common.machine()}", flush=True)
    common.create_migrated(url)
    env = common.use_database(url)
    common.setup_django()
    common.flush_redis()
    from django.utils import timezone

    from executions.models import JobExecution
    from scheduler_jobs.models import DynamicJob

    processes = common.Processes(common.VAR_DIR / "bench" / "lag-logs", env)
    try:
        for i in range(args.workers):
            processes.worker(f"worker{i + 1}", concurrency=args.concurrency)
        processes.wait_ready([f"worker{i + 1}" for i in range(args.workers)])
        due = (timezone.now() + timedelta(seconds=args.lead)).replace(microsecond=0)
        DynamicJob.objects.bulk_create(
            DynamicJob(
                name=f"lag-{i:05d}",
                template_type="heartbeat",
                parameters={"message": "lag", "fail": False, "sleep_seconds": 0},
                schedule={"type": "interval", "every_seconds": 3600},
                next_run_at=due,
            )
            for i in range(args.jobs)
        )
        processes.beat()
        print(
            f"{args.jobs} jobs due at {due:%H:%M:%S}; {args.workers} worker(s) × "
            f"concurrency {args.concurrency}; waiting…",
            file=sys.stderr,
            flush=True,
        )
        deadline = time.monotonic() + args.lead + args.timeout
        finished = JobExecution.objects.filter(status__in=JobExecution.FINISHED)
        while time.monotonic() < deadline and finished.count() < args.jobs:
            time.sleep(0.5)
        rows = list(
            JobExecution.objects.values_list(
                "scheduled_for", "created_at", "sent_at", "started_at", "completed_at"
            )
        )
    finally:
        processes.stop_all()
    from django.db import connections

    connections.close_all()
    common.drop_database(url)

    def after(values: list) -> list[float]:
        return [(v - due).total_seconds() for v in values if v is not None]

    created = after([r[1] for r in rows])
    sent = after([r[2] for r in rows])
    started_lag = [(r[3] - r[0]).total_seconds() for r in rows if r[3] is not None]
    completed = after([r[4] for r in rows])
    table = [
        [
            "executions created / started / finished",
            f"{len(rows)} / {len(started_lag)} / {len(completed)} of {args.jobs}",
        ],
        [
            "first execution created (beat woke and claimed)",
            common.fmt_seconds(min(created, default=None)),
        ],
        [
            "first batch sent (its sent_at − D)",
            common.fmt_seconds(min(sent, default=None)),
        ],
        [
            "all created (last created_at − D)",
            common.fmt_seconds(max(created, default=None)),
        ],
        [
            "all dispatched (last sent_at − D)",
            common.fmt_seconds(max(sent, default=None)),
        ],
        ["due → running p50", common.fmt_seconds(common.percentile(started_lag, 50))],
        ["due → running p99", common.fmt_seconds(common.percentile(started_lag, 99))],
        ["due → running max", common.fmt_seconds(max(started_lag, default=None))],
        [
            "all finished (last completed_at − D)",
            common.fmt_seconds(max(completed, default=None)),
        ],
    ]
    print()
    print(common.table(["measure", "value"], table))
    dispatched_ok = len(sent) == args.jobs and max(sent) <= 1.0
    p99_ok = len(started_lag) == args.jobs and common.percentile(started_lag, 99) <= 2.0
    print(
        f"\nGoals: all dispatched within 1 s: {'met' if dispatched_ok else 'MISSED'}; "
        f"p99 due → running ≤ 2 s: {'met' if p99_ok else 'MISSED'}"
    )
    print(f"Machine: {common.machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
