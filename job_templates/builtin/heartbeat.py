from __future__ import annotations

import socket
import time
from typing import Any

from django.utils import timezone

from job_templates.base import JobTemplate, TemplateError
from job_templates.context import ExecutionContext


class HeartbeatTemplate(JobTemplate):
    """Proves the scheduler lives: logs a message and returns the time.

    The legacy `test_scheduler`. `fail` and `sleep_seconds` let operators test
    their alerting, retries and timeouts without writing a template.
    """

    type = "heartbeat"
    name = "Heartbeat"
    description = (
        "Writes a log line and returns the time. Use it to check that the "
        "scheduler and workers are alive, or to test alerts, retries and timeouts."
    )
    category = "diagnostics"
    icon = "💓"
    risk_level = "low"
    resource_usage = "low"
    estimated_duration = "under a second"
    guidance = "Check that the scheduler runs?"
    parameters_schema = {
        "type": "object",
        "properties": {
            "message": {
                "type": "string",
                "title": "Message",
                "description": "Written to the execution's log.",
                "default": "Scheduler is alive",
                "maxLength": 500,
            },
            "fail": {
                "type": "boolean",
                "title": "Fail on purpose",
                "description": "Raise an error, to test failure alerts and retries.",
                "default": False,
            },
            "sleep_seconds": {
                "type": "number",
                "title": "Sleep (seconds)",
                "description": "Wait this long before finishing, to test timeouts.",
                "default": 0,
                "minimum": 0,
                "maximum": 3600,
            },
        },
        "additionalProperties": False,
    }

    def execute(self, params: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
        ctx.logger.info("%s", params["message"])
        slept = 0.0
        if params["sleep_seconds"]:
            ctx.logger.info("Sleeping %s seconds", params["sleep_seconds"])
            started = time.monotonic()
            time.sleep(params["sleep_seconds"])
            slept = round(time.monotonic() - started, 3)
        if params["fail"]:
            ctx.logger.error("Failing on purpose (fail=true)")
            raise TemplateError("Heartbeat asked to fail (fail=true).")
        return {
            "message": params["message"],
            "time": timezone.now().isoformat(),
            "host": socket.gethostname(),
            "slept_seconds": slept,
        }
