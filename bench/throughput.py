"""Executor overhead: heartbeat executions per second against a bare Celery task.

    python -m bench.throughput [--count 2000] [--concurrency 2] [--rounds 2]

PostgreSQL (database `bench_throughput`, created and dropped here), Redis (db 9
by default, BENCH_REDIS_URL) and one real `celery worker --include bench.tasks`
with `--concurrency` prefork processes, shared by both sides:

* no-op: `--count` messages of `bench.noop` (bench/tasks.py: same delivery
  options as run_execution, does one Redis INCR so completion can be counted);
* heartbeat: `--count` heartbeat jobs fall due at once and go the whole way, the
  path every scheduled run takes: `dispatch_due` claims them and creates their
  executions, the messages are sent, the workers run `execution_run` (claim,
  template, logs, result, job status) until every execution is `completed`.

Each side is timed from the first message (or claim) to the last completion;
rounds alternate the two sides and the best round of each is kept.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta

from bench import common

DB_NAME = "bench_throughput"


def run_noop(count: int, timeout: float) -> float:
    import redis

    from bench.tasks import noop

    client = redis.Redis.from_url(common.REDIS_URL)
    key = f"bench-noop-{time.monotonic_ns()}"
    started = time.perf_counter()
    for _ in range(count):
        noop.apply_async(args=[key])
    deadline = time.monotonic() + timeout
    while int(client.get(key) or 0) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    done = int(client.get(key) or 0)
    if done < count:
        raise RuntimeError(f"only {done}/{count} no-op tasks ran in {timeout}s")
    return elapsed


def run_heartbeats(count: int, round_no: int, timeout: float) -> float:
    from django.utils import timezone

    from executions import services
    from executions.models import JobExecution
    from scheduler_jobs.models import DynamicJob

    now = timezone.now()
    DynamicJob.objects.bulk_create(
        DynamicJob(
            name=f"tp-{round_no}-{i:05d}",
            template_type="heartbeat",
            parameters={"message": "throughput", "fail": False, "sleep_seconds": 0},
            schedule={"type": "interval", "every_seconds": 3600},
            next_run_at=now - timedelta(seconds=1),
            overlap_policy=DynamicJob.OverlapPolicy.ALLOW,
        )
        for i in range(count)
    )
    before = JobExecution.objects.filter(status=JobExecution.Status.COMPLETED).count()
    started = time.perf_counter()
    claimed = 0
    while claimed < count:
        report = services.dispatch_due()
        if not report.claimed:
            break
        claimed += report.claimed
    completed = JobExecution.objects.filter(status=JobExecution.Status.COMPLETED)
    deadline = time.monotonic() + timeout
    while completed.count() - before < count and time.monotonic() < deadline:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    done = completed.count() - before
    if done < count:
        raise RuntimeError(f"only {done}/{count} heartbeats completed in {timeout}s")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.throughput", description=__doc__
    )
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--synchronous-commit",
        choices=("on", "off"),
        default="on",
        help="PostgreSQL synchronous_commit for the benchmark database: shows how "
        "much of a heartbeat's time is waiting for the WAL flush of its commits",
    )
    args = parser.parse_args(argv)

    url = common.pg_url(DB_NAME)
    print(f"Machine: {common.machine()}", flush=True)
    common.create_migrated(url)
    common.pg_admin(
        f"ALTER DATABASE {DB_NAME} SET synchronous_commit = {args.synchronous_commit}"
    )
    env = common.use_database(url)
    env["LOG_LEVEL"] = "WARNING"  # workers log at INFO per task otherwise
    common.setup_django()
    common.flush_redis()
    processes = common.Processes(common.VAR_DIR / "bench" / "throughput-logs", env)
    noop_times: list[float] = []
    heartbeat_times: list[float] = []
    try:
        processes.worker(
            "worker",
            concurrency=args.concurrency,
            extra=["--include", "bench.tasks"],
        )
        processes.wait_ready(["worker"])
        # Warm-up: every pool process opens its broker and database connections.
        run_noop(50, args.timeout)
        run_heartbeats(50, 0, args.timeout)
        for round_no in range(1, args.rounds + 1):
            noop_times.append(run_noop(args.count, args.timeout))
            heartbeat_times.append(run_heartbeats(args.count, round_no, args.timeout))
            print(
                f"  round {round_no}: no-op {args.count / noop_times[-1]:.0f}/s, "
                f"heartbeat {args.count / heartbeat_times[-1]:.0f}/s",
                file=sys.stderr,
                flush=True,
            )
    finally:
        processes.stop_all()
        from django.db import connections

        connections.close_all()
        common.drop_database(url)

    noop_rate = args.count / min(noop_times)
    heartbeat_rate = args.count / min(heartbeat_times)
    print()
    print(
        common.table(
            ["task", f"{args.count} runs took (best of {args.rounds})", "per second"],
            [
                [
                    "bare Celery no-op (bench.noop)",
                    common.fmt_seconds(min(noop_times)),
                    f"{noop_rate:,.0f}",
                ],
                [
                    "heartbeat execution, end to end",
                    common.fmt_seconds(min(heartbeat_times)),
                    f"{heartbeat_rate:,.0f}",
                ],
            ],
        )
    )
    ratio = heartbeat_rate / noop_rate
    print(
        f"\nheartbeat ÷ no-op = {ratio:.0%} "
        f"(goal ≥ 25 %: {'met' if ratio >= 0.25 else 'MISSED'}); worker: 1 × prefork "
        f"concurrency {args.concurrency}, broker Redis, database PostgreSQL "
        f"(synchronous_commit {args.synchronous_commit})"
    )
    print(f"Machine: {common.machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
