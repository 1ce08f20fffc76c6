"""The audit log, read-only: nobody (superusers included) adds, edits or deletes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponseBadRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from audit.models import AuditEntry


class RejectNulQueryMixin:
    """Answer 400 to a changelist query holding a NUL character.

    Shared by all the project's admins; it lives here, in the lowest app, so
    each of them can import it without importing upwards.

    PostgreSQL refuses NUL in text, so such a filter or search value would
    otherwise end as a 500 when the list is counted.
    """

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if any(
            "\x00" in value for values in request.GET.lists() for value in values[1]
        ):
            return HttpResponseBadRequest(
                "The query contains a NUL character.", content_type="text/plain"
            )
        return super().changelist_view(request, extra_context)


class ObjectFilter(admin.SimpleListFilter):
    """One object's entries: ?object=<app_label.model>:<id> (uses audit_target_idx)."""

    title = "object"
    parameter_name = "object"

    def lookups(self, request, model_admin):
        value = request.GET.get(self.parameter_name, "")
        if ":" in value:
            target_type, _, target_id = value.partition(":")
            entry = (
                AuditEntry.objects.filter(target_type=target_type, target_id=target_id)
                .only("target_repr")
                .first()
            )
            return [(value, entry.target_repr if entry else value)]
        return []

    def queryset(self, request, queryset):
        value = self.value() or ""
        if ":" in value:
            target_type, _, target_id = value.partition(":")
            return queryset.filter(target_type=target_type, target_id=target_id)
        return queryset


class ActorFilter(admin.SimpleListFilter):
    """By user (the indexed actor column); "system" for beat, reaper, commands."""

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        users = (
            get_user_model().objects.filter(is_staff=True).order_by("username")[:100]
        )
        return [("system", "system"), *((str(u.pk), u.get_username()) for u in users)]

    def queryset(self, request, queryset):
        if self.value() == "system":
            return queryset.filter(actor__isnull=True)
        if self.value() and self.value().isdigit():
            return queryset.filter(actor_id=int(self.value()))
        return queryset


