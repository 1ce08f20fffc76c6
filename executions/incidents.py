"""Incidents: a job's failures in a row become one problem, alerted once.

When a run ends (`run_finished`, called by the worker after it recorded the
outcome), its job's final failures in a row are counted; a retried failure is
not final, so a run retried three times counts once, as on the dashboard.
Reaching the job's threshold (`watch.failure_threshold`, 3 by default) opens
an incident and sends `incident` once; further failures only raise its count;
the first success closes it and sends `recovered` once. A late or missed run
(executions.watch) opens a "not running" incident without an alert of its own
(the late or missed alert was it); the next success closes that one too.

While an incident stays open, beat sends a reminder every
`watch.realert_minutes` (60 by default; 0 sends none) through `remind`,
which it calls with its reaper pass. An
acknowledged incident gets no reminders: somebody is on it. A disabled job's
incident gets none either: stopping the job is taking care of it.

Two workers or two beats never send one alert twice: an incident is opened by
an INSERT that the partial unique constraint (one open incident per job and
kind) lets only one of them win, closed by a compare-and-set UPDATE on
`resolved_at IS NULL`, and reminded by a compare-and-set UPDATE of
`last_alert_at`; only the winner sends.

People acknowledge and resolve incidents through `incident_acknowledge` and
`incident_resolve`, which authorize and audit like every other service.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from audit import services as audit
from executions import alerts
from executions.models import Incident, JobExecution
from executions.notifications import append_logs
from scheduler_jobs.access import Action, authorize
from scheduler_jobs.spec import JOB_SPEC

logger = logging.getLogger(__name__)
Status = JobExecution.Status
Kind = Incident.Kind

# Final outcomes of a run; cancelled and skipped runs are neither.
FINAL_FAILURES = (Status.FAILED, Status.TIMEOUT, Status.EXHAUSTED)
OUTCOMES = (Status.COMPLETED, *FINAL_FAILURES)
# The defaults when the job spec has no watch options.
DEFAULT_THRESHOLD = 3
DEFAULT_REALERT_MINUTES = 60
NOTE_MAX_CHARS = 2000


class IncidentClosed(Exception):
    """The incident was resolved already; nothing to acknowledge or resolve."""

    def __init__(self, incident: Incident) -> None:
        super().__init__("This incident is resolved already.")
        self.incident = incident


def watch_setting(job: Any, key: str, fallback: int) -> int:
    """A job's watch option (`failure_threshold`, `realert_minutes`).

    A key missing from the job's stored options (a job saved before the option
    existed) reads as the spec's default.
    """
    name = f"watch.{key}"
    default = JOB_SPEC.default(name) if name in JOB_SPEC else fallback
    value = (getattr(job, "watch", None) or {}).get(key, default)
    return int(value) if isinstance(value, int) else default


# --- a run ended ---------------------------------------------------------------


def run_finished(*, execution: JobExecution, job: Any, final_status: str) -> None:
    """Open, count or close the job's failure streak after one run's outcome.

    Called after the outcome is committed. Never raises: the run is recorded
    whatever happens to its incident.
    """
    try:
        if final_status == Status.COMPLETED:
            _close_on_success(execution, job)
        elif final_status in FINAL_FAILURES and not _retried(execution, final_status):
            _count_failure(execution, job)
    except Exception:
        # The outcome is recorded already; an incident problem (the database,
        # a stored secret that no key opens) must not turn it into an error.
        logger.exception("Could not update the incidents of job %s", job.pk)


def _retried(execution: JobExecution, final_status: str) -> bool:
    """Whether a later attempt carries this run on (so it has not ended yet)."""
    if final_status == Status.EXHAUSTED:
        return False
    return JobExecution.objects.filter(
        first_attempt_id=execution.root_id, attempt=execution.attempt + 1
    ).exists()


def failure_streak(*, job_id: int, limit: int) -> int:
    """The job's final failures in a row, newest first, counting at most `limit`.

    Runs count by their last attempt (a retried attempt is skipped); cancelled
    and skipped runs neither break nor extend a streak.
    """
    from executions.selectors import with_retried

    recent = (
        with_retried(JobExecution.objects.filter(job_id=job_id, status__in=OUTCOMES))
        .filter(retried=False)
        .order_by("-id")
        .values_list("status", flat=True)[:limit]
    )
    streak = 0
    for status in recent:
        if status == Status.COMPLETED:
            break
        streak += 1
    return streak


def _open_streak(job_id: int) -> Any:
    return Incident.objects.filter(
        job_id=job_id, kind=Kind.FAILURE_STREAK, resolved_at__isnull=True
    )


def _count_failure(execution: JobExecution, job: Any) -> None:
    """One more failure: raise the open incident's count, or open one."""
    counted = {"failures": F("failures") + 1, "last_execution_id": execution.pk}
    if _open_streak(job.pk).update(**counted):
        return
    threshold = watch_setting(job, "failure_threshold", DEFAULT_THRESHOLD)
    streak = failure_streak(job_id=job.pk, limit=threshold)
    if streak < threshold:
        return
    now = timezone.now()
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                job_id=job.pk,
                kind=Kind.FAILURE_STREAK,
                opened_at=now,
                failures=streak,
                last_execution_id=execution.pk,
                last_alert_at=now,
                alerts_sent=1,
            )
    except IntegrityError:
        # Another worker opened it since the UPDATE above: count there.
        _open_streak(job.pk).update(**counted)
        return
    notes = alerts.send_alert(
        job=job,
        event="incident",
        subject=f"failing, {_runs(streak)} in a row",
        lines=_incident_lines(incident, execution),
        key=f"incident-{incident.pk}-opened",
        execution=_execution_ref(execution),
    )
    append_logs(execution, notes)


