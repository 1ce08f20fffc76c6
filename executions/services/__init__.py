"""The executor engine: dispatching due jobs, running executions, retries, reaping.

State machine:
    queued → running → completed | failed | timeout
    failed/timeout → a new attempt in retry_pending (due after
        delay × backoff^(attempt-1)) → queued … → the last failed attempt: exhausted
    also skipped (overlap or misfire policy) and cancelled.

Every transition is a compare-and-set UPDATE on the current status, so a
redelivered Celery message, a second beat or a late reaper cannot run or finish
an execution twice.

The package is split by who drives it: ``dispatch`` (beat: due jobs and due
retries), ``sending`` (the broker), ``manual`` (run now, cancel), ``running``
(the worker) and ``reaper``. The names below are the ones other code uses as
``executions.services.<name>``, so they stay importable from here. A module
calls another's function through that module (``sending.execution_send(...)``),
so a test that replaces one patches the module that defines it, for example
``executions.services.sending.execution_send``; every caller then sees it.
"""

from executions.services.dispatch import (
    DispatchReport,
    dispatch_due,
    dispatch_retries,
)
from executions.services.manual import (
    NotCancellable,
    execution_cancel,
    execution_rerun,
    run_now,
    run_warnings,
)
from executions.services.reaper import reap
from executions.services.running import (
    execution_finish,
    execution_run,
)
from executions.services.sending import execution_send

__all__ = [
    "DispatchReport",
    "NotCancellable",
    "dispatch_due",
    "dispatch_retries",
    "execution_cancel",
    "execution_finish",
    "execution_rerun",
    "execution_run",
    "execution_send",
    "reap",
    "run_now",
    "run_warnings",
]
