from __future__ import annotations

import time
from collections import Counter
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models.deletion import Collector, ProtectedError, RestrictedError
from django.utils import timezone

from job_templates.allowlist import (
    allowed_model,
    model_permission,
    with_collection_choices,
)
from job_templates.base import JobTemplate, TemplateError
from job_templates.conditions import build_q, check_condition
from job_templates.context import ExecutionContext

SETTING = "SCHEDULER_CLEANUP_MODELS"
# Stop starting new batches when fewer seconds than this remain before the timeout.
DEADLINE_MARGIN_SECONDS = 5


class DatabaseCleanupTemplate(JobTemplate):
    """Deletes the rows of one allowlisted model that match a checked condition.

    Safe by default: dry run on, a non-empty condition, a row cap. Deletion runs
    in batches, each in its own transaction, so a long cleanup never holds one
    huge lock and a timeout loses at most one batch.
    """

    type = "database_cleanup"
    name = "Database cleanup"
    description = (
        "Deletes old rows from an allowed table (e.g. execution history older than "
        "90 days), in batches, with a dry run that counts what would go, including "
        "rows a cascade would delete."
    )
    category = "maintenance"
    icon = "🧹"
    risk_level = "high"
    resource_usage = "medium"
    estimated_duration = "seconds to minutes"
    guidance = "Remove old data?"
    supports_dry_run = True
    parameters_schema = {
        "type": "object",
        "properties": {
            "collection": {
                "type": "string",
                "title": "Table (model)",
                "description": (
                    "The table to clean up. The list holds the tables an "
                    "administrator allowed for cleanup."
                ),
                "default": "executions.JobExecution",
                "maxLength": 200,
            },
            "condition": {
                "type": "object",
                "title": "Condition",
                "description": (
                    "Field lookups that all must match, e.g. "
                    '{"status": "completed", "created_at__lt": {"ago": "90d"}}. '
                    "Lookups: exact, iexact, in, gt, gte, lt, lte, isnull, "
                    "startswith, endswith, contains, icontains, range. Relative "
                    'times: {"ago": "30d"} (units s, m, h, d, w).'
                ),
                "examples": [
                    {"status": "completed", "created_at__lt": {"ago": "90d"}},
                    {
                        "status__in": ["closed", "resolved"],
                        "resolved_at__lt": {"ago": "1w"},
                    },
                ],
            },
            "dry_run": {
                "type": "boolean",
                "title": "Dry run",
                "description": "Only count what would be deleted; delete nothing.",
                "default": True,
            },
            "batch_size": {
                "type": "integer",
                "title": "Batch size",
                "description": "Rows deleted per transaction.",
                "default": 1000,
                "minimum": 1,
                "maximum": 10000,
            },
            "max_rows": {
                "type": "integer",
                "title": "Maximum rows per run",
                "description": (
                    "Stop after deleting this many rows; the next run goes on."
                ),
                "default": 100_000,
                "minimum": 1,
                "maximum": 10_000_000,
            },
        },
        "required": ["collection", "condition"],
        "additionalProperties": False,
    }

    def get_schema(self) -> dict[str, Any]:
        return with_collection_choices(super().get_schema(), SETTING)

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        model = allowed_model(params["collection"], setting=SETTING)
        check_condition(model, params["condition"], param="condition")
        return params

    def high_risk_reason(self, params: dict[str, Any]) -> str | None:
        if (params or {}).get("dry_run", True) is False:
            return "it deletes rows (dry run is off)"
        return super().high_risk_reason(params)

    def required_permissions(self, params: dict[str, Any]) -> list[str]:
        """Deleting from the model: a job must not delete what its author could
        not delete in the admin."""
        return model_permission((params or {}).get("collection"), "delete")

    def execute(self, params: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
        model = allowed_model(params["collection"], setting=SETTING)
        now = timezone.now()
        query = build_q(model, params["condition"], param="condition", now=now)
        queryset = model._base_manager.filter(query)
        label = model._meta.label
        batch_size, max_rows = params["batch_size"], params["max_rows"]
        matched = queryset.count()
        ctx.logger.info(
            "%s rows of %s match %s (evaluated at %s)",
            matched,
            label,
            params["condition"],
            now.isoformat(),
        )
        result: dict[str, Any] = {
            "collection": label,
            "dry_run": ctx.dry_run,
            "matched": matched,
            "deleted": 0,
            "batches": 0,
            "capped": matched > max_rows,
            "max_rows": max_rows,
        }
        if ctx.dry_run:
            result.update(self._dry_run(model, queryset, batch_size, max_rows, ctx))
            return result
        return self._delete(model, queryset, result, batch_size, max_rows, ctx)

    def _dry_run(
        self,
        model: type[models.Model],
        queryset: models.QuerySet,
        batch_size: int,
        max_rows: int,
        ctx: ExecutionContext,
    ) -> dict[str, Any]:
        """Count what a real run would delete, cascades included, batch by batch."""
        would_delete = Counter()
        batches = 0
        blocked: list[str] = []
        using = router.db_for_write(model)
        pks = queryset.order_by("pk").values_list("pk", flat=True)[:max_rows]
        chunk: list[Any] = []
        for pk in pks.iterator(chunk_size=batch_size):
            chunk.append(pk)
            if len(chunk) == batch_size:
                batches += 1
                blocked += _collect(model, chunk, using, would_delete)
                chunk = []
        if chunk:
            batches += 1
            blocked += _collect(model, chunk, using, would_delete)
        label = model._meta.label
        cascade = {k: v for k, v in sorted(would_delete.items()) if k != label}
        ctx.logger.info(
            "Dry run: would delete %s rows of %s in %s batch(es)%s",
            would_delete.get(label, 0),
            label,
            batches,
            f", plus by cascade: {cascade}" if cascade else "",
        )
        if blocked:
            ctx.logger.warning("Dry run: deletion would be blocked: %s", blocked[0])
        return {
            "would_delete": would_delete.get(label, 0),
            "would_batches": batches,
            "cascade": cascade,
            "total_with_cascade": sum(would_delete.values()),
            "blocked": blocked[:10],
        }

    def _delete(
        self,
        model: type[models.Model],
        queryset: models.QuerySet,
        result: dict[str, Any],
        batch_size: int,
        max_rows: int,
        ctx: ExecutionContext,
    ) -> dict[str, Any]:
        label = model._meta.label
        using = router.db_for_write(model)
        cascade: Counter[str] = Counter()
        deleted = 0
        stopped = ""
        while deleted < max_rows:
            left = ctx.seconds_left()
            if left is not None and left < DEADLINE_MARGIN_SECONDS:
                stopped = "time"
                break
            take = min(batch_size, max_rows - deleted)
            pks = list(queryset.order_by("pk").values_list("pk", flat=True)[:take])
            if not pks:
                break
            started = time.monotonic()
            per_model = _delete_batch(
                model, pks, using, left, batch=result["batches"] + 1, deleted=deleted
            )
            result["batches"] += 1
            deleted += per_model.get(label, 0)
            for other, count in per_model.items():
                if other != label:
                    cascade[other] += count
            ctx.logger.info(
                "Batch %s: deleted %s rows of %s in %.2fs",
                result["batches"],
                per_model.get(label, 0),
                label,
                time.monotonic() - started,
            )
            if per_model.get(label, 0) == 0:
                break
        result["deleted"] = deleted
        result["cascade"] = dict(sorted(cascade.items()))
        _report_remaining(result, queryset, max_rows, stopped, ctx)
        ctx.logger.info(
            "Deleted %s rows of %s in %s batch(es)", deleted, label, result["batches"]
        )
        return result


def _delete_batch(
    model: type[models.Model],
    pks: list[Any],
    using: str,
    seconds_left: float | None,
    *,
    batch: int,
    deleted: int,
) -> dict[str, int]:
    """Delete one batch in its own transaction, so a refusal or a timeout undoes
    only this batch; a protected or restricted row fails the run saying how far
    it got."""
    try:
        with transaction.atomic(using=using):
            _limit_waits(using, seconds_left)
            _count, per_model = model._base_manager.filter(pk__in=pks).delete()
    except (ProtectedError, RestrictedError) as exc:
        raise TemplateError(
            f"Batch {batch} could not be deleted: "
            f"{exc.args[0]} "
            f"({deleted} rows were deleted before it)."
        ) from None
    return per_model


def _report_remaining(
    result: dict[str, Any],
    queryset: models.QuerySet,
    max_rows: int,
    stopped: str,
    ctx: ExecutionContext,
) -> None:
    """Say what is left for the next run and why the run stopped short, so a cap
    or a timeout is not mistaken for a finished cleanup."""
    deleted = result["deleted"]
    remaining = queryset.count()
    result["remaining"] = remaining
    result["capped"] = deleted >= max_rows and remaining > 0
    if result["capped"]:
        ctx.logger.warning(
            "Stopped at max_rows=%s; %s matching rows remain for the next run.",
            max_rows,
            remaining,
        )
    if stopped == "time":
        result["stopped_early"] = "timeout approaching"
        ctx.logger.warning(
            "Stopped early: less than %ss left before the job's timeout; "
            "%s matching rows remain.",
            DEADLINE_MARGIN_SECONDS,
            remaining,
        )


def _collect(
    model: type[models.Model], pks: list[Any], using: str, counter: Counter
) -> list[str]:
    """Add to `counter` what deleting these rows would delete; return blockers."""
    collector = Collector(using=using, origin=None)
    try:
        collector.collect(list(model._base_manager.filter(pk__in=pks)))
    except (ProtectedError, RestrictedError) as exc:
        return [str(exc.args[0])]
    for instances_model, instances in collector.data.items():
        counter[instances_model._meta.label] += len(instances)
    for fast in collector.fast_deletes:
        counter[fast.model._meta.label] += fast.count()
    return []


def _limit_waits(using: str, seconds_left: float | None) -> None:
    """On PostgreSQL, end this batch's lock waits and statements with the run.

    When the soft time limit interrupts a DELETE blocked on a row lock, the
    worker drops the connection but the server would go on waiting (and then
    deleting). A transaction-local lock_timeout and statement_timeout just past
    the run's deadline make the server give up too.
    """
    if seconds_left is None or connections[using].vendor != "postgresql":
        return
    limit = f"{int((seconds_left + 1) * 1000)}ms"
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, true), "
            "set_config('statement_timeout', %s, true)",
            [limit, limit],
        )