class TargetTypeFilter(admin.SimpleListFilter):
    """Known object types, listed without a SELECT DISTINCT over the whole log."""

    title = "object type"
    parameter_name = "target_type"

    def lookups(self, request, model_admin):
        labels = ["auth.user"]
        for app_label in ("scheduler_jobs", "executions", "job_templates"):
            labels += [
                m._meta.label_lower for m in apps.get_app_config(app_label).get_models()
            ]
        return [(label, label.split(".")[1]) for label in sorted(labels)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(target_type=self.value())
        return queryset


class SourceFilter(admin.SimpleListFilter):
    title = "source"
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [(s, s) for s in ("admin", "api", "command", "system")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(source=self.value())
        return queryset


def admin_url_for(target_type: str, target_id: str) -> str:
    app_label, _, model = target_type.partition(".")
    if not target_id:
        return ""
    try:
        return reverse(f"admin:{app_label}_{model}_change", args=[target_id])
    except NoReverseMatch:
        return ""


@admin.register(AuditEntry)
class AuditEntryAdmin(RejectNulQueryMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "actor_column",
        "action",
        "target_column",
        "fields_column",
        "source",
        "ip_address",
    )
    list_filter = (ActorFilter, "action", TargetTypeFilter, SourceFilter, ObjectFilter)
    search_fields = ("target_repr", "=target_id", "actor_repr")
    list_select_related = False
    show_full_result_count = False
    date_hierarchy = None
    list_per_page = 100
    actions = None

    class Media:
        css = {"all": ["scheduler_jobs/admin.css"]}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Actor", ordering="actor_repr")
    def actor_column(self, entry: AuditEntry) -> str:
        return entry.actor_repr or "system"

    @admin.display(description="Object")
    def target_column(self, entry: AuditEntry) -> str:
        url = admin_url_for(entry.target_type, entry.target_id)
        text = f"{entry.target_repr or entry.target_id} ({entry.target_type})"
        if url:
            return format_html('<a href="{}">{}</a>', url, text)
        return text

    @admin.display(description="Fields")
    def fields_column(self, entry: AuditEntry) -> str:
        changes = entry.changes or {}
        if entry.action in ("update", "enable", "disable"):
            return ", ".join(sorted(changes))
        return ""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        entry = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if entry is not None:
            extra["entry"] = entry
            extra["diff_rows"] = change_rows(entry)
            extra["target_url"] = admin_url_for(entry.target_type, entry.target_id)
            extra["object_log_url"] = (
                reverse("admin:audit_auditentry_changelist")
                + f"?object={entry.target_type}:{entry.target_id}"
            )
        return super().change_view(request, object_id, form_url, extra)


@dataclass(frozen=True)
class FieldWords:
    """How an app's objects read in an entry: a plain label per dotted key, and
    the mark its masking function leaves where a secret was."""

    label: Callable[[str], str]
    mask: str = ""


# Filled by the app that owns each object type (audit imports no other app):
# {"scheduler_jobs.dynamicjob": FieldWords(...)}.
FIELD_WORDS: dict[str, FieldWords] = {}


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested value as dotted keys ("retry_policy.max_retries": 3)."""
    if isinstance(value, dict) and (value or not prefix):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _is_masked(value: Any, mask: str) -> bool:
    return bool(mask) and isinstance(value, str) and mask in value


def change_rows(entry: AuditEntry) -> list[dict[str, Any]]:
    """The entry's before/after, key by key, each row marked changed or not.

    Nested values are flattened so the one retry setting that changed stands
    out from the two that did not. Secrets were masked when recorded; a secret
    the entry lists under "secrets_changed" reads "changed", never a value.
    """
    changes = dict(entry.changes or {})
    secrets_changed = set(changes.pop("secrets_changed", None) or [])
    before, after = _sides(changes)
    words = FIELD_WORDS.get(entry.target_type, FieldWords(label=_humanize))
    label = words.label
    old, new = _flat(before), _flat(after)
    rows = []
    for key in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
        secret = key in secrets_changed or any(
            _is_masked(value, words.mask) for value in (a, b)
        )
        changed = key in secrets_changed if secret else a != b
        rows.append(
            {
                "field": label(key) if key else "",
                "before": _secret_text(a) if secret else _show_side(a),
                "after": ("changed" if changed else _secret_text(b))
                if secret
                else _show_side(b),
                "changed": changed and a is not _ABSENT and b is not _ABSENT,
            }
        )
    for key in sorted(secrets_changed - set(old) - set(new)):
        rows.append(
            {"field": label(key), "before": "", "after": "changed", "changed": True}
        )
    return rows


_ABSENT = object()


def _sides(changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after) from any shape an entry holds.

    Updates store {field: {"before", "after"}}; creates {"after": {...}};
    deletes {"before": {...}}; runs and cancels their own details (as "after").
    """
    if set(changes) <= {"before", "after"} and any(
        isinstance(changes.get(k), dict) for k in ("before", "after")
    ):
        return changes.get("before") or {}, changes.get("after") or {}
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key, value in changes.items():
        if isinstance(value, dict) and value and set(value) <= {"before", "after"}:
            before[key] = value.get("before")
            after[key] = value.get("after")
        else:
            after[key] = value
    return before, after


def _secret_text(value: Any) -> str:
    if value is _ABSENT:
        return ""
    return "set" if value not in (None, "") else "not set"


def _show_side(value: Any) -> str:
    if value is _ABSENT:
        return ""
    if isinstance(value, list) and not any(isinstance(v, dict | list) for v in value):
        return ", ".join(_show(v) for v in value) or "none"
    return _show(value)


def _humanize(key: str) -> str:
    return key.replace("_", " ").replace(".", ": ").strip().capitalize()


def _show(value) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    if value is None:
        return "—"
    return str(value)
