"""Shared plumbing for the benchmarks: databases, child processes, tables.

Every measurement runs in a fresh child process (`python -m bench.<name> --child
...`) with its own DATABASE_URL and the in-memory Celery broker, so one
scheduler's caches, connections and memory never leak into the other's figures.
The parent only creates databases, starts children and prints tables.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SCHEDULER_VAR_DIR", str(ROOT / "var" / "bench")))
PG_BASE = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
RESULT_MARK = "BENCH-RESULT "


def machine() -> str:
    """One line naming the machine, so figures are read with their context."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    except OSError:
        pass
    load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return (
        f"{os.cpu_count()} CPU(s), {cpu}{ram}{load}; Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )


def sqlite_url(name: str) -> str:
    return f"sqlite:///{VAR_DIR / 'bench' / (name + '.sqlite3')}"


def pg_url(name: str) -> str:
    return f"{PG_BASE.rstrip('/')}/{name}"


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
        conn.execute(sql)


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///").replace("sqlite:////", "/"))


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        name = url.rsplit("/", 1)[1]
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_migrated(url: str) -> None:
    """An empty database with every migration applied."""
    drop_database(url)
    if url.startswith("sqlite"):
        _sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)
    else:
        pg_admin(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "migrate",
            "--noinput",
            "--skip-checks",
            "-v",
            "0",
        ],
        cwd=ROOT,
        env=child_env(url),
        check=True,
    )


def clone_database(source: str, target: str) -> None:
    """Copy a migrated template database (much faster than migrating again)."""
    drop_database(target)
    if source.startswith("sqlite"):
        shutil.copyfile(_sqlite_path(source), _sqlite_path(target))
    else:
        pg_admin(
            f'CREATE DATABASE "{target.rsplit("/", 1)[1]}" '
            f'TEMPLATE "{source.rsplit("/", 1)[1]}"'
        )


def child_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "memory://",
        "SCHEDULER_VAR_DIR": str(VAR_DIR),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # As in production: DEBUG keeps every SQL statement in memory and, on
        # SQLite, runs an extra query per statement to log its parameters.
        "DEBUG": "0",
    }
    env.update(extra)
    return env


def run_child(
    module: str, args: list[str], env: dict[str, str], timeout: float = 1800
) -> dict[str, Any]:
    """Run `python -m module --child args` and return the JSON it reports."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", module, "--child", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if os.environ.get("BENCH_PROFILE") or os.environ.get("BENCH_VERBOSE"):
        sys.stderr.write(proc.stderr)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK) :])
            result.setdefault("child_seconds", time.monotonic() - started)
            return result
    tail = (proc.stderr or proc.stdout)[-3000:]
    raise RuntimeError(f"{module} {' '.join(args)} failed ({proc.returncode}):\n{tail}")


def report(result: dict[str, Any]) -> None:
    """Hand a child's result to the parent (last line of stdout)."""
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0-100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_seconds(value: float | None) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured Markdown table, readable in a terminal too."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "| "
            + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
            + " |"
        )
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


class Processes:
    """Real celery worker and beat processes, each in its own process group."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str]) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        self.running[name] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def worker(
        self, name: str, *, concurrency: int, extra: list[str] | None = None
    ) -> None:
        self.start(
            name,
            [
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--hostname",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
                *(extra or []),
            ],
        )

    def beat(self, name: str = "beat") -> None:
        self.start(
            name,
            [
                "beat",
                "--scheduler",
                "executions.beat:DynamicJobScheduler",
                "--loglevel",
                "INFO",
                "--pidfile",
                "",
                "--schedule",
                str(self.log_dir / f"{name}-schedule"),
            ],
        )

    def wait_ready(self, names: list[str], timeout: float = 90) -> None:
        """Wait for each worker's "ready" line (beat has none)."""
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                if self.running[name].poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{self.log(name)[-2000:]}")
                if " ready." in self.log(name):
                    pending.discard(name)
            time.sleep(0.2)
        if pending:
            raise RuntimeError(f"not ready after {timeout}s: {sorted(pending)}")

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        import signal

        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.running.clear()


def flush_redis(url: str = REDIS_URL) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def use_database(url: str, broker: str = REDIS_URL) -> dict[str, str]:
    """Point this process (before django.setup) and its children at one database."""
    env = child_env(url, CELERY_BROKER_URL=broker, LOG_LEVEL="INFO")
    os.environ.update(env)
    return env
