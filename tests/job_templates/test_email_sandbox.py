"""Email templates are user input rendered by workers and by the wizard's preview.

Each hostile input must be refused when saved, or stopped at a cap within
seconds when run, with an error that names the part and the cap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_string, policy

import pytest
from django.core.exceptions import ValidationError
from django.template import Context
from django.test import Client
from django.utils import timezone

from job_templates.base import TemplateError
from job_templates.builtin.email_notification import compile_template
from job_templates.registry import registry
from job_templates.sandbox import (
    LimitExceeded,
    Limits,
    RenderBudget,
    SandboxEngine,
)
from tests.admin.conftest import (
    OPTIONS_DEFAULT,
    SCHEDULE_DAILY,
    WIZARD,
    errors_of,
    wizard_post,
)
from tests.factories import JobExecutionFactory
from tests.job_templates.conftest import run

pytestmark = pytest.mark.django_db

BASE = {"recipients": ["ops@example.com"], "subject": "Hello", "body": "Hi"}
QUICK = 3.0  # seconds; every cap must answer well inside this
HUNDRED = '"' + "x" * 100 + '"|make_list'
# A million iterations if nothing stops them.
NESTED_LOOPS = (
    f"{{% for a in {HUNDRED} %}}{{% for b in {HUNDRED} %}}"
    f"{{% for c in {HUNDRED} %}}{{{{ c }}}}{{% endfor %}}{{% endfor %}}{{% endfor %}}"
)
LEGIT_DIGEST = (
    "Digest for {{ job.name|title }} ({{ now|date:'Y-m-d' }}), last "
    "{{ window_hours }} hour{{ window_hours|pluralize }}:\n"
    "{% for status, n in digest.by_status.items %}"
    "- {{ status|upper|ljust:12 }} {{ n }}\n"
    "{% empty %}No runs.\n{% endfor %}"
    "Failures: {{ digest.failed|yesno:'yes,no' }}; "
    "{{ digest.total|default:0 }} in all, "
    "{{ digest.completed|floatformat:0 }} completed. "
    "{{ job.name|lower|truncatechars:20 }} {{ digest.by_status|length }} "
    "{{ digest.by_status.keys|join:', ' }}"
)


def errors_for(params: dict) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as info:
        registry.get("email_notification").validate_params({**BASE, **params})
    return info.value.message_dict


@contextmanager
def quick() -> Iterator[None]:
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    assert elapsed < QUICK, f"took {elapsed:.2f} s"


# --- the three reported inputs ---------------------------------------------------


def test_huge_ljust_width_is_refused_on_the_body_when_saved():
    with quick():
        errors = errors_for({"body": '{{ job.name|ljust:"100000000" }}'})
    assert errors["body"] == [
        "The filter 'ljust' was given a width of 100000000; the width cap is 1000."
    ]


def test_lorem_is_refused_on_the_body_when_saved():
    with quick():
        errors = errors_for({"body": "{% lorem 2000000 w %}"})
    assert errors["body"] == ["The tag 'lorem' is not allowed in email templates."]


def test_nested_loops_are_refused_at_the_loop_cap_when_saved():
    with quick():
        errors = errors_for({"html_body": NESTED_LOOPS})
    [message] = errors["html_body"]
    assert message.startswith("Stopped at the loop cap: more than 10000")
    assert "trial render" in message


# --- the same inputs stored before the rules existed: the run fails cleanly ------


@pytest.mark.parametrize(
    ("part", "source", "cap"),
    [
        ("body", '{{ job.name|ljust:"100000000" }}', "width cap"),
        ("body", "{% lorem 2000000 w %}", "not allowed"),
        ("html_body", NESTED_LOOPS, "loop cap"),
        (
            "subject",
            '{% with w="100000000" %}{{ job.name|ljust:w }}{% endwith %}',
            "width cap",
        ),
    ],
)
def test_stored_hostile_template_fails_the_run_quickly_naming_part_and_cap(
    smtp, make_ctx, part, source, cap
):
    template = registry.get("email_notification")
    params = {**template.validate_params(BASE), part: source}
    ctx, _ = make_ctx()
    with quick(), pytest.raises(TemplateError) as info:
        template.execute(params, ctx)
    assert str(info.value).startswith(f"{part}: ")
    assert cap in str(info.value)
    assert smtp.messages == []


# --- the other caps ----------------------------------------------------------------


def test_width_from_a_variable_is_caught_by_the_trial_render():
    with quick():
        errors = errors_for(
            {"body": '{% with w="100000000" %}{{ job.name|rjust:w }}{% endwith %}'}
        )
    assert "width cap is 1000" in errors["body"][0]


def test_output_cap_stops_a_loop_that_repeats_a_long_value():
    body = (
        '{% with line="' + "y" * 900 + '" %}'
        '{% for a in "' + "x" * 5000 + '" %}{{ line }}{% endfor %}{% endwith %}'
    )
    with quick():
        errors = errors_for({"body": body})
    assert errors["body"][0].startswith("Stopped at the output cap: more than 200000")


def test_doubling_a_value_stops_at_the_output_cap():
    body = '{% with a="' + "x" * 1000 + '" %}'
    name = "a"
    for level in range(10):
        body += f"{{% with v{level}={name}|add:{name} %}}"
        name = f"v{level}"
    body += "{{ " + name + "|length }}" + "{% endwith %}" * 11
    with quick():
        errors = errors_for({"body": body})
    assert "the filter 'add' made a value of" in errors["body"][0]


def test_join_is_stopped_before_it_builds_its_value():
    body = (
        '{% with sep="' + "s" * 1000 + '" %}'
        '{{ "' + "x" * 1000 + '"|make_list|join:sep|length }}{% endwith %}'
    )
    with quick():
        errors = errors_for({"body": body})
    assert "the filter 'join' would make a value of" in errors["body"][0]


def test_time_cap_stops_a_slow_render():
    engine = SandboxEngine(label="email templates", autoescape=False)
    slow = engine.from_string(
        '{% with f="' + "Y" * 20000 + '" %}{% for a in "' + "x" * 5000 + '" %}'
        "{{ now|date:f|length }}{% endfor %}{% endwith %}"
    )
    budget = RenderBudget(Limits(seconds=0.3))
    with quick(), pytest.raises(LimitExceeded, match="time cap"):
        budget.render(slow, {"now": timezone.now()})


def test_time_cap_refuses_a_slow_template_when_saved():
    body = (
        '{% with f="' + "Y" * 20000 + '" %}{% for a in "' + "x" * 5000 + '" %}'
        "{{ now|date:f|length }}{% endfor %}{% endwith %}"
    )
    with quick():
        errors = errors_for({"body": body})
    assert errors["body"][0].startswith("Stopped at the time cap")


def test_loop_iterations_count_across_the_parts_of_one_email():
    loop = '{% for a in "' + "x" * 6000 + '" %}{% endfor %}'
    errors = errors_for({"body": loop, "html_body": loop})
    assert "loop cap" in errors["html_body"][0]
    assert "body" not in errors


def test_deep_nesting_is_refused_not_a_server_error():
    errors = errors_for({"body": "{% if 1 %}" * 3000 + "{% endif %}" * 3000})
    assert errors["body"] == ["The template is nested too deeply."]


def test_compiled_template_rendered_directly_is_still_capped():
    template = compile_template(NESTED_LOOPS, key="body")
    with quick(), pytest.raises(LimitExceeded, match="loop cap"):
        template.render(Context({}))


# --- the allowlist -------------------------------------------------------------------


def refused(kind: str, name: str) -> str:
    return f"The {kind} '{name}' is not allowed in email templates."


def too_wide(name: str, width: int) -> str:
    return f"The filter '{name}' was given a width of {width}; the width cap is 1000."


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% load static %}", refused("tag", "load")),
        ("{% include 'x.html' %}", refused("tag", "include")),
        ("{% extends 'x.html' %}", refused("tag", "extends")),
        ("{% debug %}", refused("tag", "debug")),
        ("{% widthratio 1 1 9 %}", refused("tag", "widthratio")),
        ("{% url 'admin:index' %}", refused("tag", "url")),
        ("{{ job.name|urlize }}", refused("filter", "urlize")),
        ("{{ job|pprint }}", refused("filter", "pprint")),
        ('{{ job.name|stringformat:"99999s" }}', too_wide("stringformat", 99999)),
        ('{{ digest.total|floatformat:"5000000" }}', too_wide("floatformat", 5000000)),
        ('{% filter center:"5000" %}x{% endfilter %}', too_wide("center", 5000)),
    ],
)
def test_tags_and_filters_outside_the_allowlist_are_refused_by_name(source, message):
    assert errors_for({"body": source})["body"] == [message]


def test_a_literal_width_over_the_cap_is_refused_in_a_branch_never_taken():
    body = '{% if digest.total > 1000000 %}{{ job.name|center:"50000" }}{% endif %}'
    assert "width cap" in errors_for({"body": body})["body"][0]


def test_syntax_errors_keep_their_django_message():
    [message] = errors_for({"body": "{% for x in y %}{% endif %}"})["body"]
    assert message.startswith("Template error: Invalid block tag on line 1: 'endif'")


# --- legitimate templates -------------------------------------------------------------


def parse(message):
    return message_from_string(message["data"], policy=policy.default)


def test_a_digest_with_a_loop_and_common_filters_still_renders(smtp, make_ctx):
    JobExecutionFactory.create_batch(3, status="completed")
    JobExecutionFactory(status="failed")
    ctx, _ = make_ctx(job_name="nightly digest")
    with quick():
        result = run(
            "email_notification",
            {
                **BASE,
                "subject": "{{ job.name|title }}: {{ digest.failed }} failed",
                "body": LEGIT_DIGEST,
                "html_body": (
                    "<ul>{% for status, n in counts.items %}"
                    "<li>{{ status }}: {{ n }}</li>{% endfor %}</ul>"
                ),
            },
            ctx,
        )
    assert result["subject"] == "Nightly Digest: 1 failed"
    message = parse(smtp.messages[0])
    body = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    today = f"{timezone.localdate():%Y-%m-%d}"
    assert body.startswith(f"Digest for Nightly Digest ({today}), last 24 hours:\n")
    assert "- COMPLETED    3\n" in body
    assert "- FAILED       1\n" in body
    assert "Failures: yes; 4 in all, 3 completed. nightly digest 2" in body
    html = message.get_body(("html",)).get_content()
    assert "<li>completed: 3</li>" in html


def test_plain_text_parts_are_not_html_escaped(smtp, make_ctx):
    ctx, _ = make_ctx(job_name="R&D <ops>")
    run(
        "email_notification",
        {
            **BASE,
            "subject": "Report for {{ job.name }}",
            "body": "{{ job.name }}",
            "html_body": "<b>{{ job.name }}</b>",
        },
        ctx,
    )
    message = parse(smtp.messages[0])
    assert message["Subject"] == "Report for R&D <ops>"
    assert message.get_body(("plain",)).get_content().strip() == "R&D <ops>"
    html = message.get_body(("html",)).get_content()
    assert "<b>R&amp;D &lt;ops&gt;</b>" in html


# --- the wizard's preview -------------------------------------------------------------


def test_wizard_review_shows_the_cap_error_instead_of_hanging(superuser):
    # Passes the trial render (no exhausted runs in the sample values) and
    # explodes only on real data, so the preview itself must be capped.
    JobExecutionFactory(status="exhausted")
    client = Client()
    client.force_login(superuser)
    assert client.get(WIZARD, follow=True).status_code == 200
    wizard_post(client, "template", {"template_type": "email_notification"})
    params = {
        "recipients": ["ops@example.com"],
        "subject": "Digest",
        "body": "{% if counts.exhausted %}" + NESTED_LOOPS + "{% endif %}",
    }
    response = wizard_post(
        client,
        "parameters",
        {"name": "Digest", "description": "", "parameters": json.dumps(params)},
    )
    assert errors_of(response, "id_parameters-parameters") == ""
    wizard_post(client, "schedule", SCHEDULE_DAILY)
    started = time.monotonic()
    response = wizard_post(client, "options", OPTIONS_DEFAULT)
    elapsed = time.monotonic() - started
    html = response.content.decode()
    assert elapsed < QUICK, f"took {elapsed:.2f} s"
    assert "The preview failed:" in html
    assert "body: Stopped at the loop cap: more than 10000" in html
