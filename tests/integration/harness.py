"""Real worker and beat processes for integration and reliability tests.

The processes talk to the test database (committed data only: use
`transaction=True` tests or the `django_db_blocker`) and to the broker the test
process itself uses, so manual runs from a test reach the same workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
CELERY = [sys.executable, "-m", "celery", "-A", "config"]


def database_url() -> str:
    """The URL of the database the tests are using (the test database)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def flush_broker() -> None:
    """Drop messages a previous run left behind on a Redis or filesystem broker."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("redis://"):
        import redis

        redis.Redis.from_url(url).flushdb()
    elif url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        for message in folder.glob("*"):
            message.unlink(missing_ok=True)
    elif url.startswith("amqp://"):
        from config.celery import app

        app.control.purge()


class Stack:
    """Starts, signals and stops worker and beat processes; keeps their logs."""

    def __init__(self, log_dir: Path, **env_overrides: Any) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "SCHEDULER_VAR_DIR": str(settings.VAR_DIR),
            "SCHEDULER_TICK_SECONDS": "0.5",
            "SCHEDULER_REAPER_INTERVAL_SECONDS": "2",
            "SCHEDULER_REAPER_GRACE_SECONDS": "5",
            "SCHEDULER_HARD_LIMIT_EXTRA_SECONDS": "5",
            "SCHEDULER_REQUEUE_AFTER_SECONDS": "120",
            "PYTHONUNBUFFERED": "1",
            **{k: str(v) for k, v in env_overrides.items()},
        }

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def start_worker(
        self,
        name: str = "worker",
        *,
        concurrency: int = 3,
        queues: str = "celery,heavy",
    ) -> subprocess.Popen:
        return self._start(
            name,
            [
                *CELERY,
                "worker",
                "--loglevel",
                "INFO",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--queues",
                queues,
                "--hostname",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
        )

    def start_beat(self, name: str = "beat") -> subprocess.Popen:
        return self._start(
            name,
            [
                *CELERY,
                "beat",
                "--loglevel",
                "INFO",
                "--scheduler",
                "executions.beat:DynamicJobScheduler",
                "--pidfile",
                "",
                "--schedule",
                str(self.log_dir / f"{name}-schedule"),
            ],
        )

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def signal(self, name: str, sig: int = signal.SIGKILL) -> None:
        self.processes[name].send_signal(sig)

    def stop(self, name: str, *, timeout: float = 20) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)


def wait_for(
    condition: Callable[[], Any], *, timeout: float, interval: float = 0.5
) -> Any:
    """Poll until `condition()` is truthy; returns its value or the last one."""
    deadline = time.monotonic() + timeout
    value = condition()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = condition()
    return value
