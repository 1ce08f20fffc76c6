"""What a template receives when it runs: the execution's logger and limits.

Templates know nothing of jobs or executions; the executor builds this context,
and the admin builds one for dry-run previews.
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

LOGGER_PARENT = "dynamic_scheduler.templates"


class BoundedLogHandler(logging.Handler):
    """Keeps the first and the last log entries past a cap, and counts the rest.

    A job that logs a line per row must not blow up the execution row; the first
    entries say how it started, the last ones how it ended.
    """

    def __init__(self, max_entries: int = 1000, max_message_chars: int = 4000) -> None:
        super().__init__(level=logging.DEBUG)
        self.head_size = max(1, max_entries // 2)
        self.max_message_chars = max_message_chars
        self.head: list[dict[str, Any]] = []
        self.tail: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=max(1, max_entries - self.head_size)
        )
        self.total = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break the job
            message = str(record.msg)
        if record.exc_info and record.exc_info[0] is not None:
            message = (
                f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            )
        if len(message) > self.max_message_chars:
            cut = len(message) - self.max_message_chars
            message = f"{message[: self.max_message_chars]}… [{cut} characters cut]"
        entry = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "message": message,
        }
        self.total += 1
        if len(self.head) < self.head_size:
            self.head.append(entry)
        else:
            self.tail.append(entry)

    @property
    def dropped(self) -> int:
        return self.total - len(self.head) - len(self.tail)

    def entries(self) -> list[dict[str, Any]]:
        """The kept entries, with a marker where entries were dropped."""
        if not self.dropped:
            return [*self.head, *self.tail]
        marker = {
            "ts": self.tail[0]["ts"] if self.tail else "",
            "level": "WARNING",
            "message": f"… {self.dropped} log entries dropped (log size cap) …",
        }
        return [*self.head, marker, *self.tail]


def make_logger(name: str, handler: logging.Handler) -> logging.Logger:
    """A logger private to one execution, which also propagates to the worker log.

    Built directly rather than with logging.getLogger so that a long-lived worker
    does not keep one logger object per execution forever.
    """
    logger = logging.Logger(name, level=logging.DEBUG)
    logger.addHandler(handler)
    logger.parent = logging.getLogger(LOGGER_PARENT)
    return logger


@dataclass
class ExecutionContext:
    """Everything a template may use besides its parameters."""

    logger: logging.Logger
    dry_run: bool = False
    deadline: float | None = None  # time.monotonic() value; None means no limit
    execution_id: int | None = None
    job_id: int | None = None
    job_name: str = ""
    attempt: int = 1
    scheduled_for: datetime | None = None
    # Same for every attempt of one scheduled slot, so receivers can drop repeats.
    idempotency_key: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def seconds_left(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    @classmethod
    def for_preview(
        cls, *, job_name: str = "preview", max_entries: int = 200
    ) -> tuple[ExecutionContext, BoundedLogHandler]:
        """A dry-run context whose logs are collected in memory (wizard previews)."""
        handler = BoundedLogHandler(max_entries=max_entries)
        ctx = cls(
            logger=make_logger(f"{LOGGER_PARENT}.preview", handler),
            dry_run=True,
            job_name=job_name,
            idempotency_key="preview",
        )
        return ctx, handler
