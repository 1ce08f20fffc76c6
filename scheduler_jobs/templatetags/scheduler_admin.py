"""The admin home page grouped for the people who use it: the scheduler first.

Django lists every installed app alphabetically, so celery-beat's Periodic
tasks, Crontabs and Intervals sat beside Scheduled jobs as if they were another
way to schedule one. Here they are grouped: the scheduler's screens, then users
and access, then "Advanced" (library screens the scheduler itself keeps up),
each row with a line that says what it is for. Only presentation: what a user
may see and do still comes from Django's app list, built from their permissions.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

register = template.Library()

SCHEDULER_APPS = ("scheduler_jobs", "executions", "job_templates", "audit")
ACCESS_APPS = ("auth", "authtoken")
ADVANCED_APPS = ("django_celery_beat", "axes")

# Row names where the model's own name says less than it should.
ROW_NAMES = {
    "executions.jobexecution": "Executions",
    "audit.auditentry": "Audit log",
    "scheduler_jobs.calendar": "Business calendars",
    "scheduler_jobs.maintenancepause": "Maintenance pause",
    "authtoken.tokenproxy": "API tokens",
    "authtoken.token": "API tokens",
    "axes.accessattempt": "Sign-in lockouts",
    "axes.accessfailurelog": "Failed sign-ins",
    "axes.accesslog": "Sign-in log",
}

HINTS = {
    "scheduler_jobs.dynamicjob": "Create, schedule, run and pause jobs. Start here.",
    "executions.jobexecution": "Every run: status, result, logs, re-run or cancel.",
    "executions.incident": "Jobs failing run after run, one row per problem: "
    "acknowledge or resolve.",
    "job_templates.jobtemplate": "What each kind of job does and the parameters it "
    "takes.",
    "audit.auditentry": "Who changed what, when and from where.",
    "scheduler_jobs.calendar": "Public holidays and business days that jobs can "
    "follow.",
    "scheduler_jobs.blackoutwindow": "Times when jobs must not run, once or again "
    "and again.",
    "scheduler_jobs.maintenancepause": "Stop all scheduled runs for a while, and "
    "resume.",
    "auth.user": "Who can sign in, and what each person may do.",
    "auth.group": "Sets of permissions to give several people at once.",
    "authtoken.tokenproxy": "Keys for the REST API, one per user.",
    "authtoken.token": "Keys for the REST API, one per user.",
    "axes.accessattempt": "Usernames locked out after repeated wrong passwords; "
    "delete a row to let that person try again.",
    "axes.accessfailurelog": "Each failed sign-in.",
    "axes.accesslog": "Each sign-in and sign-out.",
    "django_celery_beat.periodictask": "Celery beat's own timetable (the "
    "housekeeping task). Not for jobs: use Scheduled jobs.",
    "django_celery_beat.crontabschedule": "Times used by Celery beat's own tasks.",
    "django_celery_beat.intervalschedule": "Intervals used by Celery beat's own tasks.",
    "django_celery_beat.solarschedule": "Sunrise and sunset times for Celery "
    "beat's own tasks; unused here.",
    "django_celery_beat.clockedschedule": "One-off times for Celery beat's own "
    "tasks; unused here.",
}


TIME_PLAN_ROWS = frozenset(
    {
        "scheduler_jobs.calendar",
        "scheduler_jobs.blackoutwindow",
        "scheduler_jobs.maintenancepause",
    }
)


def _row(app: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    key = f"{app['app_label']}.{model['object_name'].lower()}"
    return {
        **model,
        "key": key,
        "id": key.replace(".", "-"),
        "name": ROW_NAMES.get(key, model["name"]),
        "hint": HINTS.get(key, ""),
    }


def _group(title: str, apps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    rows = [_row(app, model) for app in apps for model in app["models"]]
    return {"title": title, "rows": rows, "advanced": False, "note": "", **extra}


@register.simple_tag(takes_context=True)
def admin_groups(context: template.Context, app_list: list[dict[str, Any]]) -> list:
    """Django's app_list as groups: the scheduler, others, access, advanced."""
    by_label = {app["app_label"]: app for app in app_list}
    user = getattr(context.get("request"), "user", None)
    groups = []

    ours = [by_label[label] for label in SCHEDULER_APPS if label in by_label]
    if ours:
        group = _group("Dynamic Scheduler", ours, id="scheduler")
        # Jobs first; when they may run (calendars, windows, pause) after the rest.
        group["rows"].sort(key=lambda row: row["key"] in TIME_PLAN_ROWS)
        if user is not None and user.has_perm("executions.view_jobexecution"):
            dashboard = {
                "key": "executions.dashboard",
                "id": "executions-dashboard",
                "name": "Dashboard",
                "admin_url": reverse("admin:executions_dashboard"),
                "add_url": None,
                "view_only": True,
                "hint": "Success and failure rates, durations, queue and workers.",
            }
            group["rows"].insert(
                1 if ours[0]["app_label"] == "scheduler_jobs" else 0, dashboard
            )
        if user is not None and user.has_perm("scheduler_jobs.view_dynamicjob"):
            group["rows"].append(
                {
                    "key": "scheduler_jobs.simulator",
                    "id": "scheduler-jobs-simulator",
                    "name": "Simulator",
                    "admin_url": reverse("admin:scheduler_jobs_simulate"),
                    "add_url": None,
                    "view_only": True,
                    "hint": "What would run between two times, and after an outage.",
                }
            )
        groups.append(group)

    known = set(SCHEDULER_APPS + ACCESS_APPS + ADVANCED_APPS)
    for app in app_list:
        if app["app_label"] not in known:
            groups.append(_group(app["name"], [app], id=f"app-{app['app_label']}"))

    access = [by_label[label] for label in ACCESS_APPS if label in by_label]
    if access:
        groups.append(_group("Users and access", access, id="access"))

    advanced = [by_label[label] for label in ADVANCED_APPS if label in by_label]
    if advanced:
        groups.append(
            _group(
                "Advanced",
                advanced,
                id="advanced",
                advanced=True,
                note="Screens of the libraries the scheduler is built on. Jobs are "
                "not made here: use Scheduled jobs.",
            )
        )
    return groups
