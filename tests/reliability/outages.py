"""Stop and restart the shared Redis and PostgreSQL servers, always restarting them.

Other test runs use the same servers, so outages are short (at most 60 s) and
the restart sits in a finally block.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

REDIS_START = [
    "redis-server",
    "--daemonize", "yes",
    "--bind", "127.0.0.1", "-::1",
    "--port", "6379",
    "--save", "",
    "--appendonly", "no",
    "--dir", "/var/lib/redis",
    "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip
MAX_OUTAGE = 60


def _pg_cluster() -> list[str]:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"]


def redis_up() -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def pg_up() -> bool:
    import psycopg

    try:
        with psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=2
        ):
            return True
    except psycopg.OperationalError:
        return False


def _wait(check, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return check()


@contextlib.contextmanager
def redis_down() -> Iterator[None]:
    """Redis is stopped inside the block and running again after it."""
    subprocess.run(
        ["redis-cli", "-p", "6379", "shutdown", "nosave"],
        check=False,
        capture_output=True,
        timeout=20,
    )
    try:
        assert _wait(lambda: not redis_up(), timeout=10), "Redis did not stop"
        yield
    finally:
        if not redis_up():
            subprocess.run(REDIS_START, check=False, capture_output=True, timeout=20)
        assert _wait(redis_up, timeout=20), "Redis did not come back"


@contextlib.contextmanager
def postgres_down() -> Iterator[None]:
    """PostgreSQL is stopped inside the block and running again after it."""
    subprocess.run(
        [*_pg_cluster(), "stop", "--", "-m", "fast"],
        check=False,
        capture_output=True,
        timeout=60,
    )
    try:
        assert _wait(lambda: not pg_up(), timeout=20), "PostgreSQL did not stop"
        yield
    finally:
        if not pg_up():
            subprocess.run(
                [*_pg_cluster(), "start"], check=False, capture_output=True, timeout=60
            )
        assert _wait(pg_up, timeout=60), "PostgreSQL did not come back"
