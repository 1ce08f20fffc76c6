from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from scheduler_jobs.spec import JOB_SPEC


class JobExecution(models.Model):
    """One attempt at running a job for one scheduled slot (or a manual run).

    Retries are new rows (attempt 2, 3, …) linked to the first attempt and sharing
    its `scheduled_for`; the unique (job, scheduled_for, attempt) constraint is the
    last line of defence against a slot running twice.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        TIMEOUT = "timeout", "Timed out"
        RETRY_PENDING = "retry_pending", "Retry pending"
        EXHAUSTED = "exhausted", "Retries exhausted"
        SKIPPED = "skipped", "Skipped"
        CANCELLED = "cancelled", "Cancelled"

    class Trigger(models.TextChoices):
        SCHEDULER = "scheduler", "Scheduler"
        MANUAL = "manual", "Manual"
        RETRY = "retry", "Retry"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINISHED = (
        Status.COMPLETED,
        Status.FAILED,
        Status.TIMEOUT,
        Status.EXHAUSTED,
        Status.SKIPPED,
        Status.CANCELLED,
    )

    job = models.ForeignKey(
        "scheduler_jobs.DynamicJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="executions",
        db_index=False,  # covered by the (job, …) indexes below
    )
    job_name = models.CharField(max_length=200)
    # The JobVersion number the run was made from (null: before versions existed).
    job_version = models.PositiveIntegerField(null=True, blank=True)
    template_type = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=Status.choices)
    attempt = models.PositiveSmallIntegerField(default=1)
    first_attempt = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retries",
    )
    scheduled_for = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField(
        null=True, blank=True, help_text="When a pending retry becomes due."
    )
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the Celery message was last sent."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(
        null=True, blank=True, help_text="Past this (plus grace) the reaper ends it."
    )
    # Set by the worker when the run starts (executions.watch.run_started); the
    # beat's watch pass reports the run slow once it is still running past it.
    slow_at = models.DateTimeField(
        null=True, blank=True, help_text="Still running past this, it is slow."
    )
    duration_seconds = models.FloatField(null=True, blank=True)
    timeout_seconds = models.PositiveIntegerField(
        default=JOB_SPEC.default("timeout_seconds")
    )
    parameters = models.JSONField(default=dict, blank=True)
    dry_run = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    logs = models.JSONField(default=list, blank=True)
    logs_dropped = models.PositiveIntegerField(default=0)
    triggered_by = models.CharField(
        max_length=20, choices=Trigger.choices, default=Trigger.SCHEDULER
    )
    triggered_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    execution_host = models.CharField(max_length=255, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    queue = models.CharField(max_length=64, blank=True)

    class Meta:
        db_table = "job_executions"
        # The app and the list are both "Executions", not "Job executions".
        verbose_name = "execution"
        verbose_name_plural = "executions"
        ordering = ["-id"]
        permissions = [("cancel_jobexecution", "Can cancel a queued or running run")]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "scheduled_for", "attempt"],
                name="job_executions_one_run_per_slot_attempt",
            ),
            models.CheckConstraint(
                condition=Q(attempt__gte=1), name="job_executions_attempt_positive"
            ),
        ]
        indexes = [
            # The three the history and dashboard queries use.
            models.Index(fields=["job", "-started_at"], name="exec_job_started_idx"),
            models.Index(
                fields=["status", "-started_at"], name="exec_status_started_idx"
            ),
            models.Index(fields=["-started_at"], name="exec_started_idx"),
            # Lists are newest first by id (creation order, never NULL).
            models.Index(fields=["job", "-id"], name="exec_job_id_idx"),
            models.Index(fields=["status", "-id"], name="exec_status_id_idx"),
            # Small partial indexes for the dispatcher and the reaper.
            models.Index(
                fields=["due_at"],
                condition=Q(status="retry_pending"),
                name="exec_retry_due_idx",
            ),
            models.Index(
                fields=["deadline_at"],
                condition=Q(status="running"),
                name="exec_running_deadline_idx",
            ),
            models.Index(
                fields=["job", "created_at"],
                condition=Q(status="queued"),
                name="exec_queued_idx",
            ),
            # The watch pass: queued runs by slot (late), running runs by the
            # time they turn slow.
            models.Index(
                fields=["scheduled_for"],
                condition=Q(status="queued"),
                name="exec_queued_slot_idx",
            ),
            models.Index(
                fields=["slow_at"],
                condition=Q(status="running"),
                name="exec_running_slow_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_name} #{self.pk} ({self.status}, attempt {self.attempt})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def root_id(self) -> int | None:
        return self.first_attempt_id or self.pk

    @property
    def idempotency_key(self) -> str:
        """Same for every attempt of one slot, so receivers can drop repeats."""
        slot = self.scheduled_for.strftime("%Y%m%dT%H%M%S%fZ")
        return f"ds-{self.job_id or 'deleted'}-{slot}"


class BeatHeartbeat(models.Model):
    """When each beat process last ticked, for /health/, the banner and /metrics.

    One row per beat process (host/pid): two beats may run side by side for
    availability, and each updates only its own row, so they never wait on each
    other. A tick costs one UPDATE and no read (executions.health.Heartbeat);
    readers take the newest row.
    """

    instance = models.CharField(max_length=255, unique=True)
    started_at = models.DateTimeField()
    ticked_at = models.DateTimeField()

    class Meta:
        db_table = "beat_heartbeats"
        verbose_name = "beat heartbeat"

    def __str__(self) -> str:
        return f"{self.instance} ({self.ticked_at:%Y-%m-%d %H:%M:%S})"


class RunCount(models.Model):
    """Runs that ended, by status and template: the Prometheus `_total` counters.

    Database triggers on job_executions (migration 0004) add one whenever a row
    reaches a finished status, by insert (a skipped slot) or update (worker,
    reaper, cancel), so no code path can forget to count, and pruning old
    executions never lowers a counter. On PostgreSQL the increment goes to one
    of several `shard` rows picked by the session, so concurrent workers do not
    queue on one hot row; readers sum the shards.
    """

    status = models.CharField(max_length=20)
    template_type = models.CharField(max_length=64)
    shard = models.PositiveSmallIntegerField(default=0)
    runs = models.BigIntegerField(default=0)

    class Meta:
        db_table = "execution_run_counts"
        constraints = [
            models.UniqueConstraint(
                fields=["status", "template_type", "shard"],
                name="execution_run_counts_one_row_per_shard",
            )
        ]

    def __str__(self) -> str:
        return f"{self.template_type} {self.status}: {self.runs}"


# --- Watch events (executions.watch) ------------------------------------------------


class WatchEvent(models.Model):
    """Something that did not go as scheduled: a late or missed slot, a slow or
    suspiciously fast run.

    Shown in the job's history next to its executions. The unique (job, kind,
    slot) constraint is what keeps two beats from reporting one slot twice:
    whoever inserts the row owns it, and the alert is sent by whoever then
    moves `alerted_at` from empty to a time (executions.watch.deliver).
    """

    class Kind(models.TextChoices):
        LATE = "late", "Late start"
        MISSED = "missed", "Missed run"
        SLOW = "slow", "Slow run"
        TOO_FAST = "too_fast", "Suspiciously fast run"

    job = models.ForeignKey(
        "scheduler_jobs.DynamicJob",
        on_delete=models.CASCADE,
        related_name="watch_events",
        db_index=False,  # covered by the unique (job, kind, slot) index
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    slot = models.DateTimeField(help_text="The planned start the event is about.")
    execution = models.ForeignKey(
        JobExecution,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="watch_events",
    )
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    alerted_at = models.DateTimeField(
        null=True, blank=True, help_text="When its alert went out (or was settled)."
    )

    class Meta:
        db_table = "watch_events"
        verbose_name = "watch event"
        ordering = ["-slot", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "kind", "slot"], name="watch_events_one_per_slot"
            )
        ]
        indexes = [
            models.Index(fields=["job", "-slot"], name="watch_events_job_slot_idx"),
            models.Index(
                fields=["created_at"],
                condition=Q(alerted_at__isnull=True),
                name="watch_events_unsent_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of job {self.job_id} at {self.slot}"


class Incident(models.Model):
    """A problem with a job that stays open until it is over: one alert, not a storm.

    A failure streak opens one when a job's final failures in a row reach its
    threshold; a late or missed run opens a "not running" one. The job's first
    success closes either ("recovered"), or a person resolves it by hand. At
    most one incident per job and kind is open at a time: the partial unique
    constraint on (job, kind) where resolved_at IS NULL is what
    keeps two workers or two beats from opening, or alerting about, the same
    problem twice (on SQLite and PostgreSQL alike).
    """

    class Kind(models.TextChoices):
        FAILURE_STREAK = "failure_streak", "Failures in a row"
        NOT_RUNNING = "not_running", "Not running (late or missed runs)"

    class Resolution(models.TextChoices):
        RECOVERED = "recovered", "Recovered"
        BY_HAND = "resolved by hand", "Resolved by hand"

    job = models.ForeignKey(
        "scheduler_jobs.DynamicJob",
        on_delete=models.CASCADE,
        related_name="incidents",
        db_index=False,  # covered by the (job, …) constraint and index below
    )
    kind = models.CharField(
        max_length=32, choices=Kind.choices, default=Kind.FAILURE_STREAK
    )
    opened_at = models.DateTimeField()
    failures = models.PositiveIntegerField(default=0)
    last_execution = models.ForeignKey(
        JobExecution,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    last_alert_at = models.DateTimeField(null=True, blank=True)
    alerts_sent = models.PositiveIntegerField(default=0)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Null with a resolution of "recovered": the job's first success closed it.
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution = models.CharField(max_length=32, choices=Resolution.choices, blank=True)

    class Meta:
        db_table = "job_incidents"
        ordering = ["-opened_at", "-id"]
        # Seeing incidents goes with seeing executions (scheduler_jobs.access);
        # only the two actions on them have permissions of their own.
        default_permissions = ()
        permissions = [
            ("acknowledge_incident", "Can acknowledge an open incident"),
            ("resolve_incident", "Can resolve an open incident by hand"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "kind"],
                condition=Q(resolved_at__isnull=True),
                name="job_incidents_one_open_per_job_kind",
            ),
        ]
        indexes = [
            # The job page's incidents and the list filtered by job.
            models.Index(fields=["job", "-opened_at"], name="incident_job_opened_idx"),
            # Reminders read open incidents only, oldest alert first.
            models.Index(
                fields=["last_alert_at"],
                condition=Q(resolved_at__isnull=True),
                name="incident_open_alert_idx",
            ),
        ]

    def __str__(self) -> str:
        opened = f"{self.opened_at:%Y-%m-%d %H:%M} UTC" if self.opened_at else "?"
        return f"{self.get_kind_display()} of job #{self.job_id}, opened {opened}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def state(self) -> str:
        """ "Open", "Acknowledged" or "Resolved": what the list's badge says."""
        if self.resolved_at is not None:
            return "Resolved"
        if self.acknowledged_at is not None:
            return "Acknowledged"
        return "Open"