def open_incident_flag() -> Exists:
    """Whether the job (the outer query's row) has an open incident.

    The worker reads it with the job it already reads at the end of a run, so a
    success costs no query of its own when nothing is open, which is nearly
    always.
    """
    return Exists(
        Incident.objects.filter(job_id=OuterRef("pk"), resolved_at__isnull=True)
    )


def _close_on_success(execution: JobExecution, job: Any) -> None:
    """The first success closes the job's open incidents, each with one `recovered`."""
    if getattr(job, "open_incident", True) is False:
        return
    for incident in Incident.objects.filter(job_id=job.pk, resolved_at__isnull=True):
        _recover(incident, execution, job)


def _recover(incident: Incident, execution: JobExecution, job: Any) -> None:
    now = timezone.now()
    closed = Incident.objects.filter(pk=incident.pk, resolved_at__isnull=True).update(
        resolved_at=now,
        resolution=Incident.Resolution.RECOVERED,
        last_execution_id=execution.pk,
    )
    if not closed:
        return  # another worker's success closed it and alerted
    if incident.kind == Kind.NOT_RUNNING:
        subject = "recovered: it runs again"
        lines = [f"Not running since: {_utc(incident.opened_at)}"]
    else:
        subject = (
            f"recovered after {incident.failures} failed "
            f"run{'' if incident.failures == 1 else 's'}"
        )
        lines = [
            f"Failed runs in a row: {incident.failures}",
            f"Failing since: {_utc(incident.opened_at)}",
        ]
    notes = alerts.send_alert(
        job=job,
        event="recovered",
        subject=subject,
        lines=[*lines, f"Recovered at: {_utc(now)}", f"Execution id: {execution.pk}"],
        key=f"incident-{incident.pk}-recovered",
        execution=_execution_ref(execution),
    )
    append_logs(execution, notes)


def not_running(*, job_id: int, since: datetime) -> bool:
    """Open the job's "not running" incident after a late or missed run.

    The late or missed alert was its first alert, so opening sends nothing; the
    incident carries the reminders while it stays open, and the job's next
    success closes it with `recovered`. True if this call opened it (the
    partial unique constraint lets one of two beats win).
    """
    try:
        with transaction.atomic():
            Incident.objects.create(
                job_id=job_id,
                kind=Kind.NOT_RUNNING,
                opened_at=since,
                last_alert_at=timezone.now(),
                alerts_sent=1,
            )
    except IntegrityError:
        return False
    return True


def _incident_lines(incident: Incident, execution: JobExecution | None) -> list[str]:
    lines = [
        f"Failed runs in a row: {incident.failures}",
        f"Failing since: {_utc(incident.opened_at)}",
    ]
    if execution is not None:
        lines.append(f"Last execution id: {execution.pk}")
        if execution.error:
            lines += ["", "Last error:", execution.error[:4000]]
    return lines


def _execution_ref(execution: JobExecution) -> dict[str, Any]:
    return {"id": execution.pk, "status": execution.status}


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


# --- reminders (beat) ----------------------------------------------------------


