from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.storage import Storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from job_templates.allowlist import (
    allowed_model,
    exportable_fields,
    is_secret_field,
    model_permission,
    with_collection_choices,
)
from job_templates.base import JobTemplate, TemplateError
from job_templates.conditions import build_q, check_condition
from job_templates.context import ExecutionContext
from job_templates.csvsafe import cell
from job_templates.files import (
    UnsafePath,
    WrittenFile,
    check_inside_root,
    check_template_path,
    folder_storage,
    render_path,
    save_to_storage,
    spooled_output,
)

SETTING = "SCHEDULER_EXPORT_MODELS"
FORMATS = ("csv", "json", "jsonl")
CHUNK_ROWS = 2000
FLUSH_CHARS = 256 * 1024


class DataExportTemplate(JobTemplate):
    """Writes the rows of an allowlisted model to a CSV, JSON or JSON Lines file.

    Rows are streamed with QuerySet.iterator() and written through a small
    buffer, so memory stays flat however many rows there are (see
    bench/export_memory.py). CSV cells are escaped against formula injection.
    The file outlives the permissions of whoever reads it (it can be emailed or
    picked up from the folder), so fields that may hold secrets never reach it.
    """

    type = "data_export"
    name = "Data export"
    description = (
        "Exports rows of an allowed table to CSV, JSON or JSON Lines (optionally "
        "gzip) under the export folder, with filters in the cleanup condition "
        "language. Secret-looking fields are never exported."
    )
    category = "reports"
    icon = "📤"
    risk_level = "medium"
    resource_usage = "medium"
    estimated_duration = "seconds to minutes"
    guidance = "Generate files?"
    supports_dry_run = True
    parameters_schema = {
        "type": "object",
        "properties": {
            "collection": {
                "type": "string",
                "title": "Table (model)",
                "description": (
                    "The table to export. The list holds the tables an "
                    "administrator allowed for export."
                ),
                "default": "executions.JobExecution",
                "maxLength": 200,
            },
            "fields": {
                "type": "array",
                "title": "Fields",
                "description": (
                    "Columns to export, in order. Empty: every field except those "
                    "named like password, token or secret."
                ),
                "items": {"type": "string", "maxLength": 100},
                "default": [],
                "maxItems": 200,
            },
            "filters": {
                "type": "object",
                "title": "Filters",
                "description": (
                    "Field lookups that all must match (same language as the "
                    'cleanup condition), e.g. {"status": "failed", '
                    '"created_at__gte": {"ago": "1d"}}. Empty: every row.'
                ),
                "default": {},
                "examples": [{"status": "failed", "created_at__gte": {"ago": "1d"}}],
            },
            "format": {
                "type": "string",
                "title": "Format",
                "enum": list(FORMATS),
                "default": "csv",
            },
            "destination": {
                "type": "string",
                "title": "Destination",
                "description": (
                    "Path under the export folder; placeholders {date}, {time}, "
                    "{datetime}, {timestamp}, {job}, {collection}, {ext}. An existing "
                    "file is never overwritten."
                ),
                "default": "{collection}/{date}-{time}.{ext}",
                "maxLength": 255,
            },
            "compress": {
                "type": "boolean",
                "title": "Gzip",
                "description": "Compress the file with gzip (adds .gz).",
                "default": False,
            },
        },
        "required": ["collection"],
        "additionalProperties": False,
    }

    def get_schema(self) -> dict[str, Any]:
        return with_collection_choices(super().get_schema(), SETTING)

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        model = allowed_model(params["collection"], setting=SETTING)
        columns(model, params["fields"])
        check_filters(model, params["filters"])
        try:
            check_template_path(params["destination"])
        except UnsafePath as exc:
            raise ValidationError({"destination": [str(exc)]}) from None
        return params

    def high_risk_reason(self, params: dict[str, Any]) -> str | None:
        return "it writes database rows to files that outlive their readers' rights"

    def required_permissions(self, params: dict[str, Any]) -> list[str]:
        """Viewing the exported model: the file shows its rows to whoever gets it."""
        return model_permission((params or {}).get("collection"), "view")

    def execute(self, params: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
        model = allowed_model(params["collection"], setting=SETTING)
        fields = columns(model, params["fields"])
        check_filters(model, params["filters"])
        query = build_q(model, params["filters"], param="filters", allow_empty=True)
        rows = (
            model._base_manager.filter(query)
            .order_by("pk")
            .values_list(*(f.attname for f in fields))
        )
        fmt = params["format"]
        storage, name = _destination(params, ctx, model)
        header = [f.name for f in fields]
        if ctx.dry_run:
            count = rows.count()
            ctx.logger.info(
                "Dry run: would export %s rows of %s (%s) to %s",
                count,
                model._meta.label,
                ", ".join(header),
                name,
            )
            return {"dry_run": True, "path": name, "rows": count, "fields": header}
        ctx.logger.info(
            "Exporting %s (%s) as %s%s to %s",
            model._meta.label,
            ", ".join(header),
            fmt,
            " (gzip)" if params["compress"] else "",
            name,
        )
        written, count = _write_export(
            storage,
            name,
            encode(fmt, header, rows.iterator(chunk_size=CHUNK_ROWS)),
            compress=params["compress"],
        )
        ctx.logger.info(
            "Wrote %s rows, %s bytes to %s (sha256 %s)",
            count,
            written.bytes,
            written.name,
            written.sha256,
        )
        return {
            "path": written.name,
            "rows": count,
            "bytes": written.bytes,
            "sha256": written.sha256,
            "format": fmt,
            "compressed": params["compress"],
            "fields": header,
        }


def _destination(
    params: dict[str, Any], ctx: ExecutionContext, model: type[models.Model]
) -> tuple[Storage, str]:
    """The storage and file name, checked before any row is read so a path that
    escapes the exports folder fails the run, dry run included."""
    name = render_path(
        params["destination"],
        values={
            "job": ctx.job_name or "export",
            "collection": model._meta.label_lower,
            "ext": params["format"],
        },
    )
    if params["compress"] and not name.endswith(".gz"):
        name += ".gz"
    storage = folder_storage("exports")
    try:
        check_inside_root(storage, name)
    except UnsafePath as exc:
        raise TemplateError(f"destination: {exc}") from None
    return storage, name


def _write_export(
    storage: Storage, name: str, pieces: Iterator[str | int], *, compress: bool
) -> tuple[WrittenFile, int]:
    """The encoded pieces spooled to a temporary file and saved in one go, so a
    failed export leaves no half-written file; returns the saved file and the
    row count that encode() gives last."""
    with spooled_output() as (tmp, writer):
        sink: Any = (
            gzip.GzipFile(fileobj=writer, mode="wb", mtime=0) if compress else writer
        )
        count = 0
        for text in pieces:
            if isinstance(text, int):
                count = text
                continue
            sink.write(text.encode("utf-8"))
        if sink is not writer:
            sink.close()
        written = save_to_storage(storage, name, tmp, writer)
    return written, count


def columns(model: type[models.Model], names: list[str]) -> list[models.Field]:
    """The fields to export; ValidationError keyed "fields.N" for a refused name."""
    by_name = {}
    for field in model._meta.concrete_fields:
        by_name[field.name] = field
        by_name[field.attname] = field
    if not names:
        return [by_name[n] for n in exportable_fields(model)]
    errors: dict[str, list[str]] = {}
    chosen: list[models.Field] = []
    for index, name in enumerate(names):
        field = by_name.get(name)
        if field is None:
            errors[f"fields.{index}"] = [
                f"{model._meta.label} has no field {name!r}. Fields: "
                + ", ".join(exportable_fields(model))
                + "."
            ]
        elif is_secret_field(model, field):
            errors[f"fields.{index}"] = [
                f"{name!r} may hold secrets (it looks like a password, token or "
                "key, or carries job parameters or output); it is never exported."
            ]
        elif field in chosen:
            errors[f"fields.{index}"] = [f"{name!r} is listed twice."]
        else:
            chosen.append(field)
    if errors:
        raise ValidationError(errors)
    return chosen


def check_filters(model: type[models.Model], filters: Any) -> None:
    """Check the filters; also refuse those on fields that are never exported.

    Filtering on a secret would leak it without exporting it: comparing the row
    count of `error__contains` filters, one character at a time, spells it out.
    """
    clauses = check_condition(model, filters, param="filters", allow_empty=True)
    errors = {
        f"filters.{clause.key}": [
            f"{clause.key!r}: {clause.field.name!r} is never exported, so it "
            "cannot be filtered on either."
        ]
        for clause in clauses
        if is_secret_field(model, clause.field)
    }
    if errors:
        raise ValidationError(errors)


def encode(fmt: str, header: list[str], rows: Iterator[tuple]) -> Iterator[str | int]:
    """Text pieces of the file, then the row count (an int) last."""
    count = 0
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([cell(value) for value in row])
            count += 1
            if buffer.tell() > FLUSH_CHARS:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()
    else:
        pieces: list[str] = []
        size = 0
        if fmt == "json":
            pieces.append("[")
        for row in rows:
            line = json.dumps(
                dict(zip(header, row, strict=True)),
                cls=DjangoJSONEncoder,
                ensure_ascii=False,
            )
            if fmt == "json":
                line = ("\n" if count == 0 else ",\n") + line
            else:
                line += "\n"
            pieces.append(line)
            size += len(line)
            count += 1
            if size > FLUSH_CHARS:
                yield "".join(pieces)
                pieces, size = [], 0
        if fmt == "json":
            pieces.append("\n]\n" if count else "]\n")
        yield "".join(pieces)
    yield count
