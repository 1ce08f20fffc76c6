"""Reliability helpers on top of the integration harness.

ReliabilityStack adds what fault injection needs: the test-only templates in
every process, the PIDs of a worker's pool children, and a look at the Redis
queues the workers consume.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from django.conf import settings

from tests.integration.harness import Stack

EXTRA_APP = "tests.reliability.apps.ReliabilityTemplatesConfig"


class ReliabilityStack(Stack):
    def __init__(self, log_dir: Path, **env_overrides: Any) -> None:
        env_overrides.setdefault("SCHEDULER_EXTRA_APPS", EXTRA_APP)
        super().__init__(log_dir, **env_overrides)

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def pool_children(self, name: str) -> list[int]:
        """PIDs of the prefork pool processes of worker `name` (from /proc)."""
        return children_of(self.pid(name))

    def wait_ready(self, name: str, *, timeout: float = 60) -> None:
        """Wait until a worker logs that it is ready (its pool is up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log(name):
                return
            if self.processes[name].poll() is not None:
                raise AssertionError(f"{name} exited:\n{self.log(name)[-3000:]}")
            time.sleep(0.3)
        raise AssertionError(f"{name} not ready after {timeout}s:\n{self.log(name)}")

    def kill9(self, name: str) -> None:
        """SIGKILL the process itself only (not its process group)."""
        os.kill(self.pid(name), signal.SIGKILL)
        self.processes[name].wait(timeout=10)


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces; fields after the closing ")" are fixed.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return sorted(children)


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def execution_pid(execution_host: str) -> int:
    """The pool process that ran an execution ("host/pid")."""
    return int(execution_host.rsplit("/", 1)[1])


def redis_client():
    import redis

    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def queue_length(queue: str) -> int:
    return int(redis_client().llen(queue))


def unacked_for(queue: str) -> list[dict[str, Any]]:
    """Messages taken from `queue` by a consumer and not acknowledged yet."""
    out = []
    for raw in redis_client().hvals("unacked"):
        message, _exchange, routing_key = json.loads(raw)
        if routing_key == queue:
            out.append(message)
    return out