def remind(now: datetime | None = None) -> int:
    """Remind about open incidents whose last alert is older than their interval.

    Called by beat with each reaper pass (every few seconds, not every tick);
    reads only open incidents through their partial index, so it costs
    O(open incidents). Returns the reminders sent.
    """
    now = now or timezone.now()
    due = (
        Incident.objects.filter(
            resolved_at__isnull=True,
            acknowledged_at__isnull=True,
            last_alert_at__lte=now - timedelta(minutes=1),
        )
        .select_related("job", "last_execution")
        .order_by("last_alert_at")
    )
    sent = 0
    for incident in due:
        if _reminder_due(incident, now) and _claim_reminder(incident, now):
            try:
                _send_reminder(incident)
            except Exception:
                # One job's broken channel must not stop beat or other reminders.
                logger.exception("Reminder for incident %s failed", incident.pk)
            sent += 1
    return sent


def _reminder_due(incident: Incident, now: datetime) -> bool:
    minutes = watch_setting(incident.job, "realert_minutes", DEFAULT_REALERT_MINUTES)
    return (
        minutes > 0
        and incident.job.enabled
        and incident.last_alert_at <= now - timedelta(minutes=minutes)
    )


def _claim_reminder(incident: Incident, now: datetime) -> bool:
    """Compare-and-set on last_alert_at: of two beats, one sends the reminder."""
    claimed = Incident.objects.filter(
        pk=incident.pk,
        resolved_at__isnull=True,
        acknowledged_at__isnull=True,
        last_alert_at=incident.last_alert_at,
    ).update(last_alert_at=now, alerts_sent=F("alerts_sent") + 1)
    if claimed:
        incident.alerts_sent += 1
    return bool(claimed)


def _send_reminder(incident: Incident) -> None:
    if incident.kind == Kind.NOT_RUNNING:
        subject = "still not running"
        details = [f"Not running since: {_utc(incident.opened_at)}"]
    else:
        subject = f"still failing, {_runs(incident.failures)} in a row"
        details = _incident_lines(incident, incident.last_execution)
    alerts.send_alert(
        job=incident.job,
        event="incident",
        subject=subject,
        lines=["Reminder: the incident is still open.", *details],
        key=f"incident-{incident.pk}-reminder-{incident.alerts_sent}",
    )


# --- people --------------------------------------------------------------------


def incident_acknowledge(
    *,
    incident: Incident,
    user: Any,
    note: str = "",
    request: Any = None,
    source: str = "admin",
) -> Incident:
    """Mark an open incident as being taken care of; reminders stop.

    Raises IncidentClosed if it was resolved meanwhile. Acknowledging again
    replaces the note and keeps who acknowledged first.
    """
    authorize(user, Action.ACKNOWLEDGE_INCIDENT)
    note = (note or "").strip()[:NOTE_MAX_CHARS]
    now = timezone.now()
    with transaction.atomic():
        current = Incident.objects.select_for_update().get(pk=incident.pk)
        if not current.is_open:
            raise IncidentClosed(current)
        was_acknowledged, old_note = current.acknowledged_at is not None, current.note
        if not was_acknowledged:
            current.acknowledged_at = now
            current.acknowledged_by = _user_or_none(user)
        current.note = note or current.note
        current.save(update_fields=["acknowledged_at", "acknowledged_by", "note"])
        audit.record(
            actor=user,
            action="acknowledge",
            target=current,
            changes={
                "acknowledged": {"before": was_acknowledged, "after": True},
                **({"note": {"before": old_note, "after": note}} if note else {}),
            },
            request=request,
            source=source,
        )
    return current


def incident_resolve(
    *,
    incident: Incident,
    user: Any,
    note: str = "",
    request: Any = None,
    source: str = "admin",
) -> Incident:
    """Close an open incident by hand (the job was fixed, or the alert was wrong).

    A later failure streak opens a new incident. Raises IncidentClosed if it
    was resolved meanwhile (by hand, or by the job's recovery).
    """
    authorize(user, Action.RESOLVE_INCIDENT)
    note = (note or "").strip()[:NOTE_MAX_CHARS]
    now = timezone.now()
    with transaction.atomic():
        current = Incident.objects.select_for_update().get(pk=incident.pk)
        closed = Incident.objects.filter(
            pk=current.pk, resolved_at__isnull=True
        ).update(
            resolved_at=now,
            resolved_by=_user_or_none(user),
            resolution=Incident.Resolution.BY_HAND,
            note=note or current.note,
        )
        if not closed:
            raise IncidentClosed(current)
        old_note, old_state = current.note, current.state.lower()
        current.refresh_from_db()
        audit.record(
            actor=user,
            action="resolve",
            target=current,
            changes={
                "state": {"before": old_state, "after": "resolved"},
                **({"note": {"before": old_note, "after": note}} if note else {}),
            },
            request=request,
            source=source,
        )
    return current


def _user_or_none(user: Any) -> Any:
    """The user to store; None for the system and shell operators."""
    return user if getattr(user, "pk", None) is not None else None
