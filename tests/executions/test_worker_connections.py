"""A worker keeps its database connection between tasks, as Django does between
requests: Celery's own fix-up would close it after every task (reconnecting was
a quarter of a heartbeat's time), so CELERY_DB_REUSE_MAX is set and
config.celery closes old or broken connections around each task instead."""

from __future__ import annotations

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connection

from config.celery import app
from executions.models import JobExecution
from executions.tasks import run_execution

pytestmark = pytest.mark.django_db(transaction=True)


def _run_task_signals(fixup: DjangoWorkerFixup) -> None:
    """What a worker does around one task: the fix-up's hooks and the signals."""
    task = run_execution
    task.push_request(is_eager=False)
    try:
        fixup.on_task_prerun(sender=task)
        task_prerun.send(sender=task, task_id="t", task=task, args=(), kwargs={})
        JobExecution.objects.exists()
        fixup.on_task_postrun(sender=task)
        task_postrun.send(sender=task, task_id="t", task=task, args=(), kwargs={})
    finally:
        task.pop_request()


def test_the_connection_outlives_a_task_for_conn_max_age():
    fixup = DjangoWorkerFixup(app)
    assert (fixup.db_reuse_max or 0) >= 100
    JobExecution.objects.exists()
    opened = connection.connection
    _run_task_signals(fixup)
    if connection.settings_dict["CONN_MAX_AGE"]:
        assert connection.connection is opened
    else:  # SQLite's default: Django closes it after every request, so do we
        assert connection.connection is None


def test_a_connection_left_in_a_transaction_is_not_used_by_the_next_task():
    fixup = DjangoWorkerFixup(app)
    JobExecution.objects.exists()
    connection.set_autocommit(False)  # a task that forgot to end its transaction
    left_behind = connection.connection
    try:
        _run_task_signals(fixup)
        assert connection.connection is not left_behind
        assert connection.get_autocommit()
    finally:
        connection.set_autocommit(True)
