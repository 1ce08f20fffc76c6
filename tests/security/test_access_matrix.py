"""Every role × action × entry point gives the allow or deny the matrix promises.

The expectation below is written out independently of the code's
`scheduler_jobs.access.MATRIX`, as SECURITY.md states it. Each probe does what a
person would do through one entry point (API, admin page, admin action,
management command) and reports whether it *took effect*: status codes alone
could hide a write that happened before a 403.

`test_every_entry_point_has_a_rule` fails when an API route, an admin URL, an
admin action or a management command is added without a probe here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from django.contrib import admin as django_admin
from django.core.management import CommandError, call_command, get_commands
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from executions.models import Incident, JobExecution
from scheduler_jobs import jobfiles, services
from scheduler_jobs.access import MATRIX, SYSTEM, Action
from scheduler_jobs.models import DynamicJob, JobApproval
from scheduler_jobs.services.approvals import approval_propose
from scheduler_jobs.services.validation import job_clean
from tests.admin.test_change_merge import form_values
from tests.api.conftest import token_client
from tests.security.conftest import ROLES, make_role, webhook_definition

pytestmark = pytest.mark.django_db

A = Action
EVERYTHING = frozenset(Action)
NEEDS_HIGH_RISK = frozenset(
    {A.ADD, A.CHANGE, A.ENABLE, A.DELETE, A.RUN, A.RUN_WITH_OVERRIDES, A.APPROVE}
)
EDITING = frozenset({A.VIEW, A.ADD, A.CHANGE, A.ENABLE, A.DISABLE, A.DELETE})
ALLOWED_ON_A_LOW_RISK_JOB: dict[str, frozenset[Action]] = {
    "anonymous": frozenset(),
    "non_staff": frozenset(),
    "view_only": frozenset({A.VIEW, A.VIEW_EXECUTIONS}),
    "run_only": frozenset(),  # running needs seeing the job
    "view_run": frozenset({A.VIEW, A.VIEW_EXECUTIONS, A.RUN}),
    "editor": EDITING,
    "editor_run": EDITING
    | {A.RUN, A.RUN_WITH_OVERRIDES, A.VIEW_EXECUTIONS, A.CANCEL}
    | {A.ACKNOWLEDGE_INCIDENT, A.RESOLVE_INCIDENT},
    "high_risk": EVERYTHING - {A.APPROVE},
    "approver": frozenset({A.VIEW, A.APPROVE}),
    "approver_low": frozenset({A.VIEW, A.APPROVE}),
    "superuser": EVERYTHING,
}
HIGH_RISK_ROLES = {"high_risk", "approver", "superuser"}


def expected(role: str, risky: bool, action: Action) -> bool:
    allowed = ALLOWED_ON_A_LOW_RISK_JOB[role]
    if risky and role not in HIGH_RISK_ROLES:
        allowed = allowed - NEEDS_HIGH_RISK
    return action in allowed


# --- the world a probe acts in ---------------------------------------------------


@dataclass
class World:
    user: Any
    job: DynamicJob
    risky: bool
    url: str

    @property
    def api(self) -> APIClient:
        return token_client(self.user) if self.user else APIClient()

    @property
    def web(self) -> Client:
        client = Client()
        if self.user:
            client.force_login(self.user)
        return client

    def fresh(self) -> DynamicJob | None:
        return DynamicJob.objects.filter(pk=self.job.pk).first()

    def execution(self, *, status: str = "queued", **params: Any) -> JobExecution:
        return JobExecution.objects.create(
            job=self.job,
            job_name=self.job.name,
            template_type=self.job.template_type,
            scheduled_for=self.job.created_at,
            parameters={**self.job.parameters, **params},
            status=status,
            celery_task_id=f"t-{status}-{self.job.pk}",
        )

    def runs(self) -> int:
        return JobExecution.objects.filter(job=self.job, triggered_by="manual").count()

    def definition(self, name: str) -> dict[str, Any]:
        if self.risky:
            return webhook_definition(self.url, name=name)
        return {
            "name": name,
            "template_type": "heartbeat",
            "parameters": {"message": "hi"},
            "schedule": {"type": "interval", "every_seconds": 300},
        }

    def override(self) -> dict[str, Any]:
        """A changed, non-secret parameter for a run with overrides."""
        if self.risky:
            return {"json_body": {"changed": True}}
        return {"message": "changed"}


def _command(world: World, name: str, *args: str) -> bool:
    try:
        call_command(name, *args, "--user", world.user.username, stdout=_Sink())
    except CommandError:
        return False
    return True


class _Sink:
    def write(self, *_: Any, **__: Any) -> None:
        pass

    def flush(self) -> None:
        pass


def _job_file(tmp: Any, definitions: list[dict[str, Any]]) -> str:
    path = tmp / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": definitions}))
    return str(path)


def _exported(world: World) -> dict[str, Any]:
    return jobfiles.jobs_export(names=[world.job.name], actor=SYSTEM)["jobs"][0]


# --- probes: one per entry point and action; each says whether it took effect ---

ADMIN = "/admin/scheduler_jobs/dynamicjob/"
EXECUTIONS = "/admin/executions/jobexecution/"
API = "/api/v1/scheduler-jobs/"


def api_view(w: World, tmp: Any) -> bool:
    return w.api.get(f"{API}{w.job.pk}/").status_code == 200


def api_add(w: World, tmp: Any) -> bool:
    w.api.post(API, w.definition("made by api"), format="json")
    return DynamicJob.objects.filter(name="made by api").exists()


def api_change(w: World, tmp: Any) -> bool:
    w.api.patch(
        f"{API}{w.job.pk}/",
        {"description": "changed", "version": w.job.version},
        format="json",
    )
    return w.fresh().description == "changed"


def api_enable(w: World, tmp: Any) -> bool:
    _disable(w)
    w.api.patch(
        f"{API}{w.job.pk}/",
        {"enabled": True, "version": w.fresh().version},
        format="json",
    )
    return w.fresh().enabled


def api_disable(w: World, tmp: Any) -> bool:
    w.api.patch(
        f"{API}{w.job.pk}/", {"enabled": False, "version": w.job.version}, format="json"
    )
    return not w.fresh().enabled


def api_delete(w: World, tmp: Any) -> bool:
    w.api.delete(f"{API}{w.job.pk}/")
    return w.fresh() is None


def api_run(w: World, tmp: Any) -> bool:
    w.api.post(f"{API}{w.job.pk}/run/", {}, format="json")
    return w.runs() == 1


def api_run_with_overrides(w: World, tmp: Any) -> bool:
    w.api.post(f"{API}{w.job.pk}/run/", {"parameters": w.override()}, format="json")
    return w.runs() == 1


def api_job_executions(w: World, tmp: Any) -> bool:
    w.execution(status="completed")
    return w.api.get(f"{API}{w.job.pk}/executions/").status_code == 200


def api_view_execution(w: World, tmp: Any) -> bool:
    execution = w.execution(status="completed")
    return w.api.get(f"/api/v1/executions/{execution.pk}/").status_code == 200


def api_list_executions(w: World, tmp: Any) -> bool:
    w.execution(status="completed")
    return w.api.get("/api/v1/executions/").status_code == 200


def api_metrics(w: World, tmp: Any) -> bool:
    return w.api.get("/api/v1/metrics/").status_code == 200


def api_watch_events(w: World, tmp: Any) -> bool:
    response = w.api.get(f"/api/v1/watch-events/?job={w.job.pk}")
    return response.status_code == 200


def api_cancel(w: World, tmp: Any) -> bool:
    execution = w.execution()
    w.api.post(f"/api/v1/executions/{execution.pk}/cancel/", format="json")
    execution.refresh_from_db()
    return execution.status == "cancelled"


def page_view(w: World, tmp: Any) -> bool:
    return w.web.get(f"{ADMIN}{w.job.pk}/change/").status_code == 200


def page_add(w: World, tmp: Any) -> bool:
    """The whole creation wizard, as a person clicks through it."""
    web = w.web
    definition = w.definition("made in the wizard")
    params = {
        key: json.dumps(value) if isinstance(value, dict) else value
        for key, value in definition["parameters"].items()
    }
    steps = [
        ("template", {"template_type": definition["template_type"]}),
        ("parameters", {"name": definition["name"], "parameters": json.dumps(params)}),
        (
            "schedule",
            {"schedule_type": "interval", "every": "5", "every_unit": "minutes"},
        ),
        (
            "options",
            {
                "timeout_seconds": "60",
                "max_retries": "0",
                "delay_seconds": "0",
                "backoff": "1",
                "overlap_policy": "skip",
                "misfire_policy": "run_once",
            },
        ),
        ("review", {"enabled": "on"}),
    ]
    web.get(f"{ADMIN}add/")
    for step, data in steps:
        payload = {"job_creation_wizard-current_step": step}
        payload.update({f"{step}-{key}": value for key, value in data.items()})
        web.post(f"{ADMIN}add/", payload)
    return DynamicJob.objects.filter(name="made in the wizard").exists()


def page_change(w: World, tmp: Any) -> bool:
    job = w.fresh()
    params = services.masked_job_parameters(job)
    form = {
        "name": job.name,
        "description": "changed in the admin",
        "enabled": "on",
        "version": str(job.version),
        "parameters": json.dumps(
            {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
        ),
        "timeout_seconds": str(job.timeout_seconds),
        "max_retries": "0",
        "delay_seconds": "0",
        "backoff": "1",
        "overlap_policy": job.overlap_policy,
        "misfire_policy": job.misfire_policy,
        "notify_on": ["failure"],
        "slack_webhook": services.masked_notifications(job.notifications)[
            "slack_webhook"
        ],
        **(
            {"schedule_type": "cron", "cron": "0 3 * * *", "timezone": "UTC"}
            if job.schedule["type"] == "cron"
            else {"schedule_type": "interval", "every": "5", "every_unit": "minutes"}
        ),
    }
    w.web.post(f"{ADMIN}{job.pk}/change/", form)
    return w.fresh().description == "changed in the admin"


def page_enable(w: World, tmp: Any) -> bool:
    _disable(w)
    w.web.post(f"{ADMIN}{w.job.pk}/toggle/")
    return w.fresh().enabled


def page_disable(w: World, tmp: Any) -> bool:
    w.web.post(f"{ADMIN}{w.job.pk}/toggle/")
    return not w.fresh().enabled


def page_delete(w: World, tmp: Any) -> bool:
    w.web.post(f"{ADMIN}{w.job.pk}/delete/", {"post": "yes"})
    return w.fresh() is None


def page_run(w: World, tmp: Any) -> bool:
    w.web.post(f"{ADMIN}{w.job.pk}/run/", {"confirm": "1"})
    return w.runs() == 1


def page_copy(w: World, tmp: Any) -> bool:
    """The job page's Copy, as a person opens it and creates the copy."""
    web, url = w.web, f"{ADMIN}{w.job.pk}/copy/"
    if web.get(url).status_code != 200:
        return False
    web.post(url, form_values(web, url))
    return DynamicJob.objects.filter(name__startswith=f"{w.job.name} (copy").exists()


