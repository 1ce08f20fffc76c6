"""`manage.py export_jobs [--format yaml|json] [--output FILE] [NAME…]`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduler_jobs import jobfiles
from scheduler_jobs.access import AccessDenied
from scheduler_jobs.legacy import USER_HELP, command_actor


class Command(BaseCommand):
    help = (
        "Write job definitions as YAML or JSON (stdout by default), secrets masked, "
        "for review and version control. Re-import with import_jobs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "names", nargs="*", metavar="NAME", help="Jobs (all if none)."
        )
        parser.add_argument("--format", choices=("yaml", "json"), default=None)
        parser.add_argument("--output", "-o", metavar="FILE", help="Write to FILE.")
        parser.add_argument("--user", metavar="USERNAME", help=USER_HELP)

    def handle(self, *args: Any, names: list[str], **options: Any) -> None:
        output = options["output"]
        fmt = options["format"] or (
            "json" if output and output.endswith(".json") else "yaml"
        )
        actor = command_actor("export_jobs", options["user"])
        try:
            document = jobfiles.jobs_export(names=names, actor=actor)
            text = jobfiles.dump(document, fmt)
        except (jobfiles.JobFileError, AccessDenied) as exc:
            raise CommandError(str(exc)) from None
        if not output or output == "-":
            self.stdout.write(text, ending="")
            return
        _write_atomically(Path(output), text)
        self.stdout.write(f"Exported {len(document['jobs'])} job(s) to {output}.")


def _write_atomically(path: Path, text: str) -> None:
    """Write beside the target, then rename: a reader never sees half a file."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.")
    except OSError as exc:
        raise CommandError(f"{path}: cannot write: {exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CommandError(f"{path}: cannot write: {exc}") from None
