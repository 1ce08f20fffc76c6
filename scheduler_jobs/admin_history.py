"""The job admin's History (versions, diff, revert) and approval views.

A mixin of DynamicJobAdmin, kept apart because the job admin is long already.
Every view asks the services, which authorise; AccessDenied is a 403.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from scheduler_jobs import access, services
from scheduler_jobs.labels import job_zone_name
from scheduler_jobs.models import DynamicJob, JobApproval, JobVersion

VERSIONS_SHOWN = 200


class JobHistoryAdminMixin:
    """History, side-by-side diff, revert, and approve/reject on the job's page."""

    def history_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:job_id>/versions/",
                wrap(self.versions_view),
                name="scheduler_jobs_dynamicjob_versions",
            ),
            path(
                "<int:job_id>/versions/<int:number>/revert/",
                wrap(self.revert_view),
                name="scheduler_jobs_dynamicjob_revert",
            ),
            path(
                "<int:job_id>/approvals/<int:approval_id>/decide/",
                wrap(self.decide_view),
                name="scheduler_jobs_dynamicjob_decide",
            ),
        ]

    def versions_view(self, request: HttpRequest, job_id: int) -> TemplateResponse:
        access.authorize(request.user, access.Action.VIEW)
        job = get_object_or_404(DynamicJob, pk=job_id)
        versions = list(job.versions.order_by("-number")[:VERSIONS_SHOWN])
        older, newer = _compared(request, versions)
        context = {
            **self.admin_site.each_context(request),
            "opts": DynamicJob._meta,
            "title": f"History of “{job.name}”",
            "job": job,
            "zone": job_zone_name(job),
            "versions": versions,
            "older": older,
            "newer": newer,
            "rows": side_by_side(older, newer) if older and newer else [],
            "can_revert": access.allowed(request.user, access.Action.CHANGE),
            "change_url": reverse(
                "admin:scheduler_jobs_dynamicjob_change", args=[job.pk]
            ),
        }
        return TemplateResponse(
            request, "admin/scheduler_jobs/dynamicjob/history.html", context
        )

    def revert_view(self, request: HttpRequest, job_id: int, number: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = get_object_or_404(DynamicJob, pk=job_id)
        get_object_or_404(JobVersion, job=job, number=number)
        try:
            reverted = services.job_revert(
                job=job,
                number=number,
                user=request.user,
                expected_version=_int(request.POST.get("version")),
                request=request,
                source="admin",
            )
        except (ValidationError, services.VersionConflict) as exc:
            self.message_user(request, f"Not reverted: {_text(exc)}", messages.ERROR)
            return HttpResponseRedirect(_versions_url(job))
        self.message_user(
            request, _saved_message(reverted, f"Reverted to version {number}")
        )
        return HttpResponseRedirect(_versions_url(job))

    def decide_view(self, request: HttpRequest, job_id: int, approval_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        approval = get_object_or_404(JobApproval, pk=approval_id, job_id=job_id)
        approve = request.POST.get("decision") == "approve"
        try:
            services.approval_decide(
                approval=approval,
                user=request.user,
                approve=approve,
                comment=request.POST.get("comment", ""),
                request=request,
                source="admin",
            )
        except access.AccessDenied as exc:
            self.message_user(request, str(exc), messages.ERROR)
        except (ValidationError, services.VersionConflict) as exc:
            self.message_user(request, f"Not decided: {_text(exc)}", messages.ERROR)
        else:
            verb = "approved: it is the job's new version" if approve else "rejected"
            self.message_user(request, f"The change was {verb}.", messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:scheduler_jobs_dynamicjob_change", args=[job_id])
        )

    def pending_context(self, request: HttpRequest, job: DynamicJob) -> dict[str, Any]:
        """The pending change shown on the job's page, and whether this user decides."""
        approval = services.pending_for(job)
        if approval is None:
            return {}
        proposal = (
            approval.definition["template_type"],
            approval.definition["parameters"],
        )
        own = getattr(request.user, "pk", None) == approval.proposed_by_id
        return {
            "pending": approval,
            "pending_rows": _rows(services.approval_diff(approval)),
            "can_decide": not own
            and access.allowed(
                request.user, access.Action.APPROVE, definitions=[proposal]
            ),
            "own_pending": own,
        }


def confirm_page(
    request: HttpRequest,
    admin_site: Any,
    *,
    title: str,
    warnings: list[str],
    action_url: str,
    confirm_label: str,
    back_url: str,
    carried: list[tuple[str, str]] | None = None,
) -> TemplateResponse:
    """A question before a risky click; "confirm" comes back with the answer."""
    return TemplateResponse(
        request,
        "admin/scheduler_jobs/confirm_action.html",
        {
            **admin_site.each_context(request),
            "title": title,
            "warnings": warnings,
            "action_url": action_url,
            "confirm_label": confirm_label,
            "back_url": back_url,
            "carried": carried or [],
        },
    )


def side_by_side(older: JobVersion, newer: JobVersion) -> list[dict[str, Any]]:
    return _rows(services.definition_diff(older.definition, newer.definition))


def _rows(diff: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Diff rows ready for a two-column table (values as JSON, secrets as words)."""
    rows = []
    for row in diff:
        if row.get("secret"):
            before = "secret" if row["change"] != "set" else "not set"
            after = {"set": "secret set", "cleared": "not set"}.get(
                row["change"], "secret changed"
            )
        else:
            before, after = _shown(row.get("before")), _shown(row.get("after"))
        rows.append({**row, "before_text": before, "after_text": after})
    return rows


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    return json.dumps(value, ensure_ascii=False)


def _compared(
    request: HttpRequest, versions: list[JobVersion]
) -> tuple[JobVersion | None, JobVersion | None]:
    """The two versions to compare: ?a=&b=, else the newest against the one before."""
    by_number = {version.number: version for version in versions}
    a, b = _int(request.GET.get("a")), _int(request.GET.get("b"))
    if a in by_number and b in by_number and a != b:
        return by_number[min(a, b)], by_number[max(a, b)]
    if len(versions) >= 2:
        return versions[1], versions[0]
    return None, None


def _saved_message(job: DynamicJob, done: str) -> str:
    if getattr(job, "pending_approval", None) is not None:
        return (
            f"{done} proposed: the change is high-risk and waits for another "
            "person's approval; the job keeps its current version until then."
        )
    return f"{done}: version {job.definition_version} is current."


def _versions_url(job: DynamicJob) -> str:
    return reverse("admin:scheduler_jobs_dynamicjob_versions", args=[job.pk])


def _int(text: Any) -> int:
    try:
        return int(str(text))
    except ValueError:
        return 0


def _text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)
