"""Three-way merge of an edit made on an older version of a job: no lost update.

Two people open the same job; one saves. Before, the second save either failed
or, saved again, put back every value the first person had changed. Here the
second save is compared field by field with the version it was loaded from
(the base, a `JobVersion` row) and with what is stored now:

* a field the user did not change takes the stored value (someone else's edit
  survives);
* a field only the user changed takes the user's value;
* a field both changed, to different values, is a conflict: nothing is saved,
  and each conflicting field is reported once with both values (secrets only as
  "changed" or "set") for the user to choose.

Groups (retry policy, notifications, parameters, …) merge key by key, so one
person's retry count and another's retry delay both survive. Values are
compared in clear: sealed secrets differ token by token though equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from audit.models import AuditEntry
from job_templates import secrets
from scheduler_jobs.labels import humanize_key, plain_value
from scheduler_jobs.models import DynamicJob, JobVersion
from scheduler_jobs.services.masking import mask_webhook, template_for
from scheduler_jobs.services.validation import job_as_dict, job_clean
from scheduler_jobs.spec import JOB_SPEC

MINE, THEIRS = "mine", "theirs"
# What a merge reports for a secret: whether it changed, never its value.
SECRET_CHANGED, SECRET_SET, SECRET_CLEARED, SECRET_NOT_SET = (
    "changed",
    "set",
    "cleared",
    "not set",
)
# A key absent from a value, and a base nobody can tell.
_MISSING = object()
_UNKNOWN = object()


class VersionConflict(Exception):
    """The job changed since the client read it (optimistic locking)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(
            f"This job was changed by someone else (now version {current_version}). "
            "Reload it and apply your change again."
        )
        self.current_version = current_version


@dataclass(frozen=True)
class FieldConflict:
    """One field both people changed, as it may be shown (secrets masked)."""

    key: str  # dotted: "timeout_seconds", "retry_policy.backoff", "parameters.to"
    label: str
    yours: Any
    theirs: Any
    secret: bool = False

    @property
    def yours_text(self) -> str:
        return _text(self.key, self.yours, secret=self.secret)

    @property
    def theirs_text(self) -> str:
        return _text(self.key, self.theirs, secret=self.secret)

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.key,
            "label": self.label,
            "yours": self.yours,
            "theirs": self.theirs,
        }


class MergeConflict(VersionConflict):
    """Both the user and someone else changed the same fields differently."""

    def __init__(self, current_version: int, conflicts: list[FieldConflict]) -> None:
        super().__init__(current_version)
        labels = ", ".join(conflict.label for conflict in conflicts)
        self.args = (
            f"This job was changed by someone else (now version {current_version}) "
            f"in fields you changed too: {labels}. Nothing was saved; choose for "
            "each which value to keep and send the change again.",
        )
        self.conflicts = conflicts


@dataclass(frozen=True)
class Base:
    """What the user's edit started from: a definition and the enabled state.

    `enabled` is None when it cannot be known (it is state, kept in the audit
    log rather than in versions): then an `enabled` the user sends that differs
    from the stored one is a conflict, never a silent overwrite.
    """

    values: dict[str, Any]
    enabled: bool | None


def base_of(
    job: DynamicJob, version: int, *, enabled: bool | None = None
) -> Base | None:
    """The definition the job had at optimistic-lock `version`, or None if unknown.

    Definitions change only with a new `JobVersion`, which records the lock
    version it was saved at; enabling and disabling bump the lock without a new
    definition. So the base is the newest version saved at or before `version`.
    Versions saved before this record was kept give None: every field the user
    sends that differs from the stored job is then a conflict.
    """
    row = (
        JobVersion.objects.filter(job=job, job_version__lte=version)
        .order_by("-job_version")
        .first()
    )
    if row is None:
        return None
    if enabled is None:
        enabled = _enabled_unchanged_since(job, row)
    return Base(values=dict(row.definition), enabled=enabled)


