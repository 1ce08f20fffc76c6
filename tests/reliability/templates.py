"""Test-only templates for fault injection.

Registered in the test process by conftest.py and in worker processes through
the ReliabilityTemplatesConfig app (SCHEDULER_EXTRA_APPS).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from django.conf import settings

from job_templates.base import JobTemplate
from job_templates.context import ExecutionContext


def probe_path() -> Path:
    """Where probe runs leave their side effects (shared by test and workers)."""
    return Path(settings.VAR_DIR) / "reliability-probe.jsonl"


def probe_events() -> list[dict[str, Any]]:
    path = probe_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _append(event: dict[str, Any]) -> None:
    line = json.dumps(event) + "\n"
    # One write() on an O_APPEND file is atomic for lines this short, so the
    # workers' records never interleave.
    fd = os.open(probe_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


class ProbeTemplate(JobTemplate):
    """Records each real start and end in a file: the side effect to count.

    The database says what the scheduler believes; the probe file says what
    actually ran, so a duplicate run shows up even if the rows look right.
    """

    type = "reliability_probe"
    name = "Reliability probe"
    category = "diagnostics"
    parameters_schema = {
        "type": "object",
        "properties": {
            "sleep_seconds": {"type": "number", "minimum": 0, "default": 0},
            # Only attempts up to this number sleep (0: all of them).
            "sleep_attempts": {"type": "integer", "minimum": 0, "default": 0},
        },
        "additionalProperties": False,
    }

    def execute(self, params: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
        base = {
            "execution_id": ctx.execution_id,
            "job_id": ctx.job_id,
            "attempt": ctx.attempt,
            "key": ctx.idempotency_key,
            "pid": os.getpid(),
        }
        _append({**base, "event": "start", "at": time.time()})
        ctx.logger.info("probe started in pid %s", os.getpid())
        limit = params["sleep_attempts"]
        if params["sleep_seconds"] and (not limit or ctx.attempt <= limit):
            time.sleep(params["sleep_seconds"])
        _append({**base, "event": "end", "at": time.time()})
        return {"pid": os.getpid()}


class SelfKillTemplate(JobTemplate):
    """Kills its own worker process with SIGKILL, every time it runs."""

    type = "reliability_self_kill"
    name = "Reliability self-kill"
    category = "diagnostics"

    def execute(self, params: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
        _append(
            {
                "execution_id": ctx.execution_id,
                "job_id": ctx.job_id,
                "attempt": ctx.attempt,
                "key": ctx.idempotency_key,
                "pid": os.getpid(),
                "event": "start",
                "at": time.time(),
            }
        )
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)  # not reached
        return {}


class LogFloodTemplate(JobTemplate):
    """Writes many long log lines, to check the per-execution log cap."""

    type = "reliability_log_flood"
    name = "Reliability log flood"
    category = "diagnostics"
    parameters_schema = {
        "type": "object",
        "properties": {
            "lines": {"type": "integer", "minimum": 0, "default": 10},
            "chars": {"type": "integer", "minimum": 1, "default": 10},
        },
        "additionalProperties": False,
    }

    def execute(self, params: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
        for i in range(params["lines"]):
            ctx.logger.info("line %s %s", i, "x" * params["chars"])
        return {"lines": params["lines"]}


TEST_TEMPLATES = (ProbeTemplate, SelfKillTemplate, LogFloodTemplate)


def register_test_templates() -> None:
    from job_templates.registry import register

    for template in TEST_TEMPLATES:
        register(template)