def page_run_with_changes(w: World, tmp: Any) -> bool:
    """The job page's Run with changes…, with a changed parameter, confirmed."""
    web, url = w.web, f"{ADMIN}{w.job.pk}/run-with-changes/"
    if web.get(url).status_code != 200:
        return False
    values = form_values(web, url, "run_with_changes_form")
    params = json.loads(values["parameters"]) | w.override()
    web.post(url, values | {"parameters": json.dumps(params), "confirm": "1"})
    return w.runs() == 1


def page_rerun_with_other_parameters(w: World, tmp: Any) -> bool:
    execution = w.execution(status="completed", **w.override())
    w.web.post(f"{EXECUTIONS}{execution.pk}/rerun/")
    return w.runs() == 1


def page_view_execution(w: World, tmp: Any) -> bool:
    execution = w.execution(status="completed")
    return w.web.get(f"{EXECUTIONS}{execution.pk}/change/").status_code == 200


def page_dashboard(w: World, tmp: Any) -> bool:
    return w.web.get(f"{EXECUTIONS}dashboard/").status_code == 200


def page_cancel(w: World, tmp: Any) -> bool:
    execution = w.execution()
    w.web.post(f"{EXECUTIONS}{execution.pk}/cancel/", {"confirm": "1"})
    execution.refresh_from_db()
    return execution.status == "cancelled"


