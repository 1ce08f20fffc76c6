"""The condition language shared by database_cleanup and data_export filters.

A condition is a JSON object of field lookups on one model's concrete fields:

    {"status": "closed", "created_at__lt": {"ago": "30d"}, "priority__in": [1, 2]}

Every key is checked against the model (a concrete, non-secret field; a lookup
from ALLOWED_LOOKUPS) and every value is converted by the field itself, so a
Q object is only ever built from checked (field, lookup, value) triples: a user
dict never reaches `filter(**…)`. Relative times ({"ago": "30d"}) are kept as
written and resolved when the query is built, so a saved job always means
"30 days before this run".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

ALLOWED_LOOKUPS = (
    "exact",
    "iexact",
    "in",
    "gt",
    "gte",
    "lt",
    "lte",
    "isnull",
    "startswith",
    "endswith",
    "contains",
    "icontains",
    "range",
)
TEXT_LOOKUPS = {"iexact", "startswith", "endswith", "contains", "icontains"}
# Lookups that would run a regular expression chosen by the user (ReDoS, and
# behaviour that differs between databases).
REGEX_LOOKUPS = {"regex", "iregex"}
RELATIVE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_RELATIVE_SECONDS = 100 * 365 * 86_400
MAX_IN_ITEMS = 1000
MAX_STRING_CHARS = 10_000
MAX_KEYS = 50
_AGO = re.compile(r"^\s*(\d{1,9})\s*([smhdw])\s*$")
# Field names that look like credentials are never filtered on nor exported.
# Stems are searched for anywhere in the name with its separators removed
# (api_token, AccessToken, client_secret, pass_word): no everyday word holds one.
SENSITIVE_STEMS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "apikey",
    "authkey",
    "accesskey",
    "privatekey",
    "privkey",
    "sessionkey",
    "signingkey",
)
# Words that must stand alone (key, api_key, PrivateKey, password_salt, otp_code):
# inside other words they are harmless (monkey, keyword, basalt, hashtag, footprint).
SENSITIVE_WORDS = frozenset(
    {
        "key",
        "keys",
        "pwd",
        "salt",
        "salted",
        "hash",
        "hashed",
        "otp",
        "totp",
        "hotp",
        "private",
        "authorization",
        "bearer",
        "cookie",
        "cookies",
    }
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z]+")
INT64 = 2**63


def name_words(name: str) -> list[str]:
    """The lower-case words of a snake_case or camelCase name, digits dropped."""
    return _WORD.findall(_CAMEL.sub("_", name).lower())


def is_sensitive_name(name: str) -> bool:
    """True for names that may hold a credential (key, api_token, password_hash).

    Decided by name alone, so it also covers the tables of apps nobody here
    reviewed (authtoken's Token.key, a product's User.otp_secret). It errs on the
    side of hiding: a harmless column caught by it is only left out of exports
    and conditions, while a secret it missed would be written to a file.
    """
    words = name_words(name)
    joined = "".join(words)
    return any(stem in joined for stem in SENSITIVE_STEMS) or any(
        word in SENSITIVE_WORDS for word in words
    )


@dataclass(frozen=True)
class Clause:
    """One checked lookup: the field's real name, the lookup, the JSON value."""

    key: str
    field: models.Field
    lookup: str
    value: Any


def concrete_fields(model: type[models.Model]) -> dict[str, models.Field]:
    """Concrete fields by name and, for foreign keys, also by attname (ticket_id)."""
    fields: dict[str, models.Field] = {}
    for field in model._meta.concrete_fields:
        fields[field.name] = field
        fields[field.attname] = field
    return fields


def check_condition(
    model: type[models.Model],
    condition: Any,
    *,
    param: str = "condition",
    allow_empty: bool = False,
) -> list[Clause]:
    """Check a condition against `model`; raise ValidationError keyed by lookup.

    Error keys are "<param>.<the user's key>", so the message names the key the
    user wrote (e.g. "condition.api_token__exact").
    """
    if not isinstance(condition, Mapping):
        raise ValidationError({param: ["Must be a JSON object of field lookups."]})
    if not condition and not allow_empty:
        raise ValidationError(
            {
                param: [
                    "An empty condition would match every row; give at least one "
                    'field lookup, e.g. {"created_at__lt": {"ago": "30d"}}.'
                ]
            }
        )
    if len(condition) > MAX_KEYS:
        raise ValidationError({param: [f"At most {MAX_KEYS} lookups."]})
    errors: dict[str, list[str]] = {}
    clauses: list[Clause] = []
    fields = concrete_fields(model)
    for key, value in condition.items():
        error_key = f"{param}.{key}"
        try:
            clauses.append(_check_clause(model, fields, key, value))
        except ValidationError as exc:
            errors.setdefault(error_key, []).extend(exc.messages)
    if errors:
        raise ValidationError(errors)
    return clauses


