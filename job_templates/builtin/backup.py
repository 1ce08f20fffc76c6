from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any

from django.apps import apps
from django.core import serializers
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, models, router
from django.utils import timezone

from job_templates.base import JobTemplate, TemplateError
from job_templates.context import ExecutionContext
from job_templates.files import (
    HashingWriter,
    folder_storage,
    save_to_storage,
    spooled_output,
)

DEFAULT_EXCLUDE = ["sessions", "contenttypes"]
METHODS = ("django_json", "pg_dump")
CHUNK_ROWS = 2000
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")


def backup_name_pattern(prefix: str) -> re.Pattern[str]:
    """Names this template writes (and only those are ever rotated away)."""
    return re.compile(
        rf"^{re.escape(prefix)}-\d{{8}}T\d{{6}}Z(_[A-Za-z0-9]{{7}})?\.(jsonl\.gz|dump)$"
    )


def backup_storage():
    # Backups hold every row, password hashes included: owner-only permissions.
    return folder_storage(
        "backups", file_permissions_mode=0o600, directory_permissions_mode=0o700
    )


class BackupTemplate(JobTemplate):
    """Backs up the project's data to a timestamped, verified file, and rotates.

    django_json streams every selected model through Django's serializers into
    gzip-compressed JSON Lines (one object per line), so neither writing,
    verifying nor restoring (`manage.py loaddata`) holds the whole data set in
    memory. pg_dump writes PostgreSQL's custom format, for large databases.
    """

    type = "backup"
    name = "Backup"
    description = (
        "Writes the project's data (all apps except sessions and content types by "
        "default) to a gzip JSON Lines file, or a pg_dump archive on PostgreSQL, "
        "verifies it and keeps the last N backups."
    )
    category = "maintenance"
    icon = "💾"
    risk_level = "medium"
    resource_usage = "high"
    estimated_duration = "minutes"
    guidance = "Backup data?"
    supports_dry_run = True
    parameters_schema = {
        "type": "object",
        "properties": {
            "method": {
                "type": "string",
                "title": "Method",
                "description": (
                    "django_json: Django serializers, any database, restore with "
                    "`manage.py loaddata <file>`. pg_dump: PostgreSQL only, restore "
                    "with pg_restore."
                ),
                "enum": list(METHODS),
                "default": "django_json",
            },
            "apps": {
                "type": "array",
                "title": "Apps",
                "description": (
                    "App labels to include (e.g. auth, scheduler_jobs). Empty: all."
                ),
                "items": {"type": "string", "maxLength": 100},
                "default": [],
            },
            "models": {
                "type": "array",
                "title": "Models",
                "description": (
                    "Model labels to include (e.g. auth.User), added to the apps."
                ),
                "items": {"type": "string", "maxLength": 200},
                "default": [],
            },
            "exclude": {
                "type": "array",
                "title": "Exclude",
                "description": "App or model labels to leave out.",
                "items": {"type": "string", "maxLength": 200},
                "default": list(DEFAULT_EXCLUDE),
            },
            "keep_last": {
                "type": "integer",
                "title": "Keep last",
                "description": (
                    "How many backups with this prefix to keep; older ones are "
                    "deleted. 0 keeps every backup (no rotation)."
                ),
                "default": 7,
                "minimum": 0,
                "maximum": 1000,
            },
            "prefix": {
                "type": "string",
                "title": "File name prefix",
                "description": "Lower-case letters, digits, - and _.",
                "default": "backup",
                "maxLength": 41,
            },
        },
        "additionalProperties": False,
    }

    def high_risk_reason(self, params: dict[str, Any]) -> str | None:
        if params.get("keep_last"):
            return "its rotation deletes older backups"
        return super().high_risk_reason(params)

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        if not _PREFIX.match(params["prefix"]):
            errors["prefix"] = ["Use lower-case letters, digits, - and _ (max 41)."]
        for key in ("apps", "models", "exclude"):
            for index, label in enumerate(params[key]):
                problem = _label_problem(label, models_only=key == "models")
                if problem:
                    errors[f"{key}.{index}"] = [problem]
        if params["method"] == "pg_dump":
            problem = pg_dump_problem()
            if problem:
                errors["method"] = [problem]
            elif (
                params["apps"]
                or params["models"]
                or params["exclude"] != DEFAULT_EXCLUDE
            ):
                errors["method"] = [
                    "pg_dump backs up the whole database; leave apps, models and "
                    "exclude at their defaults."
                ]
        if errors:
            raise ValidationError(errors)
        return params

    def execute(self, params: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
        storage = backup_storage()
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        if params["method"] == "pg_dump":
            problem = pg_dump_problem()
            if problem:
                raise TemplateError(f"method: {problem}")
            name = f"{params['prefix']}-{stamp}.dump"
            if ctx.dry_run:
                ctx.logger.info("Dry run: would run pg_dump into %s", name)
                return {
                    "dry_run": True,
                    "path": name,
                    **self._rotation(params, storage, ctx),
                }
            result = self._pg_dump(name, storage, ctx)
        else:
            selected = select_models(params)
            name = f"{params['prefix']}-{stamp}.jsonl.gz"
            if ctx.dry_run:
                counts = {m._meta.label: m._base_manager.count() for m in selected}
                ctx.logger.info(
                    "Dry run: would back up %s objects from %s models into %s",
                    sum(counts.values()),
                    len(counts),
                    name,
                )
                return {
                    "dry_run": True,
                    "path": name,
                    "objects": sum(counts.values()),
                    "models": counts,
                    **self._rotation(params, storage, ctx),
                }
            result = self._django_json(name, selected, storage, ctx)
        result.update(self._rotation(params, storage, ctx))
        return result

    def _django_json(
        self,
        name: str,
        selected: list[type[models.Model]],
        storage,
        ctx: ExecutionContext,
    ) -> dict[str, Any]:
        counts: Counter[str] = Counter()

        def objects() -> Iterator[models.Model]:
            for model in selected:
                ctx.logger.info("Backing up %s", model._meta.label)
                queryset = model._base_manager.using(
                    router.db_for_read(model)
                ).order_by(model._meta.pk.name)
                for obj in queryset.iterator(chunk_size=CHUNK_ROWS):
                    counts[model._meta.label] += 1
                    yield obj

        with spooled_output() as (tmp, writer):
            with gzip.GzipFile(fileobj=writer, mode="wb", mtime=0) as gz:
                text = io.TextIOWrapper(gz, encoding="utf-8", newline="\n")
                serializers.serialize(
                    "jsonl",
                    objects(),
                    stream=text,
                    use_natural_foreign_keys=True,
                    use_natural_primary_keys=True,
                )
                text.flush()
                text.detach()
            written = save_to_storage(storage, name, tmp, writer)
        objects_written = sum(counts.values())
        verified = verify_jsonl(storage, written.name)
        if verified != counts:
            raise TemplateError(
                f"Verification failed: wrote {dict(counts)} "
                f"but read back {dict(verified)}."
            )
        path = _display_path(storage, written.name)
        ctx.logger.info(
            "Backup %s: %s objects, %s bytes, sha256 %s; verified by reading it back",
            written.name,
            objects_written,
            written.bytes,
            written.sha256,
        )
        return {
            "path": written.name,
            "method": "django_json",
            "bytes": written.bytes,
            "objects": objects_written,
            "models": dict(sorted(counts.items())),
            "sha256": written.sha256,
            "verified": True,
            "restore": f"python manage.py loaddata {path}",
        }

    def _pg_dump(self, name: str, storage, ctx: ExecutionContext) -> dict[str, Any]:
        args, env, database = _pg_dump_command()
        ctx.logger.info("Running pg_dump of database %s", database)
        with spooled_output() as (tmp, writer):
            _run_pg_dump(args, env, writer)
            tmp.flush()
            tmp.seek(0)
            entries, tables = _list_archive(tmp)
            written = save_to_storage(storage, name, tmp, writer)
        path = _display_path(storage, written.name)
        ctx.logger.info(
            "pg_dump %s: %s bytes, %s archive entries (%s tables with data), sha256 %s",
            written.name,
            written.bytes,
            len(entries),
            tables,
            written.sha256,
        )
        return {
            "path": written.name,
            "method": "pg_dump",
            "bytes": written.bytes,
            "objects": len(entries),
            "tables": tables,
            "sha256": written.sha256,
            "verified": True,
            "restore": (
                f"pg_restore --clean --if-exists --no-owner --dbname <database> {path}"
            ),
        }

    def _rotation(
        self, params: dict[str, Any], storage, ctx: ExecutionContext
    ) -> dict[str, Any]:
        """Delete the oldest backups with this prefix beyond keep_last."""
        pattern = backup_name_pattern(params["prefix"])
        try:
            _dirs, files = storage.listdir("")
        except FileNotFoundError:
            files = []
        ours = sorted(f for f in files if pattern.match(f))
        keep = params["keep_last"]
        if not keep:
            return {"rotated": [], "kept": ours}
        if ctx.dry_run:
            # The backup a real run writes would count as one of the kept.
            doomed = ours[: max(0, len(ours) + 1 - keep)]
            if doomed:
                ctx.logger.info("Dry run: would delete old backups %s", doomed)
            return {"would_rotate": doomed}
        doomed = ours[: max(0, len(ours) - keep)]
        for name in doomed:
            storage.delete(name)
            ctx.logger.info("Rotated away %s (keep_last=%s)", name, keep)
        return {"rotated": doomed, "kept": ours[len(doomed) :]}


def _display_path(storage, name: str) -> str:
    try:
        return storage.path(name)
    except NotImplementedError:
        return name


def _label_problem(label: str, *, models_only: bool) -> str | None:
    if "." in label:
        try:
            apps.get_model(label)
        except (LookupError, ValueError):
            return f"{label!r} is not an installed model (app_label.ModelName)."
        return None
    if models_only:
        return f"{label!r} is not a model label (app_label.ModelName)."
    try:
        apps.get_app_config(label)
    except LookupError:
        return f"{label!r} is not an installed app label."
    return None


def select_models(params: dict[str, Any]) -> list[type[models.Model]]:
    """The models to back up, ordered so that loaddata can restore them."""
    wanted: list[type[models.Model]] = []
    if params["apps"] or params["models"]:
        for label in params["apps"]:
            wanted += list(apps.get_app_config(label).get_models())
        for label in params["models"]:
            wanted.append(apps.get_model(label))
    else:
        wanted = list(apps.get_models())
    excluded_apps = {e for e in params["exclude"] if "." not in e}
    excluded_models = {apps.get_model(e) for e in params["exclude"] if "." in e}
    selected = []
    for model in wanted:
        meta = model._meta
        if (
            model in selected
            or model in excluded_models
            or meta.app_label in excluded_apps
        ):
            continue
        if meta.proxy or not meta.managed:
            continue
        selected.append(model)
    by_app: dict[Any, list[type[models.Model]]] = {}
    for model in selected:
        by_app.setdefault(model._meta.app_config, []).append(model)
    return serializers.sort_dependencies(list(by_app.items()), allow_cycles=True)


def verify_jsonl(storage, name: str) -> Counter[str]:
    """Read the backup back (gzip CRC, every JSON line); count objects by model."""
    counts: Counter[str] = Counter()
    try:
        with storage.open(name, "rb") as raw, gzip.GzipFile(fileobj=raw) as gz:
            for line in io.TextIOWrapper(gz, encoding="utf-8"):
                if line.strip():
                    counts[apps.get_model(json.loads(line)["model"])._meta.label] += 1
    except (OSError, EOFError, ValueError, KeyError, LookupError) as exc:
        raise TemplateError(
            f"Verification failed: {name} cannot be read back: {exc}"
        ) from None
    return counts


def pg_dump_problem() -> str | None:
    """Why the pg_dump method cannot be used here, or None."""
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        return "pg_dump needs a PostgreSQL database; this one is not (use django_json)."
    if not shutil.which("pg_dump") or not shutil.which("pg_restore"):
        return "pg_dump/pg_restore are not installed on this machine (use django_json)."
    return None


def _pg_dump_command() -> tuple[list[str], dict[str, str], str]:
    """pg_dump's arguments and environment for the default database, and its
    name; the password goes in the environment, as an argument any local user
    could read it in the process list."""
    db = connections[DEFAULT_DB_ALIAS].settings_dict
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    args = [shutil.which("pg_dump") or "pg_dump", "--format=custom", "--no-owner"]
    for flag, key in (
        ("--host", "HOST"),
        ("--port", "PORT"),
        ("--username", "USER"),
    ):
        if db.get(key):
            args += [flag, str(db[key])]
    args += ["--dbname", str(db["NAME"])]
    return args, env, str(db["NAME"])


def _run_pg_dump(args: list[str], env: dict[str, str], writer: HashingWriter) -> None:
    """Stream pg_dump's output into writer, so a large database never sits in
    memory; a failed dump fails the run with pg_dump's own message."""
    process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert process.stdout is not None  # noqa: S101 - for the type checker
    for chunk in iter(lambda: process.stdout.read(64 * 1024), b""):
        writer.write(chunk)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.wait() != 0:
        raise TemplateError(f"pg_dump failed: {stderr.strip()[:2000]}")


def _list_archive(archive: IO[bytes]) -> tuple[list[str], int]:
    """The archive's entries and how many are table data, as pg_restore reads
    them: a dump it cannot list could not be restored either, so it is refused
    before it is saved."""
    listing = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [shutil.which("pg_restore") or "pg_restore", "--list"],
        stdin=archive,
        capture_output=True,
        check=False,
    )
    if listing.returncode != 0:
        problem = listing.stderr.decode(errors="replace").strip()[:2000]
        raise TemplateError(f"Verification failed: {problem}")
    lines = listing.stdout.decode(errors="replace").splitlines()
    entries = [line for line in lines if line and not line.startswith(";")]
    tables = sum(1 for line in entries if " TABLE DATA " in line)
    return entries, tables
