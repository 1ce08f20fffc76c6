"""Secret values: marked in a schema, sealed at rest, masked whenever shown.

A schema marks a secret with JSON Schema's own ``writeOnly: true``: on a
property (its value is secret) or on an object's ``additionalProperties``
(every value of that object is secret, its keys are not: request headers).

Secrets are stored sealed with Fernet under ``SCHEDULER_SECRETS_KEYS`` (a
MultiFernet: the first key seals, every key unseals), so a database dump, an
execution's parameter snapshot or a backup of the project's own tables carries
no usable secret. They are unsealed in the worker right before a run, and in the
job service when an edit must be checked against the stored value. Everything a
person or a file sees goes through ``mask``: a set secret shows as SECRET_MASK,
and sending the mask back means "keep the stored value".
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError

SECRET_MASK = "••••••••"  # noqa: S105 - a mask, not a secret
SEALED_PREFIX = "sealed:v1:"

# A path into parameters; "*" stands for every key of an object.
Path = tuple[str, ...]


class SecretKeyError(ImproperlyConfigured):
    """A stored secret cannot be unsealed with the configured keys."""


def secret_paths(schema: dict[str, Any] | None) -> list[Path]:
    """Where a schema marks secrets (``writeOnly``), as paths into an instance."""
    paths: list[Path] = []

    def walk(sub: Any, prefix: Path) -> None:
        if not isinstance(sub, dict):
            return
        for name, child in (sub.get("properties") or {}).items():
            if isinstance(child, dict) and child.get("writeOnly"):
                paths.append((*prefix, name))
            else:
                walk(child, (*prefix, name))
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict) and extra.get("writeOnly"):
            paths.append((*prefix, "*"))

    walk(schema, ())
    return paths


def _locations(value: Any, path: Path, done: Path = ()) -> Iterator[tuple[Any, Path]]:
    """(container, concrete path) for each value present at `path`."""
    if not isinstance(value, dict) or not path:
        return
    head, rest = path[0], path[1:]
    keys = list(value) if head == "*" else [head] if head in value else []
    for key in keys:
        if rest:
            yield from _locations(value[key], rest, (*done, key))
        else:
            yield value, (*done, key)


def _transform(
    schema: dict[str, Any] | None,
    params: dict[str, Any] | None,
    change: Callable[[Any, Path], Any],
) -> dict[str, Any]:
    out = copy.deepcopy(params) if isinstance(params, dict) else {}
    for path in secret_paths(schema):
        for container, concrete in list(_locations(out, path)):
            container[concrete[-1]] = change(container[concrete[-1]], concrete)
    return out


def dotted(path: Path) -> str:
    return ".".join(path)


# --- sealing -------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "SCHEDULER_SECRETS_KEYS is empty: stored secrets cannot be encrypted."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "SCHEDULER_SECRETS_KEYS must hold Fernet keys (32 url-safe base64 "
            "bytes each; make one with `manage.py rotate_secrets --new-key`)."
        ) from exc


def cipher() -> MultiFernet:
    return _cipher(tuple(getattr(settings, "SCHEDULER_SECRETS_KEYS", ()) or ()))


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def seal_value(value: Any) -> Any:
    """A sealed copy of a clear string; empty and sealed values stay as they are."""
    if not isinstance(value, str) or not value or is_sealed(value):
        return value
    return SEALED_PREFIX + cipher().encrypt(value.encode()).decode()


def unseal_value(value: Any) -> Any:
    if not is_sealed(value):
        return value
    try:
        return cipher().decrypt(value[len(SEALED_PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise SecretKeyError(
            "A stored secret cannot be decrypted with SCHEDULER_SECRETS_KEYS "
            "(was the key that sealed it removed?)."
        ) from exc


def rotate_value(value: Any) -> Any:
    """Sealed under the first key: unchanged if it already is, re-sealed if not."""
    if not is_sealed(value):
        return seal_value(value)
    token = value[len(SEALED_PREFIX) :].encode()
    keys = tuple(getattr(settings, "SCHEDULER_SECRETS_KEYS", ()) or ())
    try:
        _cipher(keys[:1]).decrypt(token)
        return value
    except InvalidToken:
        pass
    try:
        return SEALED_PREFIX + cipher().rotate(token).decode()
    except InvalidToken as exc:
        raise SecretKeyError(
            "A stored secret cannot be decrypted with SCHEDULER_SECRETS_KEYS "
            "(was the key that sealed it removed?)."
        ) from exc


def seal(
    schema: dict[str, Any] | None,
    params: dict[str, Any],
    *,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Clear secrets sealed; one equal to its `previous` value keeps that token.

    Fernet tokens differ each time, so reusing the stored token is what lets a
    save that changes nothing be seen as unchanged (no new version, no audit).
    """

    def change(value: Any, path: Path) -> Any:
        before = _value_at(previous or {}, path)
        if is_sealed(before) and unseal_value(before) == value:
            return before
        return seal_value(value)

    return _transform(schema, params, change)