def build_q(
    model: type[models.Model],
    condition: Any,
    *,
    param: str = "condition",
    allow_empty: bool = False,
    now: datetime | None = None,
) -> Q:
    """Check the condition again and build the Q object, resolving relative times.

    Checked again at run time because the model may have changed since the job
    was saved.
    """
    now = now or timezone.now()
    query = Q()
    for clause in check_condition(
        model, condition, param=param, allow_empty=allow_empty
    ):
        value = _resolve(clause, clause.value, now)
        query &= Q(**{f"{clause.field.attname}__{clause.lookup}": value})
    return query


def parse_relative(text: Any) -> timedelta:
    """ "30d" → timedelta(days=30); units s, m, h, d, w."""
    match = _AGO.match(text) if isinstance(text, str) else None
    if not match:
        raise ValidationError(
            'A relative time is a number and a unit (s, m, h, d or w), e.g. "30d".'
        )
    seconds = int(match[1]) * RELATIVE_UNITS[match[2]]
    if seconds > MAX_RELATIVE_SECONDS:
        raise ValidationError("A relative time may go back at most 100 years.")
    return timedelta(seconds=seconds)


def _check_clause(
    model: type[models.Model], fields: dict[str, models.Field], key: Any, value: Any
) -> Clause:
    _check_key(key)
    name, _, lookup = key.partition("__")
    lookup = lookup or "exact"
    field = _clause_field(model, fields, key, name)
    _check_lookup(key, name, field, lookup)
    _check_value(key, field, lookup, value)
    return Clause(key=key, field=field, lookup=lookup, value=value)


def _check_key(key: Any) -> None:
    """Refuse a key that is not plain "field" or "field__lookup" before it is
    split, so no private attribute or odd character reaches the ORM."""
    if not isinstance(key, str) or not key:
        raise ValidationError("A lookup key must be a non-empty string.")
    if key.startswith("_"):
        raise ValidationError(f"{key!r}: keys starting with '_' are not allowed.")
    if len(key) > 200 or not key.isascii() or not key.replace("_", "a").isalnum():
        raise ValidationError(
            f"{key!r} is not a field lookup (letters, digits and '__' only)."
        )


def _clause_field(
    model: type[models.Model], fields: dict[str, models.Field], key: str, name: str
) -> models.Field:
    """The concrete field a key names. A secret-looking one is refused because
    counting the rows that match a guess would reveal it; a relation that is no
    column gets its own message rather than "no field"."""
    field = fields.get(name)
    if field is None:
        try:
            related = model._meta.get_field(name)
        except FieldDoesNotExist:
            related = None
        if related is not None and (related.is_relation or not related.concrete):
            raise ValidationError(
                f"{key!r}: {name!r} is a relation; relation paths are not allowed."
            )
        allowed = sorted({f.name for f in model._meta.concrete_fields})
        raise ValidationError(
            f"{key!r}: {model._meta.label} has no field {name!r}. "
            f"Fields: {', '.join(allowed)}."
        )
    if is_sensitive_name(name):
        raise ValidationError(
            f"{key!r}: {name!r} looks like a secret (password, token, key); "
            "it cannot be used in conditions."
        )
    return field


def _check_lookup(key: str, name: str, field: models.Field, lookup: str) -> None:
    """One allowed lookup that fits the field: no transforms or paths (they would
    reach past the checked field), no regular expressions (a slow pattern can
    hold the database)."""
    if "__" in lookup:
        first = lookup.split("__", 1)[0]
        what = "relation paths" if field.is_relation else "transforms"
        if isinstance(field, models.JSONField):
            what = "JSON key transforms"
        raise ValidationError(
            f"{key!r}: {what} are not allowed ({name}__{first}__…); "
            "use one lookup on one field."
        )
    if lookup in REGEX_LOOKUPS:
        raise ValidationError(f"{key!r}: regular-expression lookups are not allowed.")
    if lookup not in ALLOWED_LOOKUPS:
        if field.is_relation and field.related_model is not None:
            raise ValidationError(
                f"{key!r}: {name!r} is a relation; relation paths are not allowed."
            )
        if isinstance(field, models.JSONField):
            raise ValidationError(
                f"{key!r}: JSON key transforms are not allowed on {name!r}."
            )
        raise ValidationError(
            f"{key!r}: lookup {lookup!r} is not allowed. "
            f"Allowed: {', '.join(ALLOWED_LOOKUPS)}."
        )
    if isinstance(field, models.JSONField) and lookup != "isnull":
        raise ValidationError(
            f"{key!r}: JSON field {name!r} only supports the isnull lookup."
        )
    if lookup in TEXT_LOOKUPS and not _is_text(field):
        raise ValidationError(
            f"{key!r}: lookup {lookup!r} only applies to text fields; "
            f"{name!r} is a {field.get_internal_type()}."
        )