def prometheus(w: World, tmp: Any) -> bool:
    return w.web.get("/metrics").status_code == 200


def _action(w: World, url: str, action: str, pk: int, **extra: str) -> None:
    w.web.post(url, {"action": action, "_selected_action": [pk], **extra})


def action_run(w: World, tmp: Any) -> bool:
    _action(w, ADMIN, "run_selected", w.job.pk, confirm="1")
    return w.runs() == 1


def action_enable(w: World, tmp: Any) -> bool:
    _disable(w)
    _action(w, ADMIN, "enable_selected", w.job.pk)
    return w.fresh().enabled


def action_disable(w: World, tmp: Any) -> bool:
    _action(w, ADMIN, "disable_selected", w.job.pk)
    return not w.fresh().enabled


def action_duplicate(w: World, tmp: Any) -> bool:
    _action(w, ADMIN, "duplicate_selected", w.job.pk)
    return DynamicJob.objects.filter(name__startswith=f"{w.job.name} (copy").exists()


def action_delete(w: World, tmp: Any) -> bool:
    _action(w, ADMIN, "delete_selected", w.job.pk, post="yes")
    return w.fresh() is None


def action_cancel(w: World, tmp: Any) -> bool:
    execution = w.execution()
    _action(w, EXECUTIONS, "cancel_selected", execution.pk)
    execution.refresh_from_db()
    return execution.status == "cancelled"


