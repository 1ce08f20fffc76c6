import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0006_watch_events"),
        ("scheduler_jobs", "0004_verbose_names"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Incident",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("failure_streak", "Failures in a row")],
                        default="failure_streak",
                        max_length=32,
                    ),
                ),
                ("opened_at", models.DateTimeField()),
                ("failures", models.PositiveIntegerField(default=0)),
                ("last_alert_at", models.DateTimeField(blank=True, null=True)),
                ("alerts_sent", models.PositiveIntegerField(default=0)),
                ("acknowledged_at", models.DateTimeField(blank=True, null=True)),
                ("note", models.TextField(blank=True)),
                ("resolved_at", models.DateTimeField(blank=True, null=True)),
                (
                    "resolution",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("recovered", "Recovered"),
                            ("resolved by hand", "Resolved by hand"),
                        ],
                        max_length=32,
                    ),
                ),
                (
                    "acknowledged_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "job",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="incidents",
                        to="scheduler_jobs.dynamicjob",
                    ),
                ),
                (
                    "last_execution",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="executions.jobexecution",
                    ),
                ),
                (
                    "resolved_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "db_table": "job_incidents",
                "ordering": ["-opened_at", "-id"],
                "default_permissions": (),
                "permissions": [
                    ("acknowledge_incident", "Can acknowledge an open incident"),
                    ("resolve_incident", "Can resolve an open incident by hand"),
                ],
                "indexes": [
                    models.Index(
                        fields=["job", "-opened_at"], name="incident_job_opened_idx"
                    ),
                    models.Index(
                        condition=models.Q(("resolved_at__isnull", True)),
                        fields=["last_alert_at"],
                        name="incident_open_alert_idx",
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("resolved_at__isnull", True)),
                        fields=("job", "kind"),
                        name="job_incidents_one_open_per_job_kind",
                    )
                ],
            },
        ),
    ]
