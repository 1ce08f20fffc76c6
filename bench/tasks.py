"""A bare Celery task for `python -m bench.throughput` to compare against.

Load it in a worker with `celery -A config worker --include bench.tasks`. It
has the same delivery options as `executions.run_execution` (late ack, reject
on worker loss, no result) and does nothing except count itself with one Redis
INCR, so the benchmark knows when the last one has run.
"""

from __future__ import annotations

import os

from celery import shared_task

_client = None


def _redis():
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(
            os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
        )
    return _client


@shared_task(
    name="bench.noop", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def noop(counter: str = "") -> None:
    if counter:
        _redis().incr(counter)