def command_export(w: World, tmp: Any) -> bool:
    return _command(w, "export_jobs", "--output", str(tmp / "out.yaml"))


def command_import_new(w: World, tmp: Any) -> bool:
    _command(w, "import_jobs", _job_file(tmp, [w.definition("made by import")]))
    return DynamicJob.objects.filter(name="made by import").exists()


def command_import_change(w: World, tmp: Any) -> bool:
    definition = {**_exported(w), "description": "changed by import"}
    _command(w, "import_jobs", _job_file(tmp, [definition]))
    return w.fresh().description == "changed by import"


def command_import_prune(w: World, tmp: Any) -> bool:
    keeper = services.job_create(
        user=SYSTEM,
        data={
            "name": "keeper",
            "template_type": "heartbeat",
            "schedule": {"type": "interval", "every_seconds": 300},
        },
    )
    document = jobfiles.jobs_export(names=[keeper.name], actor=SYSTEM)
    _command(w, "import_jobs", "--prune", _job_file(tmp, document["jobs"]))
    return w.fresh() is None


def _two_versions(w: World) -> None:
    """Version 2 differs from version 1 in a parameter that is not secret."""
    job = w.fresh()
    services.job_update(
        job=job,
        user=SYSTEM,
        data={"parameters": {**job.parameters, **w.override()}},
        expected_version=job.version,
    )


def api_revert(w: World, tmp: Any) -> bool:
    _two_versions(w)
    w.api.post(
        f"{API}{w.job.pk}/versions/1/revert/",
        {"version": w.fresh().version},
        format="json",
    )
    return w.fresh().definition_version == 3


def api_versions(w: World, tmp: Any) -> bool:
    return w.api.get(f"{API}{w.job.pk}/versions/").status_code == 200


def page_revert(w: World, tmp: Any) -> bool:
    _two_versions(w)
    w.web.post(f"{ADMIN}{w.job.pk}/versions/1/revert/", {"version": w.fresh().version})
    return w.fresh().definition_version == 3


def page_versions(w: World, tmp: Any) -> bool:
    return w.web.get(f"{ADMIN}{w.job.pk}/versions/").status_code == 200


def _proposal(w: World) -> JobApproval:
    """A high-risk change proposed by someone else (the system)."""
    job = w.fresh()
    cleaned = job_clean(
        {"parameters": {**job.parameters, **w.override()}}, instance=job
    )
    return approval_propose(
        job=job, user=SYSTEM, cleaned=cleaned, reason="a test", source="test"
    )


def api_approve(w: World, tmp: Any) -> bool:
    approval = _proposal(w)
    w.api.post(f"/api/v1/approvals/{approval.pk}/approve/", {"comment": "ok"})
    approval.refresh_from_db()
    return approval.status == "approved"


def api_reject(w: World, tmp: Any) -> bool:
    approval = _proposal(w)
    w.api.post(f"/api/v1/approvals/{approval.pk}/reject/", {"comment": "no"})
    approval.refresh_from_db()
    return approval.status == "rejected"


