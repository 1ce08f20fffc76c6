"""services.upcoming: the next runs of enabled jobs in a window, in time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduler_jobs.access import AccessDenied
from scheduler_jobs.services.upcoming import upcoming_runs
from tests.conftest import staff_with
from tests.factories import DynamicJobFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BERLIN_0230 = {"type": "cron", "cron": "30 2 * * *", "timezone": "Europe/Berlin"}


@pytest.fixture
def viewer(django_user_model):
    return staff_with(django_user_model, "viewer", "scheduler_jobs.view_dynamicjob")


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def test_a_daily_berlin_job_runs_once_a_day_at_0230_berlin_time(viewer):
    job = DynamicJobFactory(
        name="Nightly",
        schedule=BERLIN_0230,
        next_run_at=datetime(2026, 12, 2, 1, 30, tzinfo=UTC),
    )
    result = upcoming_runs(user=viewer, start=NOW, end=NOW + timedelta(days=7))
    assert [run.at for run in result.runs] == [
        datetime(2026, 12, day, 1, 30, tzinfo=UTC) for day in range(2, 9)
    ]
    assert {run.job_id for run in result.runs} == {job.pk}
    assert result.runs[0].zone_name == "Europe/Berlin"
    assert not result.truncated


def test_an_interval_job_counts_from_its_next_run(viewer):
    DynamicJobFactory(
        schedule={"type": "interval", "every_seconds": 6 * 3600},
        next_run_at=NOW + timedelta(minutes=10),
    )
    result = upcoming_runs(user=viewer, start=NOW, end=NOW + timedelta(days=1))
    assert [run.at - NOW for run in result.runs] == [
        timedelta(minutes=10) + timedelta(hours=6 * i) for i in range(4)
    ]


def test_disabled_jobs_and_jobs_due_after_the_window_are_left_out(viewer):
    DynamicJobFactory(name="off", enabled=False)
    DynamicJobFactory(name="later", next_run_at=NOW + timedelta(days=9))
    DynamicJobFactory(name="never", next_run_at=None)
    shown = DynamicJobFactory(
        name="soon", schedule={"type": "interval", "every_seconds": 86400}
    )
    result = upcoming_runs(user=viewer, start=NOW, end=NOW + timedelta(days=2))
    assert {run.job_name for run in result.runs} == {shown.name}


def test_runs_of_all_jobs_come_in_time_order_and_stop_at_the_cap(viewer):
    for minutes in (7, 3, 5):
        DynamicJobFactory(
            name=f"every {minutes} min",
            schedule={"type": "interval", "every_seconds": minutes * 60},
            next_run_at=NOW + timedelta(minutes=minutes),
        )
    result = upcoming_runs(
        user=viewer, start=NOW, end=NOW + timedelta(days=1), limit=50
    )
    times = [run.at for run in result.runs]
    assert len(times) == 50
    assert times == sorted(times)
    assert result.truncated


def test_the_query_count_does_not_grow_with_jobs(viewer, django_assert_max_num_queries):
    for i in range(40):
        DynamicJobFactory(
            schedule={"type": "cron", "cron": f"{i} * * * *", "timezone": "UTC"},
            next_run_at=NOW + timedelta(minutes=i + 1),
        )
    with django_assert_max_num_queries(6):
        result = upcoming_runs(user=viewer, start=NOW, end=NOW + timedelta(days=1))
    assert len(result.runs) == 40 * 24


def test_a_user_who_may_not_view_jobs_is_refused(django_user_model):
    runner = staff_with(django_user_model, "runs-only", "executions.view_jobexecution")
    with pytest.raises(AccessDenied):
        upcoming_runs(user=runner, start=NOW, end=NOW + timedelta(days=1))


def test_a_capped_page_is_the_start_of_the_full_list(viewer):
    for i in range(12):
        DynamicJobFactory(
            name=f"job {i:02}",
            schedule={"type": "interval", "every_seconds": 3600 * (i + 1)},
            next_run_at=NOW + timedelta(minutes=7 * i + 1),
        )
    window = {"start": NOW, "end": NOW + timedelta(days=2)}
    everything = upcoming_runs(user=viewer, limit=10_000, **window)
    first = upcoming_runs(user=viewer, limit=30, **window)
    assert not everything.truncated
    assert first.truncated
    assert first.runs == everything.runs[:30]
    assert [r.at for r in everything.runs] == sorted(r.at for r in everything.runs)
