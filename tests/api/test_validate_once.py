"""A job write through the API is validated once, by the job service."""

from __future__ import annotations

import sys
from unittest import mock

import pytest
from django.urls import resolve

from scheduler_jobs.services import validation
from tests.api.conftest import job_payload
from tests.factories import DynamicJobFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/scheduler-jobs/"


@pytest.fixture
def job_clean_calls(monkeypatch):
    """A spy on job_clean wherever a module holds it, so no call goes uncounted.

    The API's modules are loaded first: one imported while the spy is in place
    would keep it after the test.
    """
    resolve(URL)
    original = validation.job_clean
    spy = mock.Mock(wraps=original)
    for module in list(sys.modules.values()):
        if getattr(module, "job_clean", None) is original:
            monkeypatch.setattr(module, "job_clean", spy)
    return spy


def test_create_validates_the_job_once(api, job_clean_calls):
    response = api.post(URL, job_payload(), format="json")

    assert response.status_code == 201, response.json()
    assert job_clean_calls.call_count == 1


def test_a_refused_create_is_validated_once(api, job_clean_calls):
    response = api.post(URL, job_payload(retry_policy={"x": 1}), format="json")

    assert response.status_code == 400
    assert job_clean_calls.call_count == 1


@pytest.mark.parametrize("method", ["patch", "put"])
def test_an_update_validates_the_job_once(api, job_clean_calls, method):
    job = DynamicJobFactory()
    body = {"description": "changed", "version": 1}
    if method == "put":
        body = job_payload(**body)

    response = getattr(api, method)(f"{URL}{job.pk}/", body, format="json")

    assert response.status_code == 200, response.json()
    assert job_clean_calls.call_count == 1