def page_approve(w: World, tmp: Any) -> bool:
    approval = _proposal(w)
    w.web.post(
        f"{ADMIN}{w.job.pk}/approvals/{approval.pk}/decide/",
        {"decision": "approve", "comment": "ok"},
    )
    approval.refresh_from_db()
    return approval.status == "approved"


def _disable(w: World) -> None:
    DynamicJob.objects.filter(pk=w.job.pk).update(enabled=False, next_run_at=None)


INCIDENTS = "/admin/executions/incident/"


def _incident(w: World) -> Incident:
    from django.utils import timezone

    return Incident.objects.create(job=w.job, opened_at=timezone.now(), failures=3)


def api_incidents(w: World, tmp: Any) -> bool:
    _incident(w)
    return w.api.get("/api/v1/incidents/").status_code == 200


def page_incidents(w: World, tmp: Any) -> bool:
    incident = _incident(w)
    return w.web.get(f"{INCIDENTS}{incident.pk}/change/").status_code == 200


def api_acknowledge(w: World, tmp: Any) -> bool:
    incident = _incident(w)
    w.api.post(f"/api/v1/incidents/{incident.pk}/acknowledge/", {}, format="json")
    incident.refresh_from_db()
    return incident.acknowledged_at is not None


def api_resolve(w: World, tmp: Any) -> bool:
    incident = _incident(w)
    w.api.post(f"/api/v1/incidents/{incident.pk}/resolve/", {}, format="json")
    incident.refresh_from_db()
    return incident.resolved_at is not None


def page_acknowledge(w: World, tmp: Any) -> bool:
    incident = _incident(w)
    w.web.post(f"{INCIDENTS}{incident.pk}/acknowledge/", {"note": "on it"})
    incident.refresh_from_db()
    return incident.acknowledged_at is not None


def page_resolve(w: World, tmp: Any) -> bool:
    incident = _incident(w)
    w.web.post(f"{INCIDENTS}{incident.pk}/resolve/", {"note": "fixed"})
    incident.refresh_from_db()
    return incident.resolved_at is not None


def action_acknowledge(w: World, tmp: Any) -> bool:
    incident = _incident(w)
    _action(w, INCIDENTS, "acknowledge_selected", incident.pk)
    incident.refresh_from_db()
    return incident.acknowledged_at is not None


def action_resolve(w: World, tmp: Any) -> bool:
    incident = _incident(w)
    _action(w, INCIDENTS, "resolve_selected", incident.pk)
    incident.refresh_from_db()
    return incident.resolved_at is not None