def _is_text(field: models.Field) -> bool:
    return isinstance(field, models.CharField | models.TextField) and not field.choices


def _check_value(key: str, field: models.Field, lookup: str, value: Any) -> None:
    if lookup == "isnull":
        if not isinstance(value, bool):
            raise ValidationError(f"{key!r}: isnull takes true or false.")
        return
    if lookup == "in":
        if not isinstance(value, list) or not value:
            raise ValidationError(f"{key!r}: 'in' takes a non-empty list of values.")
        if len(value) > MAX_IN_ITEMS:
            raise ValidationError(f"{key!r}: 'in' takes at most {MAX_IN_ITEMS} values.")
        for item in value:
            _convert(key, field, item, allow_relative=False)
        return
    if lookup == "range":
        if not isinstance(value, list) or len(value) != 2:
            raise ValidationError(f"{key!r}: 'range' takes a list of two values.")
        for item in value:
            if item is None:
                raise ValidationError(f"{key!r}: 'range' bounds cannot be null.")
            _convert(key, field, item, allow_relative=True)
        return
    if value is None:
        if lookup == "exact":
            return
        raise ValidationError(f"{key!r}: null is only allowed with exact or isnull.")
    if lookup in TEXT_LOOKUPS and not isinstance(value, str):
        raise ValidationError(f"{key!r}: {lookup} takes a string.")
    _convert(key, field, value, allow_relative=lookup in ("gt", "gte", "lt", "lte"))


def _target(field: models.Field) -> models.Field:
    return field.target_field if field.is_relation else field


def _convert(key: str, field: models.Field, value: Any, *, allow_relative: bool) -> Any:
    """The value as the field understands it; ValidationError for anything odd."""
    target = _target(field)
    is_time = isinstance(target, models.DateField | models.DateTimeField)
    if isinstance(value, Mapping):
        if set(value) == {"ago"} and is_time and allow_relative:
            try:
                parse_relative(value["ago"])
            except ValidationError as exc:
                raise ValidationError(f"{key!r}: {exc.messages[0]}") from None
            return value
        if set(value) == {"ago"}:
            raise ValidationError(
                f"{key!r}: {{'ago': …}} needs a date or time field and a comparison "
                "lookup (gt, gte, lt, lte, range)."
            )
        raise ValidationError(f"{key!r}: values must be strings, numbers or booleans.")
    if isinstance(value, list):
        raise ValidationError(f"{key!r}: a list is only allowed with 'in' or 'range'.")
    if not isinstance(value, str | int | float | bool):
        raise ValidationError(f"{key!r}: values must be strings, numbers or booleans.")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{key!r}: numbers must be finite.")
    if isinstance(value, str) and (len(value) > MAX_STRING_CHARS or "\x00" in value):
        raise ValidationError(
            f"{key!r}: strings must be under {MAX_STRING_CHARS} characters, "
            "without NUL."
        )
    if isinstance(value, bool) and not isinstance(target, models.BooleanField):
        raise ValidationError(f"{key!r}: true/false only applies to boolean fields.")
    try:
        converted = target.to_python(value)
    except ValidationError as exc:
        raise ValidationError(f"{key!r}: {' '.join(exc.messages)}") from None
    except (TypeError, ValueError, OverflowError, ArithmeticError):
        raise ValidationError(f"{key!r}: {value!r} is not a valid value.") from None
    is_int = isinstance(converted, int) and not isinstance(converted, bool)
    if is_int and not -INT64 <= converted < INT64:
        raise ValidationError(f"{key!r}: {value!r} is out of range.")
    if isinstance(converted, float) and not math.isfinite(converted):
        raise ValidationError(f"{key!r}: numbers must be finite.")
    if is_time and isinstance(converted, date) and converted.year < 2:
        raise ValidationError(f"{key!r}: dates before year 2 are not supported.")
    return converted


def _resolve(clause: Clause, value: Any, now: datetime) -> Any:
    if clause.lookup == "range":
        return [_resolve_one(clause, item, now) for item in value]
    if clause.lookup == "in":
        return [_resolve_one(clause, item, now) for item in value]
    if clause.lookup == "isnull" or value is None:
        return value
    return _resolve_one(clause, value, now)


def _resolve_one(clause: Clause, value: Any, now: datetime) -> Any:
    target = _target(clause.field)
    if isinstance(value, Mapping):
        moment = now - parse_relative(value["ago"])
        if isinstance(target, models.DateTimeField):
            return moment
        return timezone.localdate(moment)
    converted = target.to_python(value)
    if (
        isinstance(target, models.DateTimeField)
        and isinstance(converted, datetime)
        and timezone.is_naive(converted)
    ):
        # A time written without an offset means the project's time zone (UTC).
        converted = timezone.make_aware(converted, timezone.get_default_timezone())
    return converted
