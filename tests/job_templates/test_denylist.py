"""Tables no job may export or clean, and field names that are never exported."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test.utils import isolate_apps

from job_templates.allowlist import (
    CLEANUP_SETTING,
    EXPORT_SETTING,
    allowed_model,
    denial_reason,
    exportable_fields,
    permitted_labels,
)
from job_templates.conditions import is_sensitive_name
from job_templates.registry import registry
from tests.testapp.models import Ticket

DENIED_EVERYWHERE = [
    "auth.User",
    "auth.Group",
    "auth.Permission",
    "authtoken.Token",
    "authtoken.TokenProxy",
    "sessions.Session",
    "axes.AccessAttempt",
    "axes.AccessAttemptExpiration",
    "axes.AccessFailureLog",
    "axes.AccessLog",
    "admin.LogEntry",
    "contenttypes.ContentType",
]
SETTINGS = [EXPORT_SETTING, CLEANUP_SETTING]


def test_every_axes_model_is_in_the_list_above():
    """A new django-axes model would be denied by app anyway; this keeps the
    parametrised tests below covering all of them."""
    installed = {m._meta.label for m in apps.get_app_config("axes").get_models()}
    assert installed <= set(DENIED_EVERYWHERE)


@pytest.mark.parametrize(
    "name",
    [
        "key",
        "api_key",
        "apiKey",
        "APIKey",
        "secret_key",
        "signing_secret",
        "client_secret",
        "secret",
        "token",
        "api_token",
        "AccessToken",
        "password",
        "password_hint",
        "passwd",
        "pass_word",
        "salt",
        "password_salt",
        "hash",
        "password_hash",
        "otp",
        "otp_code",
        "credentials",
        "aws_credential",
        "private",
        "private_key",
        "privateKey",
        "session_key",
        "authorization",
    ],
)
def test_names_that_may_hold_credentials_are_sensitive(name):
    assert is_sensitive_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "monkey",
        "keyword",
        "keynote",
        "turkey_count",
        "basalt",
        "hashtag",
        "footprint",
        "bypass_window",
        "title",
        "status",
        "description",
        "requester_email",
        "created_at",
        "job_id",
    ],
)
def test_harmless_names_are_not_sensitive(name):
    assert not is_sensitive_name(name)


def test_the_key_of_an_api_token_is_never_exported():
    token_model = apps.get_model("authtoken", "Token")
    assert "key" not in exportable_fields(token_model)
    assert "password" not in exportable_fields(User)


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("label", DENIED_EVERYWHERE)
def test_denied_models_are_refused_even_when_listed(settings, setting, label):
    setattr(settings, setting, [*getattr(settings, setting), label])
    with pytest.raises(ValidationError) as info:
        allowed_model(label, setting=setting)
    message = info.value.message_dict["collection"][0]
    assert "can never be" in message
    assert setting in message


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("label", ["auth.user", "AUTH.User", "auth.USER"])
def test_denial_does_not_depend_on_how_the_label_is_spelt(settings, setting, label):
    setattr(settings, setting, [*getattr(settings, setting), label])
    with pytest.raises(ValidationError, match="can never be"):
        allowed_model(label, setting=setting)
    assert denial_reason(label, setting=setting)


def test_the_audit_log_may_be_exported_but_never_cleaned(settings):
    settings.SCHEDULER_CLEANUP_MODELS = ["audit.AuditEntry"]
    assert allowed_model("audit.AuditEntry", setting=EXPORT_SETTING)
    with pytest.raises(ValidationError, match="append-only"):
        allowed_model("audit.AuditEntry", setting=CLEANUP_SETTING)


def test_the_project_user_model_is_denied_wherever_it_lives(settings):
    assert denial_reason("testapp.Ticket", setting=EXPORT_SETTING) is None
    settings.AUTH_USER_MODEL = "testapp.Ticket"
    assert denial_reason("testapp.Ticket", setting=EXPORT_SETTING)


@isolate_apps("tests.testapp")
def test_a_proxy_of_a_denied_model_in_another_app_is_denied():
    class StaffUser(User):
        class Meta:
            app_label = "testapp"
            proxy = True

    for setting in SETTINGS:
        assert denial_reason(StaffUser, setting=setting)
        assert denial_reason(Ticket, setting=setting) is None


@pytest.mark.parametrize(
    ("template", "setting", "extra"),
    [
        ("data_export", EXPORT_SETTING, {}),
        ("database_cleanup", CLEANUP_SETTING, {"condition": {"id": 1}}),
        ("report_generation", EXPORT_SETTING, {"kind": "model_counts"}),
    ],
)
def test_templates_refuse_and_do_not_offer_denied_models(
    settings, template, setting, extra
):
    listed = [*getattr(settings, setting), "auth.User", "authtoken.Token"]
    setattr(settings, setting, listed)
    with pytest.raises(ValidationError) as info:
        registry.get(template).validate_params({"collection": "auth.User", **extra})
    assert "can never be" in info.value.message_dict["collection"][0]
    choices = registry.get(template).get_schema()["properties"]["collection"]["enum"]
    assert "auth.User" not in choices
    assert "authtoken.Token" not in choices
    assert "testapp.Ticket" in choices


def test_the_allowed_list_in_a_refusal_leaves_denied_models_out(settings):
    settings.SCHEDULER_EXPORT_MODELS = ["testapp.Ticket", "sessions.Session"]
    assert permitted_labels(EXPORT_SETTING) == ["testapp.Ticket"]
    with pytest.raises(ValidationError) as info:
        allowed_model("testapp.TicketComment", setting=EXPORT_SETTING)
    message = info.value.message_dict["collection"][0]
    assert "testapp.Ticket" in message
    assert "sessions.Session" not in message