Probe = Callable[[World, Any], bool]
# (entry point, action) -> probe
PROBES: dict[tuple[str, Action], Probe] = {
    ("api", A.VIEW): api_view,
    ("api", A.ADD): api_add,
    ("api", A.CHANGE): api_change,
    ("api", A.ENABLE): api_enable,
    ("api", A.DISABLE): api_disable,
    ("api", A.DELETE): api_delete,
    ("api", A.RUN): api_run,
    ("api", A.RUN_WITH_OVERRIDES): api_run_with_overrides,
    ("api job history", A.VIEW_EXECUTIONS): api_job_executions,
    ("api execution", A.VIEW_EXECUTIONS): api_view_execution,
    ("api execution list", A.VIEW_EXECUTIONS): api_list_executions,
    ("api metrics", A.VIEW_EXECUTIONS): api_metrics,
    ("api watch events", A.VIEW_EXECUTIONS): api_watch_events,
    ("api", A.CANCEL): api_cancel,
    ("admin page", A.VIEW): page_view,
    ("admin page", A.ADD): page_add,
    ("admin page", A.CHANGE): page_change,
    ("admin page", A.ENABLE): page_enable,
    ("admin page", A.DISABLE): page_disable,
    ("admin page", A.DELETE): page_delete,
    ("admin page", A.RUN): page_run,
    ("admin page", A.RUN_WITH_OVERRIDES): page_rerun_with_other_parameters,
    ("admin run with changes", A.RUN_WITH_OVERRIDES): page_run_with_changes,
    ("admin copy", A.ADD): page_copy,
    ("admin page", A.VIEW_EXECUTIONS): page_view_execution,
    ("admin dashboard", A.VIEW_EXECUTIONS): page_dashboard,
    ("admin page", A.CANCEL): page_cancel,
    ("prometheus", A.VIEW_EXECUTIONS): prometheus,
    ("admin action", A.RUN): action_run,
    ("admin action", A.ENABLE): action_enable,
    ("admin action", A.DISABLE): action_disable,
    ("admin action", A.ADD): action_duplicate,
    ("admin action", A.DELETE): action_delete,
    ("admin action", A.CANCEL): action_cancel,
    ("command", A.VIEW): command_export,
    ("command", A.ADD): command_import_new,
    ("command", A.CHANGE): command_import_change,
    ("command", A.DELETE): command_import_prune,
    ("api versions", A.VIEW): api_versions,
    ("api revert", A.CHANGE): api_revert,
    ("admin history", A.VIEW): page_versions,
    ("admin revert", A.CHANGE): page_revert,
    ("api", A.APPROVE): api_approve,
    ("admin page", A.APPROVE): page_approve,
    ("api incidents", A.VIEW_EXECUTIONS): api_incidents,
    ("admin incident", A.VIEW_EXECUTIONS): page_incidents,
    ("api", A.ACKNOWLEDGE_INCIDENT): api_acknowledge,
    ("api", A.RESOLVE_INCIDENT): api_resolve,
    ("admin page", A.ACKNOWLEDGE_INCIDENT): page_acknowledge,
    ("admin page", A.RESOLVE_INCIDENT): page_resolve,
    ("admin action", A.ACKNOWLEDGE_INCIDENT): action_acknowledge,
    ("admin action", A.RESOLVE_INCIDENT): action_resolve,
}
# Rejecting leaves the job as it is, so it needs the approve right only (no
# high-risk right): probed separately from the table above.
REJECTERS = {"approver", "approver_low", "superuser"}


def _cases():
    for role in ROLES:
        for risky in (False, True):
            for (entry, action), probe in PROBES.items():
                if entry == "command" and role == "anonymous":
                    continue  # a command always names a user
                if action is A.APPROVE and not risky:
                    continue  # only high-risk changes wait for approval
                yield pytest.param(
                    role,
                    risky,
                    probe,
                    action,
                    id=f"{role}-{'high' if risky else 'low'}-{entry}-{action}",
                )


@pytest.mark.parametrize(("role", "risky", "probe", "action"), _cases())
def test_role_action_entry_point(
    role, risky, probe, action, django_user_model, capture, tmp_path
):
    user = make_role(django_user_model, role)
    definition = (
        webhook_definition(capture.url("/hook"), name="the job")
        if risky
        else {
            "name": "the job",
            "template_type": "heartbeat",
            "schedule": {"type": "interval", "every_seconds": 300},
        }
    )
    job = services.job_create(user=SYSTEM, data=definition)
    world = World(user=user, job=job, risky=risky, url=capture.url("/hook"))

    took_effect = probe(world, tmp_path)

    assert took_effect is expected(role, risky, action), (
        f"{role} {'may' if expected(role, risky, action) else 'must not'} "
        f"{action} a {'high' if risky else 'low'}-risk job through {probe.__name__}"
    )
    assert not capture.requests, "a permission check let a request go out"


@pytest.mark.parametrize("role", list(ROLES))
def test_who_may_reject_a_change(role, django_user_model, capture):
    user = make_role(django_user_model, role)
    job = services.job_create(
        user=SYSTEM, data=webhook_definition(capture.url("/hook"), name="the job")
    )
    world = World(user=user, job=job, risky=True, url=capture.url("/hook"))

    assert api_reject(world, None) is (role in REJECTERS)


