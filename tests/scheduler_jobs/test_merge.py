"""services.merge through job_update: what a change made on an older version keeps."""

from __future__ import annotations

import pytest

from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob, JobVersion

pytestmark = pytest.mark.django_db

MERGE = services.Merge()


def heartbeat() -> DynamicJob:
    return services.job_create(
        user=SYSTEM,
        data={
            "name": "beat",
            "template_type": "heartbeat",
            "parameters": {"message": "one", "sleep_seconds": 0},
            "schedule": {"type": "interval", "every_seconds": 60},
            "notifications": {"emails": ["a@example.com"], "on": ["failure"]},
        },
    )


def update(job: DynamicJob, version: int, **data) -> DynamicJob:
    return services.job_update(
        job=job, user=SYSTEM, data=data, expected_version=version, merge=MERGE
    )


def test_parameters_merge_key_by_key():
    job = heartbeat()
    update(job, 1, parameters={"message": "theirs", "sleep_seconds": 0})

    merged = update(job, 1, parameters={"message": "one", "sleep_seconds": 2})

    assert merged.parameters["message"] == "theirs"
    assert merged.parameters["sleep_seconds"] == 2
    assert merged.merged_fields == ["Parameters"]


def test_notification_keys_merge_one_by_one():
    job = heartbeat()
    update(job, 1, notifications={"emails": ["b@example.com"], "on": ["failure"]})

    merged = update(
        job, 1, notifications={"emails": ["a@example.com"], "on": ["success"]}
    )

    assert merged.notifications["emails"] == ["b@example.com"]
    assert merged.notifications["on"] == ["success"]


def test_both_changed_one_parameter_names_it_with_both_values():
    job = heartbeat()
    update(job, 1, parameters={"message": "theirs", "sleep_seconds": 0})

    with pytest.raises(services.MergeConflict) as caught:
        update(job, 1, parameters={"message": "mine", "sleep_seconds": 0})

    (conflict,) = caught.value.conflicts
    assert (conflict.key, conflict.label) == (
        "parameters.message",
        "Parameters: Message",
    )
    assert (conflict.yours, conflict.theirs) == ("mine", "theirs")
    assert DynamicJob.objects.get(pk=job.pk).parameters["message"] == "theirs"


def test_a_choice_settles_the_conflict_it_was_made_for():
    job = heartbeat()
    update(job, 1, parameters={"message": "theirs", "sleep_seconds": 0})

    merged = services.job_update(
        job=job,
        user=SYSTEM,
        data={"parameters": {"message": "mine", "sleep_seconds": 0}},
        expected_version=1,
        merge=services.Merge(choices={"parameters.message": "mine"}, choices_version=2),
    )

    assert merged.parameters["message"] == "mine"


def test_versions_saved_before_the_lock_was_recorded_ask_about_every_difference():
    job = heartbeat()
    update(job, 1, description="theirs")
    JobVersion.objects.filter(job=job).update(job_version=None)

    same = update(job, 1, description="theirs")
    with pytest.raises(services.MergeConflict) as caught:
        update(job, 1, timeout_seconds=600)

    assert same.version == 2  # nothing to change, nothing asked
    assert [c.key for c in caught.value.conflicts] == ["timeout_seconds"]


def test_without_merge_a_stale_version_is_still_a_conflict():
    job = heartbeat()
    update(job, 1, description="theirs")

    with pytest.raises(services.VersionConflict) as caught:
        services.job_update(
            job=job, user=SYSTEM, data={"timeout_seconds": 60}, expected_version=1
        )

    assert not isinstance(caught.value, services.MergeConflict)
