"""The translation between form fields and a job's JSON, and error placement."""

from __future__ import annotations

import pytest
from django import forms
from django.core.exceptions import ValidationError

from job_templates.registry import registry
from scheduler_jobs.forms import (
    ParametersField,
    add_service_errors,
    field_for_key,
    schedule_initial,
    widget_schema,
)


@pytest.mark.parametrize(
    ("key", "field", "rest"),
    [
        ("schedule.cron", "cron", ""),
        ("schedule.timezone", "timezone", ""),
        ("schedule.every_seconds", "every", ""),
        ("parameters.recipients.2", "parameters", "recipients.2"),
        ("retry_policy.max_retries", "max_retries", ""),
        ("notifications.emails.0", "notify_emails", "0"),
        ("notifications.slack_webhook", "slack_webhook", ""),
        ("name", "name", ""),
        ("something.else", None, "something.else"),
    ],
)
def test_service_error_keys_map_to_form_fields(key, field, rest):
    assert field_for_key(key) == (field, rest)


def test_unplaceable_errors_become_form_errors_not_silence():
    class Small(forms.Form):
        name = forms.CharField()

    form = Small(data={"name": "x"})
    assert form.is_valid()
    add_service_errors(
        form, ValidationError({"name": ["taken"], "queue": ["bad queue"]})
    )
    assert form.errors["name"] == ["taken"]
    assert form.non_field_errors() == ["queue: bad queue"]


def test_free_form_parameters_are_edited_as_json_text_with_help():
    schema, json_keys = widget_schema(registry.get("database_cleanup").get_schema())
    assert json_keys == {"condition"}
    condition = schema["properties"]["condition"]
    assert condition["type"] == "string"
    assert condition["widget"] == "textarea"
    assert "Enter JSON." in condition["help_text"]
    assert (
        schema["properties"]["batch_size"]["help_text"]
        == "Rows deleted per transaction."
    )


def test_parameters_field_round_trips_json_text_values():
    field = ParametersField(template=registry.get("database_cleanup"))
    shown = field.prepare_value({"condition": {"status": "resolved"}, "batch_size": 5})
    assert '"condition": "{\\n  \\"status\\": \\"resolved\\"\\n}"' in shown
    value = field.clean(
        '{"condition": "{\\"status\\": \\"resolved\\"}", "batch_size": 5}'
    )
    assert value == {"condition": {"status": "resolved"}, "batch_size": 5}
    with pytest.raises(ValidationError, match="condition: not valid JSON"):
        field.clean('{"condition": "{status"}')


def test_schedule_initial_picks_the_largest_whole_unit():
    assert schedule_initial({"type": "interval", "every_seconds": 7200}) == {
        "schedule_type": "interval",
        "every": 2,
        "every_unit": "hours",
    }
    assert schedule_initial({"type": "interval", "every_seconds": 90})[
        "every_unit"
    ] == ("seconds")
    assert schedule_initial(
        {"type": "cron", "cron": "0 2 * * *", "timezone": "Europe/Berlin"}
    ) == {"schedule_type": "cron", "cron": "0 2 * * *", "timezone": "Europe/Berlin"}
