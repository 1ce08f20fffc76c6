import pytest
from jsonschema import Draft202012Validator

from job_templates.base import CATEGORIES, RESOURCE_USAGES, RISK_LEVELS, JobTemplate
from job_templates.builtin import BUILTIN_TEMPLATES
from job_templates.registry import registry
from job_templates.secrets import secret_paths

MINIMAL = {
    "database_cleanup": {"condition": {"created_at__lt": {"ago": "90d"}}},
    "email_notification": {
        "recipients": ["a@example.com"],
        "subject": "s",
        "body": "b",
    },
    "data_export": {"collection": "testapp.Ticket"},
    "report_generation": {},
    "backup": {},
    "webhook_trigger": {"url": "https://hooks.example.com/x"},
}
EXPECTED = {
    "database_cleanup": ("maintenance", "high", "Remove old data?"),
    "email_notification": ("notifications", "low", "Send messages?"),
    "data_export": ("reports", "medium", "Generate files?"),
    "report_generation": ("reports", "low", "Create reports?"),
    "backup": ("maintenance", "medium", "Backup data?"),
    "webhook_trigger": ("integrations", "medium", "Call external API?"),
}


def test_all_six_templates_and_heartbeat_are_built_in():
    assert len(BUILTIN_TEMPLATES) == 7
    assert set(MINIMAL) | {"heartbeat"} <= set(registry.types())


@pytest.mark.parametrize("template_type", sorted(MINIMAL))
def test_catalogue_fields_and_renderable_schema(template_type):
    template = registry.get(template_type)
    assert (template.category, template.risk_level, template.guidance) == EXPECTED[
        template_type
    ]
    assert template.category in CATEGORIES
    assert template.risk_level in RISK_LEVELS
    assert template.resource_usage in RESOURCE_USAGES
    assert template.icon
    assert template.description
    assert template.estimated_duration
    assert template.supports_dry_run is True
    schema = template.get_schema()
    Draft202012Validator.check_schema(schema)
    for name, sub in schema["properties"].items():
        assert sub.get("title"), f"{template_type}.{name} has no title"
        assert sub.get("type") in (
            "string",
            "integer",
            "number",
            "boolean",
            "array",
            "object",
        )
        if "default" in sub:
            assert not list(Draft202012Validator(sub).iter_errors(sub["default"]))


@pytest.mark.django_db
@pytest.mark.parametrize("template_type", sorted(MINIMAL))
def test_minimal_parameters_validate_and_get_defaults(template_type):
    template = registry.get(template_type)
    cleaned = template.validate_params(MINIMAL[template_type])
    assert set(cleaned) >= set(MINIMAL[template_type])
    for name, sub in template.parameters_schema["properties"].items():
        if "default" in sub:
            assert name in cleaned


def test_secrets_are_marked_in_the_schemas():
    marked = {
        t.type: secret_paths(t.parameters_schema)
        for t in registry
        if secret_paths(t.parameters_schema)
    }
    assert marked == {"webhook_trigger": [("headers", "*"), ("signing_secret",)]}


def test_a_template_naming_secrets_the_old_way_is_refused_at_start_up():
    class OldStyle(JobTemplate):
        type = "old_style"
        name = "Old style"
        secret_parameters = ("token",)

        def execute(self, params, ctx):
            return {}

    with pytest.raises(TypeError, match="writeOnly"):
        registry.register(OldStyle)
    assert "old_style" not in registry


@pytest.mark.django_db
@pytest.mark.parametrize("template_type", sorted(MINIMAL))
def test_wizard_preview_is_a_dry_run_that_changes_nothing(
    template_type, roots, mailoutbox
):
    template = registry.get(template_type)
    preview = template.preview(template.validate_params(MINIMAL[template_type]))
    assert preview["supported"] is True
    assert preview["result"]["dry_run"] is True
    assert preview["logs"]
    assert mailoutbox == []
    assert all(not any(folder.iterdir()) for folder in roots.values())
