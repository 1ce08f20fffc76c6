from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from scheduler_jobs import spec
from scheduler_jobs.drafts import JobDraft  # noqa: F401 (a model of this app)
from scheduler_jobs.schedules import schedule_from_json
from scheduler_jobs.spec import JOB_SPEC


def default_retry_policy() -> dict:
    return JOB_SPEC.default("retry_policy")


def default_notifications() -> dict:
    return JOB_SPEC.default("notifications")


def default_watch() -> dict:
    return JOB_SPEC.default("watch")


class DynamicJob(models.Model):
    """A template plus parameters, a schedule and options (table dynamic_jobs).

    Written only through scheduler_jobs.services, which validate the whole row,
    keep `next_run_at` in step with the schedule and bump `version`.
    """

    # The choices, defaults and lengths are the job spec's (scheduler_jobs.spec).
    OverlapPolicy = spec.OverlapPolicy
    MisfirePolicy = spec.MisfirePolicy

    name = models.CharField(max_length=JOB_SPEC["name"].max_length, unique=True)
    description = models.TextField(blank=True)
    template_type = models.CharField(max_length=JOB_SPEC["template_type"].max_length)
    parameters = models.JSONField(default=dict, blank=True)
    schedule = models.JSONField()
    enabled = models.BooleanField(default=JOB_SPEC.default("enabled"))
    timeout_seconds = models.PositiveIntegerField(
        default=JOB_SPEC.default("timeout_seconds")
    )
    retry_policy = models.JSONField(default=default_retry_policy)
    notifications = models.JSONField(default=default_notifications, blank=True)
    # Missing keys (rows older than the option) read as the spec's defaults.
    watch = models.JSONField(default=default_watch, blank=True)
    overlap_policy = models.CharField(
        max_length=10,
        choices=OverlapPolicy.choices,
        default=JOB_SPEC.default("overlap_policy"),
    )
    misfire_policy = models.CharField(
        max_length=10,
        choices=MisfirePolicy.choices,
        default=JOB_SPEC.default("misfire_policy"),
    )
    queue = models.CharField(
        max_length=JOB_SPEC["queue"].max_length,
        blank=True,
        help_text="Celery queue; empty means the one set for the template's "
        "resource usage (SCHEDULER_QUEUES).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dynamic_jobs",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=20, blank=True)
    version = models.PositiveIntegerField(default=1)
    # The number of the JobVersion this row holds: the approved definition the
    # dispatcher runs. 0 while a new job waits for its first approval.
    definition_version = models.PositiveIntegerField(default=1)
    legacy_name = models.CharField(
        max_length=200,
        blank=True,
        db_index=True,
        help_text="The hard-coded job this one replaced (legacy_jobs migrate).",
    )

    class Meta:
        db_table = "dynamic_jobs"
        # One name for one thing on every screen (the app is "Scheduled jobs").
        verbose_name = "scheduled job"
        verbose_name_plural = "scheduled jobs"
        ordering = ["name"]
        permissions = [
            ("run_dynamicjob", "Can run a dynamic job now"),
            ("approve_dynamicjob", "Can approve or reject another user's change"),
        ]
        indexes = [
            # The dispatcher's one query per tick: due, enabled jobs.
            models.Index(
                fields=["enabled", "next_run_at"], name="dynamic_jobs_due_idx"
            ),
            models.Index(fields=["template_type"], name="dynamic_jobs_template_idx"),
            models.Index(fields=["last_status"], name="dynamic_jobs_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    timeout_seconds__gte=JOB_SPEC["timeout_seconds"].minimum
                ),
                name="dynamic_jobs_timeout_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(version__gte=1), name="dynamic_jobs_version_positive"
            ),
            # "Backup" and "backup" would be one job to a reader.
            models.UniqueConstraint(
                Lower("name"), name="dynamic_jobs_name_unique_any_case"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_schedule(self):
        return schedule_from_json(self.schedule)

    @property
    def schedule_description(self) -> str:
        try:
            return self.get_schedule().describe()
        except (KeyError, TypeError, ValueError):
            return "invalid schedule"

    @property
    def max_retries(self) -> int:
        return int((self.retry_policy or {}).get("max_retries", 0))


class JobVersion(models.Model):
    """One immutable definition of a job: what it does from this version on.

    Written only by scheduler_jobs.services (never updated). Secrets stay sealed
    in `definition`, exactly as the job row held them. Enabling and disabling are
    state, not definition: they are in the audit log, not here.
    """

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        IMPORT = "import", "Import"
        LEGACY = "legacy", "Legacy migration"
        REVERT = "revert", "Revert"
        APPROVAL = "approval", "Approved change"
        OTHER = "other", "Other"

    job = models.ForeignKey(
        DynamicJob, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    # The job's optimistic-lock version once this definition was saved: what a
    # change made on an older lock version is merged against (services.merge).
    # Empty for versions saved before it was kept.
    job_version = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_by_repr = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    comment = models.CharField(max_length=1000, blank=True)

    class Meta:
        db_table = "dynamic_job_versions"
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "number"], name="dynamic_job_versions_unique_number"
            ),
            models.CheckConstraint(
                condition=models.Q(number__gte=1),
                name="dynamic_job_versions_number_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job} v{self.number}"


class JobApproval(models.Model):
    """A proposed definition waiting for a second person (the two-person rule).

    Until it is approved the job keeps running its last approved version; the
    proposal's secrets are sealed like the job's.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded"

    job = models.ForeignKey(
        DynamicJob, on_delete=models.CASCADE, related_name="approvals"
    )
    definition = models.JSONField()
    enabled = models.BooleanField(default=True)
    base_version = models.PositiveIntegerField(
        help_text="The job's version (optimistic lock) the change was made against."
    )
    reason = models.CharField(max_length=300)
    comment = models.CharField(max_length=1000, blank=True)
    source = models.CharField(max_length=10, choices=JobVersion.Source.choices)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    proposed_by_repr = models.CharField(max_length=150)
    proposed_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.CharField(max_length=1000, blank=True)

    class Meta:
        db_table = "dynamic_job_approvals"
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job"],
                condition=models.Q(status="pending"),
                name="dynamic_job_approvals_one_pending",
            )
        ]
        indexes = [models.Index(fields=["status"], name="dyn_job_approvals_status")]

    def __str__(self) -> str:
        return f"Change to {self.job} ({self.get_status_display()})"


# Calendars, blackout windows and the maintenance pause live in their own module.
from scheduler_jobs.timeplan_models import (  # noqa: E402
    BlackoutWindow,
    Calendar,
    MaintenancePause,
)

__all__ = [
    "BlackoutWindow",
    "Calendar",
    "DynamicJob",
    "JobApproval",
    "JobVersion",
    "MaintenancePause",
]
