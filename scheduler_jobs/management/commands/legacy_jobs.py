"""`manage.py legacy_jobs plan|migrate|status|rollback`: move hard-coded jobs over.

The logic lives in scheduler_jobs.legacy; this parses arguments and prints.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduler_jobs import legacy
from scheduler_jobs.access import AccessDenied
from scheduler_jobs.services import QuotaExceeded, VersionConflict

COMMAND = "legacy_jobs"


class Command(BaseCommand):
    help = (
        "Migrate hard-coded Celery jobs (CELERY_BEAT_SCHEDULE, django-celery-beat "
        "PeriodicTask rows, or a JSON/YAML file) into dynamic jobs, one at a time, "
        "while the old ones keep running."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        source_help = (
            "Where legacy jobs are read: settings (CELERY_BEAT_SCHEDULE), beat "
            "(PeriodicTask rows) or 'file PATH'. Default: settings and beat."
        )

        plan = sub.add_parser(
            "plan", help="Show every legacy job and what it maps to. Changes nothing."
        )
        plan.add_argument("--source", nargs="+", metavar="SOURCE", help=source_help)

        migrate = sub.add_parser(
            "migrate",
            help="Create dynamic jobs for legacy jobs (disabled unless --enable).",
        )
        migrate.add_argument("names", nargs="*", metavar="NAME")
        migrate.add_argument(
            "--all", action="store_true", help="Migrate every mappable legacy job."
        )
        migrate.add_argument("--source", nargs="+", metavar="SOURCE", help=source_help)
        migrate.add_argument(
            "--enable", action="store_true", help="Enable the dynamic jobs."
        )
        migrate.add_argument(
            "--disable-legacy",
            action="store_true",
            help="Disable the legacy PeriodicTask (settings entries without one "
            "must be removed from settings).",
        )
        migrate.add_argument(
            "--live",
            action="store_true",
            help="Set dry_run false on migrated cleanup jobs, which are created as "
            "dry runs so they can run beside the legacy job.",
        )
        migrate.add_argument(
            "--dry-run",
            action="store_true",
            help="Show what would change; change nothing.",
        )

        status = sub.add_parser(
            "status", help="Which legacy jobs are migrated and where each one runs."
        )
        status.add_argument("--source", nargs="+", metavar="SOURCE", help=source_help)

        rollback = sub.add_parser(
            "rollback",
            help="Disable the dynamic job and re-enable the legacy task.",
        )
        rollback.add_argument("names", nargs="+", metavar="NAME")
        rollback.add_argument("--source", nargs="+", metavar="SOURCE", help=source_help)
        rollback.add_argument(
            "--dry-run",
            action="store_true",
            help="Show what would change; change nothing.",
        )
        for command in (migrate, rollback):
            command.add_argument("--user", metavar="USERNAME", help=legacy.USER_HELP)

    def handle(self, *args: Any, **options: Any) -> None:
        sources, path = _parse_source(options.get("source"))
        try:
            jobs = legacy.load_legacy_jobs(sources, path=path)
            handler = getattr(self, f"do_{options['action']}")
            handler(jobs, options)
        except legacy.LegacyError as exc:
            raise CommandError(str(exc)) from None

    # plan ------------------------------------------------------------------
    def do_plan(self, jobs: list[legacy.LegacyJob], options: dict) -> None:
        plan = legacy.build_plan(jobs)
        if not plan:
            self.stdout.write("No legacy jobs found in the chosen source(s).")
            return
        rows = [
            (
                entry.legacy.name,
                entry.legacy.source,
                entry.legacy.schedule_text,
                entry.data["template_type"] if entry.data else "-",
                entry.schedule_description or "-",
                entry.status,
            )
            for entry in plan
        ]
        header = ("LEGACY JOB", "SOURCE", "LEGACY SCHEDULE", "TEMPLATE", "NEW SCHEDULE")
        self._table((*header, "STATUS"), rows)
        for entry in plan:
            self.stdout.write("")
            job = entry.legacy
            self.stdout.write(f"{job.name}  ({entry.status})")
            self.stdout.write(f"  legacy:     task {job.task or '-'}, {job.origin}")
            self.stdout.write(f"              {job.state}")
            if job.args or job.kwargs:
                self.stdout.write(
                    f"              args {_json(job.args)}, kwargs {_json(job.kwargs)}"
                )
            if entry.job is not None:
                self.stdout.write(
                    f"  dynamic:    #{entry.job.pk} {entry.job.name!r}, "
                    f"{'enabled' if entry.job.enabled else 'disabled'}"
                )
            if entry.rule:
                self.stdout.write(f"  rule:       {entry.rule}")
            if entry.data is not None:
                self.stdout.write(f"  template:   {entry.data['template_type']}")
                self.stdout.write(f"  parameters: {_json(entry.data['parameters'])}")
                self.stdout.write(
                    f"  schedule:   {_json(entry.data['schedule'])} "
                    f"({entry.schedule_description})"
                )
            if entry.reason:
                self.stdout.write(f"  reason:     {entry.reason}")
            for note in entry.notes:
                self.stdout.write(f"  note:       {note}")
        counts = _counts(entry.status for entry in plan)
        self.stdout.write("")
        self.stdout.write(
            f"{len(plan)} legacy job(s): "
            + ", ".join(f"{n} {status}" for status, n in counts.items())
            + ". Nothing was changed."
        )

    # migrate ---------------------------------------------------------------
    def do_migrate(self, jobs: list[legacy.LegacyJob], options: dict) -> None:
        names, migrate_all = options["names"], options["all"]
        if bool(names) == bool(migrate_all):
            raise CommandError("Name the legacy jobs to migrate, or pass --all.")
        plan = legacy.build_plan(jobs)
        chosen = plan if migrate_all else legacy.select(plan, names)
        if not migrate_all:
            refused = [e for e in chosen if e.job is None and not e.mappable]
            if refused:
                raise CommandError(
                    "Cannot migrate; nothing was changed:\n"
                    + "\n".join(f"  {e.legacy.name}: {e.reason}" for e in refused)
                )
        dry_run = options["dry_run"]
        if dry_run:
            self.stdout.write("Dry run: nothing will be changed.")
        actor = legacy.command_actor(COMMAND, options["user"])
        changed, unchanged, unmappable, failed = 0, 0, [], []
        for entry in chosen:
            if entry.job is None and not entry.mappable:
                unmappable.append(entry)
                continue
            try:
                outcome = legacy.migrate_entry(
                    entry,
                    actor=actor,
                    enable=options["enable"],
                    disable_legacy=options["disable_legacy"],
                    live=options["live"],
                    dry_run=dry_run,
                )
            except (ValidationError, QuotaExceeded, VersionConflict) as exc:
                failed.append(f"{entry.legacy.name}: {_error_text(exc)}")
                continue
            except AccessDenied as exc:
                failed.append(f"{entry.legacy.name}: {exc}")
                continue
            for line in outcome.lines:
                self.stdout.write(line)
            changed += outcome.changed
            unchanged += not outcome.changed
        for entry in unmappable:
            self.stdout.write(f"{entry.legacy.name}: not migrated: {entry.reason}")
        summary = [
            f"{changed} {'would change' if dry_run else 'changed'}",
            f"{unchanged} unchanged",
        ]
        if unmappable:
            summary.append(f"{len(unmappable)} unmappable")
        self.stdout.write("Done: " + ", ".join(summary) + ".")
        if failed:
            raise CommandError("Some jobs failed:\n" + "\n".join(failed))

    # status ----------------------------------------------------------------
    def do_status(self, jobs: list[legacy.LegacyJob], options: dict) -> None:
        sources = set(_parse_source(options.get("source"))[0] or legacy.DEFAULT_SOURCES)
        rows = legacy.legacy_status(
            jobs, all_sources=set(legacy.DEFAULT_SOURCES) <= sources
        )
        if not rows:
            self.stdout.write("No legacy jobs and no migrated jobs.")
            return
        self._table(
            ("LEGACY JOB", "SOURCE", "LEGACY SIDE", "DYNAMIC JOB", "RUNNING ON"),
            [
                (r.name, r.source, r.legacy_state, r.dynamic_state, r.running_on)
                for r in rows
            ],
        )
        both = [r for r in rows if r.running_on == "BOTH"]
        for row in both:
            if row.job.parameters.get("dry_run") is True:
                advice = (
                    "the dynamic job is a dry run, so only the legacy job changes "
                    "data. When its counts match, switch: `legacy_jobs migrate "
                    f"{row.name} --live --disable-legacy`."
                )
            else:
                advice = (
                    f"disable one: `legacy_jobs migrate {row.name} --disable-legacy` "
                    f"or `legacy_jobs rollback {row.name}`."
                )
            self.stdout.write(
                self.style.WARNING(
                    f"WARNING: {row.name} is enabled on both sides: every run happens "
                    f"twice; {advice}"
                )
            )
        migrated = sum(r.job is not None for r in rows)
        self.stdout.write(
            f"{migrated} of {len(rows)} legacy job(s) migrated; "
            f"{len(both)} running on both sides."
        )

    # rollback --------------------------------------------------------------
    def do_rollback(self, jobs: list[legacy.LegacyJob], options: dict) -> None:
        actor = legacy.command_actor(COMMAND, options["user"])
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing will be changed.")
        for name in options["names"]:
            try:
                outcome = legacy.rollback(
                    name, jobs=jobs, actor=actor, dry_run=options["dry_run"]
                )
            except (ValidationError, VersionConflict) as exc:
                raise CommandError(f"{name}: {_error_text(exc)}") from None
            except AccessDenied as exc:
                raise CommandError(f"{name}: {exc}") from None
            for line in outcome.lines:
                self.stdout.write(line)

    # helpers ---------------------------------------------------------------
    def _table(self, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        widths = [
            max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))
        ]
        for row in [header, *rows]:
            line = "  ".join(
                str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)
            )
            self.stdout.write(line.rstrip())


def _parse_source(
    values: list[str] | None,
) -> tuple[tuple[str, ...] | None, str | None]:
    """--source settings | beat | file PATH (several sources may be combined)."""
    if not values:
        return None, None
    sources: list[str] = []
    path = None
    items = list(values)
    while items:
        item = items.pop(0)
        if item == "file":
            if not items:
                raise CommandError(
                    "--source file needs a PATH: --source file jobs.yaml"
                )
            path = items.pop(0)
        elif item not in legacy.SOURCES:
            raise CommandError(
                f"Unknown source {item!r}; use settings, beat or 'file PATH' "
                "(put job names before --source)."
            )
        sources.append(item)
    return tuple(dict.fromkeys(sources)), path


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _counts(statuses) -> dict[str, int]:
    statuses = list(statuses)
    order = ("ready", "migrated", "unmappable")
    return {status: statuses.count(status) for status in order if status in statuses}


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return legacy.validation_text(exc)
    return str(exc)
