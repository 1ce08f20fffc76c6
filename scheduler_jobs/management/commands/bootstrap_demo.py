"""`make run`'s first-start setup: an admin user and an example heartbeat job."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from scheduler_jobs import services
from scheduler_jobs.models import DynamicJob

EXAMPLE_JOB = "Heartbeat every minute"


class Command(BaseCommand):
    help = "Create the admin user (password printed once) and an example heartbeat job."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(
                username=username, email=f"{username}@localhost", password=password
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created admin user '{username}' with password: {password}\n"
                    "  (shown only this once; change it with "
                    f"`.venv/bin/python manage.py changepassword {username}`)"
                )
            )
        else:
            self.stdout.write(
                f"Admin user '{username}' already exists; its password is unchanged "
                "(reset it with `.venv/bin/python manage.py changepassword "
                f"{username}`)."
            )
        if not DynamicJob.objects.filter(name=EXAMPLE_JOB).exists():
            services.job_create(
                user=user,
                data={
                    "name": EXAMPLE_JOB,
                    "description": "Example job created by `make run`: proves the "
                    "scheduler and the worker are alive.",
                    "template_type": "heartbeat",
                    "parameters": {"message": "Scheduler is alive"},
                    "schedule": {"type": "interval", "every_seconds": 60},
                },
                source="command",
            )
            self.stdout.write(f"Created the example job '{EXAMPLE_JOB}'.")
        self.stdout.write(
            "Open http://127.0.0.1:8000/admin/ and look at Scheduled jobs and "
            "Executions: a completed heartbeat appears within two minutes."
        )
