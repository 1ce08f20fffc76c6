import pytest
from django.core.exceptions import ValidationError
from jsonschema.exceptions import SchemaError

from job_templates.base import JobTemplate
from job_templates.models import JobTemplate as CatalogueRow
from job_templates.registry import (
    AlreadyRegistered,
    TemplateRegistry,
    UnknownTemplate,
    registry,
)
from job_templates.services import catalogue_sync


def template_class(**attrs) -> type[JobTemplate]:
    body = {
        "type": "sample",
        "name": "Sample",
        "execute": lambda self, params, ctx: {},
        **attrs,
    }
    return type("SampleTemplate", (JobTemplate,), body)


def test_builtin_heartbeat_is_registered():
    heartbeat = registry.get("heartbeat")
    assert heartbeat.name == "Heartbeat"
    assert heartbeat.category == "diagnostics"


def test_unknown_type_raises_a_readable_error():
    with pytest.raises(UnknownTemplate, match="Unknown template type 'nope'"):
        registry.get("nope")


def test_duplicate_type_from_another_class_is_refused_loudly():
    local = TemplateRegistry()
    local.register(template_class())
    local.register(local.get("sample").__class__)  # the same class again is fine
    with pytest.raises(AlreadyRegistered, match="'sample' is already registered"):
        local.register(template_class())


def test_broken_schema_fails_at_registration():
    local = TemplateRegistry()
    with pytest.raises(SchemaError):
        local.register(
            template_class(parameters_schema={"type": "object", "properties": 3})
        )


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"type": ""}, "has no 'type'"),
        ({"risk_level": "extreme"}, "risk_level 'extreme'"),
        ({"category": "misc"}, "category 'misc'"),
        ({"parameters_schema": {"type": "array"}}, "must describe an object"),
    ],
)
def test_bad_identity_fails_at_registration(attrs, message):
    with pytest.raises(TypeError, match=message):
        TemplateRegistry().register(template_class(**attrs))


def test_validate_params_fills_defaults_and_names_each_bad_parameter():
    heartbeat = registry.get("heartbeat")
    assert heartbeat.validate_params({}) == {
        "message": "Scheduler is alive",
        "fail": False,
        "sleep_seconds": 0,
    }
    with pytest.raises(ValidationError) as excinfo:
        heartbeat.validate_params({"fail": "yes", "sleep_seconds": 4000, "x": 1})
    errors = excinfo.value.message_dict
    assert errors["fail"] == ["Must be of type boolean, not 'yes'."]
    assert errors["sleep_seconds"] == ["Must be ≤ 3600 (got 4000)."]
    assert errors["x"][0].startswith("Unknown parameter.")


def test_required_parameter_error_is_keyed_by_the_missing_name():
    local = TemplateRegistry()
    local.register(
        template_class(
            parameters_schema={
                "type": "object",
                "properties": {"to": {"type": "string"}},
                "required": ["to"],
            }
        )
    )
    with pytest.raises(ValidationError) as excinfo:
        local.get("sample").validate_params({})
    assert excinfo.value.message_dict == {"to": ["This parameter is required."]}


@pytest.mark.django_db
def test_catalogue_is_synced_after_migrate_and_marks_vanished_templates():
    row = CatalogueRow.objects.get(type="heartbeat")
    assert row.parameters_schema == registry.get("heartbeat").get_schema()
    assert row.available
    CatalogueRow.objects.create(
        type="gone", name="Gone", resource_usage="low", risk_level="low"
    )
    counts = catalogue_sync()
    assert counts["unavailable"] == 1
    assert not CatalogueRow.objects.get(type="gone").available


def test_templates_are_discovered_from_the_entry_point_group(tmp_path, monkeypatch):
    """A real installed distribution (a dist-info folder on sys.path) adds one."""
    (tmp_path / "acme_templates.py").write_text(
        "from job_templates.base import JobTemplate\n"
        "class PurgeCacheTemplate(JobTemplate):\n"
        "    type = 'acme_purge_cache'\n"
        "    name = 'Purge cache'\n"
        "    def execute(self, params, ctx):\n"
        "        return {'purged': True}\n"
    )
    dist = tmp_path / "acme_templates-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-templates\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[dynamic_scheduler.templates]\npurge = acme_templates:PurgeCacheTemplate\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    local = TemplateRegistry()
    local.load_entry_points()
    assert local.get("acme_purge_cache").execute({}, None) == {"purged": True}