def test_the_code_matrix_is_the_documented_one():
    """The rights each action needs, as SECURITY.md's table lists them."""
    view, change = "scheduler_jobs.view_dynamicjob", "scheduler_jobs.change_dynamicjob"
    run, executions = "scheduler_jobs.run_dynamicjob", "executions.view_jobexecution"
    calendar = "scheduler_jobs.view_calendar"
    window = "scheduler_jobs.view_blackoutwindow"
    assert {
        A.VIEW: (view,),
        A.ADD: (view, "scheduler_jobs.add_dynamicjob"),
        A.CHANGE: (view, change),
        A.ENABLE: (view, change),
        A.DISABLE: (view, change),
        A.DELETE: (view, "scheduler_jobs.delete_dynamicjob"),
        A.RUN: (view, run),
        A.RUN_WITH_OVERRIDES: (view, run, change),
        A.VIEW_EXECUTIONS: (executions,),
        A.CANCEL: (executions, "executions.cancel_jobexecution"),
        A.APPROVE: (view, "scheduler_jobs.approve_dynamicjob"),
        A.ACKNOWLEDGE_INCIDENT: (executions, "executions.acknowledge_incident"),
        A.RESOLVE_INCIDENT: (executions, "executions.resolve_incident"),
        A.VIEW_CALENDARS: (calendar,),
        A.ADD_CALENDAR: (calendar, "scheduler_jobs.add_calendar"),
        A.CHANGE_CALENDAR: (calendar, "scheduler_jobs.change_calendar"),
        A.DELETE_CALENDAR: (calendar, "scheduler_jobs.delete_calendar"),
        A.VIEW_WINDOWS: (window,),
        A.ADD_WINDOW: (window, "scheduler_jobs.add_blackoutwindow"),
        A.CHANGE_WINDOW: (window, "scheduler_jobs.change_blackoutwindow"),
        A.DELETE_WINDOW: (window, "scheduler_jobs.delete_blackoutwindow"),
        A.PAUSE: ("scheduler_jobs.pause_scheduler",),
        A.SIMULATE: (view,),
    } == MATRIX


# --- no entry point without a rule -------------------------------------------------

