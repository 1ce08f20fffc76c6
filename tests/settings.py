"""Settings for the test suite: the project's, plus the test-only app.

Tests keep their database, broker folders and files under var/test (or
SCHEDULER_VAR_DIR), away from a `make run` instance on the same checkout.
"""

import os
from pathlib import Path

os.environ.setdefault(
    "SCHEDULER_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test")
)

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SCHEDULER_CLEANUP_MODELS = ["executions.JobExecution", "testapp.Ticket"]
SCHEDULER_EXPORT_MODELS = [
    "scheduler_jobs.DynamicJob",
    "executions.JobExecution",
    "audit.AuditEntry",
    "testapp.Ticket",
]
# Django's test Client.login() has no request for django-axes; the lockout tests
# switch it back on themselves.
AXES_ENABLED = False
# The two-person rule is tested where it is the subject (tests/scheduler_jobs/
# test_approvals.py and the browser test turn it on); elsewhere one user's
# high-risk change applies at once, as with SCHEDULER_APPROVALS=off.
SCHEDULER_APPROVALS = "off"