def unseal(schema: dict[str, Any] | None, params: dict[str, Any]) -> dict[str, Any]:
    return _transform(schema, params, lambda value, _: unseal_value(value))


def rotate(schema: dict[str, Any] | None, params: dict[str, Any]) -> dict[str, Any]:
    return _transform(schema, params, lambda value, _: rotate_value(value))


# --- showing -------------------------------------------------------------------


def _masked(value: Any) -> Any:
    return SECRET_MASK if value not in (None, "") else value


def mask(schema: dict[str, Any] | None, params: dict[str, Any]) -> dict[str, Any]:
    """What may be shown: each set secret replaced by SECRET_MASK.

    A sealed value found outside the marked places (a template whose schema
    changed, a template no longer installed) is masked too.
    """
    return _mask_stray(_transform(schema, params, lambda value, _: _masked(value)))


def _mask_stray(value: Any) -> Any:
    if is_sealed(value):
        return SECRET_MASK
    if isinstance(value, dict):
        return {key: _mask_stray(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_stray(item) for item in value]
    return value


def secret_state(
    schema: dict[str, Any] | None, params: dict[str, Any]
) -> dict[str, bool]:
    """{"signing_secret": True, "headers.Authorization": True, …}: set or not."""
    state: dict[str, bool] = {}
    for path in secret_paths(schema):
        if "*" not in path:
            state[dotted(path)] = False
        for container, concrete in _locations(params or {}, path):
            state[dotted(concrete)] = container[concrete[-1]] not in (None, "")
    return state


def changed_secrets(
    schema: dict[str, Any] | None,
    before: dict[str, Any],
    after: dict[str, Any],
) -> list[str]:
    """Dotted paths of the secrets that differ, compared in clear; never values."""
    old = {
        dotted(p): unseal_value(c[p[-1]])
        for path in secret_paths(schema)
        for c, p in _locations(before or {}, path)
    }
    new = {
        dotted(p): unseal_value(c[p[-1]])
        for path in secret_paths(schema)
        for c, p in _locations(after or {}, path)
    }
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


# --- writing -------------------------------------------------------------------


def origin(url: Any) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL: where its secrets would be sent."""
    if not isinstance(url, str) or not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port)


def merge(
    schema: dict[str, Any] | None,
    incoming: dict[str, Any],
    stored: dict[str, Any],
    *,
    destination: str | None = None,
) -> dict[str, Any]:
    """Incoming parameters with kept secrets filled in, in clear, ready to validate.

    At a secret's place, SECRET_MASK (or a sealed value, as a copied job holds)
    means "keep what is stored"; anything else replaces it, and "" clears it.
    When `destination` names the parameter holding the URL the secrets go to,
    and the edit moves that URL to another origin (scheme, host, port), a kept
    secret is refused: it would be sent to a server it was never meant for.
    Raises ValidationError keyed by the secret's dotted path.
    """
    if not isinstance(incoming, dict):
        return incoming
    stored = stored if isinstance(stored, dict) else {}
    moved = bool(
        destination
        and destination in stored
        and origin(incoming.get(destination, stored.get(destination)))
        != origin(stored.get(destination))
    )
    errors: dict[str, list[str]] = {}

    def keep(value: Any, path: Path) -> Any:
        kept = value == SECRET_MASK or is_sealed(value)
        if not kept:
            return value
        if moved:
            errors[dotted(path)] = [
                f"The {destination} now points to another server; enter this "
                "secret again (or clear it) so the stored one is not sent there."
            ]
            return value
        if is_sealed(value):
            return unseal_value(value)
        current = _value_at(stored, path)
        if current in (None, ""):
            errors[dotted(path)] = [
                f"The value is masked ({SECRET_MASK}) but no secret is stored here "
                "to keep; enter the real value or leave it empty."
            ]
            return value
        return unseal_value(current)

    merged = _transform(schema, incoming, keep)
    if errors:
        raise ValidationError(errors)
    return merged


def _value_at(params: dict[str, Any], path: Path) -> Any:
    value: Any = params
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value
