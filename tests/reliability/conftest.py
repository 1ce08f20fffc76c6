"""Reliability suite: real PostgreSQL, Redis, worker and beat processes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

from tests.integration.harness import flush_broker
from tests.reliability.stack import ReliabilityStack
from tests.reliability.templates import probe_path, register_test_templates

FIGURES: Counter = Counter()


@pytest.fixture(autouse=True, scope="session")
def _reliability_templates():
    """Test-only templates, registered only when a test of this folder runs (not
    at import, which would put them in every suite's catalogue)."""
    register_test_templates()


def require_real_services() -> None:
    """Fault tests need servers they can stop; refuse to run on the embedded stack."""
    engine = settings.DATABASES["default"]["ENGINE"]
    broker = settings.CELERY_BROKER_URL
    problems = []
    if "postgresql" not in engine:
        problems.append(f"DATABASE_URL must point at PostgreSQL (engine is {engine})")
    if not broker.startswith("redis://"):
        problems.append(f"CELERY_BROKER_URL must be redis:// (it is {broker!r})")
    if problems:
        pytest.fail(
            "The reliability suite runs against real servers: "
            + "; ".join(problems)
            + ". See RELIABILITY.md, 'Running'.",
            pytrace=False,
        )


@pytest.fixture(scope="session", autouse=True)
def _real_services():
    require_real_services()


@pytest.fixture(scope="module")
def stacks(django_db_setup, django_db_blocker, tmp_path_factory, request):
    """Start ReliabilityStacks for a module; every process is stopped at the end."""
    with django_db_blocker.unblock():
        flush_broker()
    probe_path().unlink(missing_ok=True)
    started: list[ReliabilityStack] = []

    def make(name: str = "stack", **env) -> ReliabilityStack:
        stack = ReliabilityStack(tmp_path_factory.mktemp(name), **env)
        started.append(stack)
        return stack

    yield make
    for stack in started:
        stack.stop_all()


@pytest.fixture(scope="session")
def figures():
    """Counts for RELIABILITY.md: faults injected, runs checked, duplicates, lost."""
    return FIGURES


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for key in sorted(FIGURES):
        terminalreporter.write_line(f"{key}: {FIGURES[key]}")
    out = Path(settings.VAR_DIR) / "reliability-figures.json"
    out.write_text(json.dumps(dict(FIGURES), indent=2, sort_keys=True))
    terminalreporter.write_line(f"(written to {out})")
