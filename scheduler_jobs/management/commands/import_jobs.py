"""`manage.py import_jobs FILE [--dry-run] [--prune]`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduler_jobs import jobfiles
from scheduler_jobs.access import AccessDenied
from scheduler_jobs.legacy import USER_HELP, command_actor, validation_text
from scheduler_jobs.services import QuotaExceeded, VersionConflict


class Command(BaseCommand):
    help = (
        "Create and update jobs from a YAML or JSON file (as written by export_jobs). "
        "Validates every job first, prints the plan, then applies it in one "
        "transaction: all of it or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", metavar="FILE", help="YAML or JSON file; - for stdin."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the plan; change nothing."
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Also delete jobs that are not in the file.",
        )
        parser.add_argument("--user", metavar="USERNAME", help=USER_HELP)

    def handle(self, *args: Any, file: str, **options: Any) -> None:
        actor = command_actor("import_jobs", options["user"])
        try:
            text, name = jobfiles.read_text(file)
            definitions = jobfiles.load_definitions(text, name=name)
            plan = jobfiles.import_plan(
                definitions, source=name, prune=options["prune"]
            )
        except jobfiles.JobFileError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Plan for {name} ({len(definitions)} job(s) in the file):")
        width = max((len(item.action) for item in plan.items), default=0)
        for item in plan.items:
            detail = f": {', '.join(item.changed)}" if item.changed else ""
            self.stdout.write(f"  {item.action.ljust(width)}  {item.name}{detail}")
            for row in item.diff:
                self.stdout.write(f"      {jobfiles.diff_line(row)}")
        counts = ", ".join(f"{n} {action}" for action, n in plan.counts().items())
        if options["dry_run"]:
            self.stdout.write(f"Dry run: {counts}; nothing was changed.")
            return
        if not plan.has_changes:
            self.stdout.write(f"Nothing to change ({counts}).")
            return
        try:
            jobfiles.import_apply(plan, actor=actor)
        except AccessDenied as exc:
            raise CommandError(f"{name}: {exc} Nothing was imported.") from None
        except ValidationError as exc:
            raise CommandError(
                f"{name}: {validation_text(exc)}; nothing was imported."
            ) from None
        except (QuotaExceeded, VersionConflict) as exc:
            raise CommandError(f"{name}: {exc} Nothing was imported.") from None
        done = {"create": "created", "update": "updated", "delete": "deleted"}
        self.stdout.write(
            "Imported: "
            + ", ".join(f"{n} {done.get(a, a)}" for a, n in plan.counts().items())
            + "."
        )
        for item in plan.items:
            if item.pending:
                self.stdout.write(
                    f"  {item.name}: high-risk change, waits for another person's "
                    "approval (GET /api/v1/approvals/ or the job's page)."
                )