def _enabled_unchanged_since(job: DynamicJob, row: JobVersion) -> bool | None:
    """The stored `enabled` if nobody enabled or disabled the job since `row`."""
    toggled = AuditEntry.objects.filter(
        Q(action__in=["enable", "disable"]) | Q(changes__has_key="enabled"),
        target_type=DynamicJob._meta.label_lower,
        target_id=str(job.pk),
        created_at__gte=row.created_at,
    ).exists()
    return None if toggled else job.enabled


def job_merge(
    *,
    current: DynamicJob,
    base: Base | None,
    data: dict[str, Any],
    choices: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The change to save: `data` (made on `base`) merged with the stored job.

    `data` holds the fields the user sent (a form sends all, a PATCH some);
    fields not sent take the stored values. `choices` resolve conflicts already
    shown ({"timeout_seconds": "mine", "parameters.to": "theirs"}). Secrets in
    the result stay sealed unless the user typed a new one. Raises
    ValidationError when the user's own values are invalid, and MergeConflict
    listing every field both changed differently.
    """
    theirs = job_as_dict(current)
    mine = _mine_clean(data, base, current)
    merger = _Merger(current, base, choices or {})
    merged = {}
    for option in JOB_SPEC.top():
        name = option.name
        if name not in data:
            continue
        before = _base_value(base, name)
        if option.is_group or (name == "parameters" and merger.same_template(mine)):
            merged[name] = merger.merge_group(
                name, before, mine.get(name), theirs.get(name)
            )
        else:
            merged[name] = merger.merge_value(
                name, before, mine.get(name), theirs.get(name)
            )
    if merger.conflicts:
        raise MergeConflict(current.version, merger.conflicts)
    return merged


def changed_since(base: Base | None, current: DynamicJob) -> list[str]:
    """Labels of the fields others changed after `base` (kept by a merge)."""
    if base is None:
        return []
    stored = job_as_dict(current)
    labels = [
        field_label(name)
        for name, value in base.values.items()
        if name in stored and _clear(value) != _clear(stored[name])
    ]
    if base.enabled is not None and base.enabled != current.enabled:
        labels.append(field_label("enabled"))
    return labels


def _base_value(base: Base | None, name: str) -> Any:
    if base is None:
        return _UNKNOWN
    if name == "enabled":
        return _UNKNOWN if base.enabled is None else base.enabled
    # A field newer than the version has no base value.
    return base.values.get(name, _UNKNOWN)


def _mine_clean(
    data: dict[str, Any], base: Base | None, current: DynamicJob
) -> dict[str, Any]:
    """The user's values cleaned as a save on the base would clean them.

    Masked secrets resolve against the base (what the user saw), and defaults,
    numbers and schedules come out in stored form, so "unchanged" means
    unchanged and not "typed differently".
    """
    if base is None:
        return job_clean(data, instance=current)
    values = job_as_dict(current)
    # A field the spec no longer has is left out: nothing edits it any more.
    values.update({k: v for k, v in base.values.items() if k in values})
    if base.enabled is not None:
        values["enabled"] = base.enabled
    seen = DynamicJob(pk=current.pk, **values)
    return job_clean(data, instance=seen)


class _Merger:
    """Decides each value and collects the conflicts."""

    def __init__(
        self, current: DynamicJob, base: Base | None, choices: dict[str, str]
    ) -> None:
        self.current = current
        self.base = base
        self.choices = choices
        self.conflicts: list[FieldConflict] = []

    def same_template(self, mine: dict[str, Any]) -> bool:
        """Parameters merge key by key only when all three share a template."""
        types = {self.current.template_type, mine.get("template_type")}
        if self.base is not None:
            types.add(self.base.values.get("template_type"))
        return len(types) == 1

    def merge_group(self, name: str, before: Any, mine: Any, theirs: Any) -> Any:
        """A group key by key; keys either side removed stay removed."""
        shapes = (mine, theirs) if before is _UNKNOWN else (mine, theirs, before)
        if not all(isinstance(value, dict) for value in shapes):
            return self.merge_value(name, before, mine, theirs)
        merged = {}
        for key in [*theirs, *(k for k in mine if k not in theirs)]:
            value = self.merge_value(
                f"{name}.{key}",
                _UNKNOWN if before is _UNKNOWN else before.get(key, _MISSING),
                mine.get(key, _MISSING),
                theirs.get(key, _MISSING),
            )
            if value is not _MISSING:
                merged[key] = value
        return merged

    def merge_value(self, key: str, before: Any, mine: Any, theirs: Any) -> Any:
        """One value: the stored one unless only the user changed it."""
        known = before is not _UNKNOWN
        b, m, t = _clear(before), _clear(mine), _clear(theirs)
        if (known and m == b) or m == t:
            return theirs
        if known and t == b:
            return mine
        choice = self.choices.get(key)
        if choice == THEIRS:
            return theirs
        if choice == MINE:
            return mine
        self.conflicts.append(self._conflict(key, before, mine, theirs))
        return theirs

    def _conflict(self, key: str, before: Any, mine: Any, theirs: Any) -> FieldConflict:
        template = template_for(self.current.template_type)
        label = field_label(key, template)
        if _is_secret(key, template):
            b = _clear(before)
            return FieldConflict(
                key=key,
                label=label,
                yours=_secret_word(b, _clear(mine)),
                theirs=_secret_word(b, _clear(theirs)),
                secret=True,
            )
        return FieldConflict(
            key=key,
            label=label,
            yours=None if mine is _MISSING else mine,
            theirs=None if theirs is _MISSING else theirs,
        )


def _clear(value: Any) -> Any:
    """A value with every sealed secret in it opened, for comparison only."""
    if secrets.is_sealed(value):
        try:
            return secrets.unseal_value(value)
        except secrets.SecretKeyError:
            return value
    if isinstance(value, dict):
        return {key: _clear(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clear(item) for item in value]
    return value


def _empty(value: Any) -> bool:
    return value is _MISSING or value in (None, "", {}, [])


def _secret_word(before: Any, value: Any) -> str:
    if before is _UNKNOWN:
        return SECRET_NOT_SET if _empty(value) else SECRET_SET
    if _empty(value):
        return SECRET_CLEARED if not _empty(before) else SECRET_NOT_SET
    return SECRET_SET if _empty(before) else SECRET_CHANGED


def _is_secret(key: str, template: Any) -> bool:
    """Whether a merged value holds a secret (or is a container of secrets)."""
    parts = key.split(".")
    if parts[0] == "parameters":
        schema = template.parameters_schema if template else None
        paths = secrets.secret_paths(schema)
    elif parts[0] in JOB_SPEC and JOB_SPEC[parts[0]].is_group:
        paths = secrets.secret_paths(JOB_SPEC.secret_schema(parts[0]))
    else:
        return False
    inner = parts[1:]
    for path in paths:
        if all(w in ("*", p) for w, p in zip(path, inner, strict=False)):
            return True
    return not inner and bool(paths)


def field_label(key: str, template: Any = None) -> str:
    """A plain label for a dotted field ("Retries", "Parameters: Recipients").

    A parameter is titled as its form field is, from the template's schema.
    """
    if key in JOB_SPEC and (JOB_SPEC[key].label or "." not in key):
        return JOB_SPEC[key].label or humanize_key(key)
    head, _, rest = key.partition(".")
    if head == "parameters" and rest:
        schema = template.parameters_schema if template else {}
        title = ((schema.get("properties") or {}).get(rest) or {}).get("title")
        return f"Parameters: {title or humanize_key(rest)}"
    if rest:
        return f"{field_label(head)}: {humanize_key(rest).replace('.', ': ')}"
    return humanize_key(key)


def _text(key: str, value: Any, *, secret: bool) -> str:
    """A value in words for the admin: choices by label, schedules described."""
    if secret:
        return str(value)
    if key == "schedule" and isinstance(value, dict):
        from scheduler_jobs.schedules import schedule_from_json

        try:
            return schedule_from_json(value).describe()
        except (KeyError, TypeError, ValueError):
            return plain_value(value)
    if key in JOB_SPEC and JOB_SPEC[key].choices is not None:
        labels = dict(JOB_SPEC[key].choices.choices)
        if isinstance(value, list):
            return ", ".join(labels.get(v, v) for v in value) or "none"
        return labels.get(value, plain_value(value))
    if key == "notifications.slack_webhook":
        return mask_webhook(value) or "not set"
    return plain_value(value)
