"""The job spec is the one home of a job's shape: an option added to it reaches
the service's validation, the API's schema, the admin forms and the jobs file."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from drf_spectacular.generators import SchemaGenerator

from scheduler_jobs import jobfiles
from scheduler_jobs.forms import OptionsStepForm, field_for_key, options_fieldsets
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.serializers import DynamicJobSerializer
from scheduler_jobs.services import job_clean
from scheduler_jobs.services.approvals import approval_reason
from scheduler_jobs.services.masking import NOTIFICATION_SCHEMA
from scheduler_jobs.spec import JOB_SPEC, AlreadyRegistered, Option
from tests.api.conftest import critical_template  # noqa: F401 (fixture)
from tests.factories import DynamicJobFactory

pytestmark = pytest.mark.django_db

# The worked example of CONTRIBUTING.md, registered for one test at a time.
PRIORITY = Option(
    "priority",
    int,
    default=5,
    minimum=0,
    maximum=9,
    label="Priority",
    help="Higher runs first when workers are busy ({minimum} to {maximum}).",
    section="running",
)
REFUSED = "Must be a whole number from 0 to 9."
JOB = {
    "name": "nightly",
    "template_type": "heartbeat",
    "schedule": {"type": "interval", "every_seconds": 3600},
}


@pytest.fixture
def priority():
    JOB_SPEC.register(PRIORITY)
    yield PRIORITY
    JOB_SPEC.unregister(PRIORITY.name)


def test_a_new_option_is_validated_by_the_service_with_its_default(priority):
    assert job_clean(JOB)["priority"] == 5
    assert job_clean({**JOB, "priority": 9})["priority"] == 9
    with pytest.raises(ValidationError) as refused:
        job_clean({**JOB, "priority": 12})
    assert refused.value.message_dict == {"priority": [REFUSED]}


def test_a_new_option_is_in_the_api_schema_and_checked_by_its_type(priority):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    for name in ("DynamicJob", "DynamicJobRequest", "PatchedDynamicJobUpdateRequest"):
        field = components[name]["properties"]["priority"]
        assert field == {"type": "integer", "minimum": 0, "maximum": 9}, name
    assert "priority" not in components["DynamicJobRequest"]["required"]
    serializer = DynamicJobSerializer(data={**JOB, "priority": "high"})
    assert not serializer.is_valid()
    assert list(serializer.errors) == ["priority"]


def test_a_new_option_is_a_form_field_that_shows_its_errors(priority):
    field = OptionsStepForm().fields["priority"]
    assert (field.label, field.initial) == ("Priority", 5)
    assert field.help_text == "Higher runs first when workers are busy (0 to 9)."
    assert field_for_key("priority") == ("priority", "")

    data = {name: f.initial for name, f in OptionsStepForm().fields.items()}
    form = OptionsStepForm(data={**data, "priority": "12"})

    assert not form.is_valid()
    assert form.errors == {"priority": [REFUSED]}
    accepted = OptionsStepForm(data={**data, "priority": "7"})
    assert accepted.is_valid(), accepted.errors
    assert accepted.options_data()["priority"] == 7


def test_a_new_option_is_laid_out_in_the_wizard_and_the_admin_without_edits(
    priority,
):
    running = dict(options_fieldsets())["Running"]["fields"]

    assert running == (
        "timeout_seconds",
        ("max_retries", "delay_seconds", "backoff"),
        "overlap_policy",
        "misfire_policy",
        "queue",
        "priority",
    )


def test_a_new_option_is_a_field_of_the_jobs_file(priority):
    job = DynamicJobFactory()
    job.priority = 7  # no column in this test: the value is set on the object

    assert jobfiles.job_definition(job)["priority"] == 7
    with pytest.raises(jobfiles.JobFileError) as refused:
        jobfiles.import_plan([{**JOB, "priority": 12}], source="jobs.yaml")
    assert f"jobs[0] (nightly): priority: {REFUSED}" in str(refused.value)
    assert "unknown field" not in str(refused.value)


def test_an_option_name_is_registered_once():
    with pytest.raises(AlreadyRegistered):
        JOB_SPEC.register(JOB_SPEC["timeout_seconds"])
    with pytest.raises(KeyError, match="needs the group"):
        JOB_SPEC.register(Option("limits.memory", int, default=0))


def test_a_new_job_gets_the_specs_defaults_from_the_model_service_and_forms():
    defaults = JOB_SPEC.defaults()
    unsaved = DynamicJob()
    form = OptionsStepForm()

    assert {name: getattr(unsaved, name) for name in defaults} == defaults
    assert {**defaults, **JOB} == {**job_clean(JOB), "parameters": {}}
    assert form.fields["timeout_seconds"].initial == defaults["timeout_seconds"]
    assert form.fields["notify_on"].initial == defaults["notifications"]["on"]


def test_every_option_with_a_form_field_places_its_errors_there():
    for option in JOB_SPEC:
        expected = JOB_SPEC.form_field_for(option.name)
        assert field_for_key(f"{option.name}.0") == (expected, "0"), option.name
    assert field_for_key("retry_policy") == ("max_retries", "")
    assert field_for_key("notifications") == ("notify_emails", "")


def test_the_secret_marks_are_what_sealing_and_masking_read():
    assert NOTIFICATION_SCHEMA["properties"] == {
        "slack_webhook": {"type": "string", "writeOnly": True},
        "webhook_url": {"type": "string", "writeOnly": True},
        "webhook_secret": {"type": "string", "writeOnly": True},
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("parameters", {"target": "b"}),
        ("description", "another description"),
        ("timeout_seconds", 60),
        ("schedule", {"type": "interval", "every_seconds": 600}),
        ("notifications", {"emails": ["ops@example.com"]}),
    ],
)
@pytest.mark.usefixtures("critical_template")
def test_only_a_change_to_a_high_risk_field_waits_for_approval(settings, name, value):
    settings.SCHEDULER_APPROVALS = "high-risk"
    job = DynamicJobFactory(template_type="test_critical", parameters={"target": "a"})

    reason = approval_reason(job, job_clean({name: value}, instance=job))

    assert (reason is not None) == JOB_SPEC[name].high_risk
