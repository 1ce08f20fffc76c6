"""`manage.py rotate_secrets [--apply] | --new-key`."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand, CommandError, CommandParser

from job_templates.secrets import SecretKeyError


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (job parameters and notifications, "
        "execution snapshots, job versions, pending approvals, wizard drafts) "
        "under the first key of SCHEDULER_SECRETS_KEYS, so older keys "
        "can be removed. Counts only, unless --apply."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--apply", action="store_true", help="Rewrite the rows (default: count)."
        )
        parser.add_argument(
            "--new-key",
            action="store_true",
            help="Print a new key to put first in SCHEDULER_SECRETS_KEYS, and exit.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["new_key"]:
            self.stdout.write(Fernet.generate_key().decode())
            return
        from executions.services.rotation import secrets_rotate
        from scheduler_jobs.legacy import operator_name

        try:
            counts = secrets_rotate(
                actor=operator_name("rotate_secrets"), dry_run=not options["apply"]
            )
        except SecretKeyError as exc:
            raise CommandError(str(exc)) from None
        verb = "Re-encrypted" if options["apply"] else "Would re-encrypt"
        self.stdout.write(
            f"{verb} secrets in {counts['jobs']} job(s) and "
            f"{counts['executions']} execution(s)."
        )
        self.stdout.write(
            f"{verb} secrets in {counts['versions']} job version(s), "
            f"{counts['approvals']} pending approval(s) and "
            f"{counts['drafts']} draft(s)."
        )
        if not options["apply"]:
            self.stdout.write("Dry run: nothing was changed. Run with --apply.")