# Entry points that are covered by a probe above, or need no rule of the matrix
# (with the reason). A new route, admin URL, action or command must be added here
# with its probe, or the test below fails.
ENTRY_POINTS = {
    # API and other URLs
    "url:dynamicjob-list": "probe: api view/add",
    "url:dynamicjob-detail": "probe: api view/change/enable/disable/delete",
    "url:dynamicjob-run": "probe: api run, run with overrides",
    "url:dynamicjob-executions": "probe: api job history",
    "url:watchevent-list": "probe: api watch events",
    "url:jobexecution-list": "probe: api execution list",
    "url:jobexecution-detail": "probe: api execution",
    "url:jobexecution-cancel": "probe: api cancel",
    "url:api-metrics": "probe: api metrics",
    "url:prometheus-metrics": "probe: prometheus",
    "url:health": "public for probes: counts and ages only (tests/executions)",
    "url:schedule-preview": "staff only; reads no job, runs nothing",
    "url:jobtemplate-list": "template catalogue: code, no job data",
    "url:jobtemplate-detail": "template catalogue: code, no job data",
    "url:auditentry-list": "read-only, audit.view_auditentry (tests/api)",
    "url:auditentry-detail": "read-only, audit.view_auditentry (tests/api)",
    "url:api-schema": "the OpenAPI document",
    "url:api-docs": "Swagger UI",
    "url:api-root": "links only",
    "url:dynamicjob-versions": "probe: api versions",
    "url:dynamicjob-version": "view, as api versions",
    "url:dynamicjob-version-diff": "view, as api versions",
    "url:dynamicjob-revert": "probe: api revert",
    "url:jobapproval-list": "view: the queue of proposals",
    "url:jobapproval-detail": "view: one proposal",
    "url:jobapproval-approve": "probe: api approve",
    "url:jobapproval-reject": "probe: test_who_may_reject_a_change",
    "url:incident-list": "probe: api incidents",
    "url:incident-detail": "view executions, as api incidents",
    "url:incident-acknowledge": "probe: api acknowledge_incident",
    "url:incident-resolve": "probe: api resolve_incident",
    # Calendars, windows, pause, simulator: tests/api/test_timeplan_api.py
    "url:calendar-list": "calendar view/add rights",
    "url:calendar-detail": "calendar view/change/delete rights",
    "url:calendar-days": "calendar view right",
    "url:blackoutwindow-list": "window view/add rights",
    "url:blackoutwindow-detail": "window view/change/delete rights",
    "url:maintenance-pause": "any staff reads; pausing and resuming need the right",
    "url:simulate": "view jobs; reads only",
    # admin URLs of the project's own
    "admin:scheduler_jobs_dynamicjob_run": "probe: admin page run",
    "admin:scheduler_jobs_dynamicjob_toggle": "probe: admin page enable/disable",
    "admin:scheduler_jobs_dynamicjob_copy": "probe: admin copy",
    "admin:scheduler_jobs_dynamicjob_run_with_changes": (
        "probe: admin run with changes"
    ),
    "admin:scheduler_jobs_dynamicjob_schedule_preview": "add or change; no job data",
    "admin:scheduler_jobs_dynamicjob_upcoming": (
        "view: names and times, as the job list (tests/admin/test_upcoming_page.py)"
    ),
    "admin:scheduler_jobs_dynamicjob_versions": "probe: admin history",
    "admin:scheduler_jobs_dynamicjob_revert": "probe: admin revert",
    "admin:scheduler_jobs_dynamicjob_decide": "probe: admin page approve",
    "admin:executions_jobexecution_rerun": "probe: admin page rerun",
    "admin:executions_jobexecution_cancel": "probe: admin page cancel",
    "admin:executions_dashboard": "probe: admin dashboard",
    "admin:executions_incident_acknowledge": "probe: admin page acknowledge",
    "admin:executions_incident_resolve": "probe: admin page resolve",
    "admin:executions_jobexecution_logs": (
        "view executions (tests/executions/test_live_logs.py)"
    ),
    "admin:scheduler_jobs_simulate": "view jobs (tests/admin/test_timeplan_admin.py)",
    "admin:executions_jobexecution_download": (
        "view executions + the template's model permissions (tests/executions/"
        "test_downloads.py)"
    ),
    # admin actions
    "action:scheduler_jobs.dynamicjob:run_selected": "probe",
    "action:scheduler_jobs.dynamicjob:enable_selected": "probe",
    "action:scheduler_jobs.dynamicjob:disable_selected": "probe",
    "action:scheduler_jobs.dynamicjob:duplicate_selected": "probe",
    "action:scheduler_jobs.dynamicjob:delete_selected": "probe",
    "action:executions.jobexecution:cancel_selected": "probe",
    "action:executions.incident:acknowledge_selected": "probe",
    "action:executions.incident:resolve_selected": "probe",
    # management commands of the project's apps
    "command:export_jobs": "probe: command view",
    "command:import_jobs": "probe: command add/change/delete",
    "command:legacy_jobs": "--user like import_jobs; services check it",
    "command:bootstrap_demo": "creates the first superuser: make run only",
    "command:rotate_secrets": "operator's key rotation: changes no definition",
}
OURS = ("scheduler_jobs", "executions", "audit", "job_templates")


def _names(resolver: URLResolver, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            namespace = pattern.namespace or ""
            names |= _names(pattern, f"{prefix}{namespace}:" if namespace else prefix)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(f"{prefix}{pattern.name}")
    return names


def _entry_points(superuser) -> set[str]:
    from django.test import RequestFactory

    found = set()
    for name in _names(get_resolver()):
        bare = name.split(":")[-1].removesuffix("-format")
        if not name.startswith("admin:"):
            found.add(f"url:{bare}")
        elif bare.startswith(OURS) and not bare.endswith(
            ("_changelist", "_add", "_change", "_delete", "_history")
        ):
            found.add(f"admin:{bare}")
    request = RequestFactory().get("/")
    request.user = superuser
    for model, model_admin in django_admin.site._registry.items():
        if model._meta.app_label in OURS:
            for action in model_admin.get_actions(request):
                found.add(f"action:{model._meta.label_lower}:{action}")
    for command, app in get_commands().items():
        if app in OURS:
            found.add(f"command:{command}")
    return found


def test_every_entry_point_has_a_rule(django_user_model):
    found = _entry_points(make_role(django_user_model, "superuser"))
    missing = sorted(found - ENTRY_POINTS.keys())
    assert not missing, (
        "Entry points with no rule in this test: add a probe (or the reason none is "
        f"needed) to ENTRY_POINTS: {missing}"
    )
    stale = sorted(ENTRY_POINTS.keys() - found)
    assert not stale, f"ENTRY_POINTS names entry points that no longer exist: {stale}"
