"""Download the file a run wrote: a data export's or a report's.

The file is served by the web process, so the same rules as the run's page
apply, plus the template's own: an export shows the rows of its table, so
whoever downloads it needs the view permission on that table, as whoever
created or ran the job did. The name comes from the run's result, written by
the worker, but is checked again against the template's folder, so a result
row edited in the database cannot reach another file.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from django.core.files.storage import Storage
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404, render

from executions.models import JobExecution
from job_templates.files import UnsafePath, check_inside_root, folder_storage
from job_templates.registry import registry
from scheduler_jobs import access

# The templates that leave a file behind, and the folder they write it in.
FILE_FOLDERS = {"data_export": "exports", "report_generation": "reports"}


class FileGone(Exception):
    """The run wrote a file, but it is no longer there (pruned or moved)."""


@dataclass(frozen=True)
class RunFile:
    storage: Storage
    name: str

    @property
    def filename(self) -> str:
        return posixpath.basename(self.name)


def produced_file_name(execution: JobExecution) -> str | None:
    """The name of the file the run wrote, or None when it wrote none.

    A dry run reports the path it would have written: there is no file.
    """
    if execution.template_type not in FILE_FOLDERS or execution.dry_run:
        return None
    result = execution.result
    if not isinstance(result, dict) or result.get("dry_run"):
        return None
    name = result.get("path")
    return name if isinstance(name, str) and name else None


def produced_file_label(execution: JobExecution, *, user: Any) -> str | None:
    """The file's own name (no folders) for the run page's Download link, or
    None when the run wrote none or `user` may not download it."""
    name = produced_file_name(execution)
    if name is None:
        return None
    try:
        execution_file_authorize(user=user, execution=execution)
    except access.AccessDenied:
        return None
    return posixpath.basename(name)


def execution_file_get(*, user: Any, execution: JobExecution) -> RunFile:
    """The run's file, for `user`; AccessDenied, Http404 or FileGone otherwise.

    Viewing executions is the right to see a run; the template's required
    permissions (view on the exported table) are the right to see its rows.
    """
    execution_file_authorize(user=user, execution=execution)
    name = produced_file_name(execution)
    if name is None:
        raise Http404("This run wrote no file.")
    storage = folder_storage(FILE_FOLDERS[execution.template_type])
    try:
        check_inside_root(storage, name)
    except UnsafePath:
        raise Http404("This run's file is outside its folder.") from None
    if not storage.exists(name):
        raise FileGone(
            f"The file {posixpath.basename(name)} is no longer there: it was "
            "removed after the run (old files are pruned). Run the job again "
            "for a new one."
        )
    return RunFile(storage=storage, name=name)


def execution_file_authorize(*, user: Any, execution: JobExecution) -> None:
    """AccessDenied unless `user` may see the run and the rows in its file."""
    access.authorize(user, access.Action.VIEW_EXECUTIONS)
    if user is access.SYSTEM or isinstance(user, str):
        return
    if execution.template_type not in registry:
        return
    template = registry.get(execution.template_type)
    try:
        wanted = list(template.required_permissions(execution.parameters or {}))
    except (KeyError, TypeError, ValueError):
        # Parameters too broken to judge: refuse rather than guess.
        raise access.AccessDenied(
            "This run's parameters cannot be checked, so its file is not shown."
        ) from None
    missing = [perm for perm in wanted if not user.has_perm(perm)]
    if missing:
        raise access.AccessDenied(
            "This file holds data you may not see: you need the permission "
            f"{', '.join(missing)}.",
            missing=missing,
        )


def execution_download_view(
    request: HttpRequest, execution_id: int, *, site_context: dict[str, Any]
):
    """The file as an attachment; a plain 404 page when it was pruned.

    `site_context` is the admin site's page context (header, branding).
    """
    execution = get_object_or_404(JobExecution, pk=execution_id)
    try:
        run_file = execution_file_get(user=request.user, execution=execution)
    except FileGone as exc:
        return render(
            request,
            "admin/executions/jobexecution/file_gone.html",
            {
                **site_context,
                "title": "File not found",
                "message": str(exc),
                "execution": execution,
            },
            status=404,
        )
    # FileResponse writes Content-Disposition with the name quoted (and
    # RFC 5987-encoded when it is not ASCII), so no name can add a header.
    response = FileResponse(
        run_file.storage.open(run_file.name, "rb"),
        as_attachment=True,
        filename=run_file.filename,
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response
