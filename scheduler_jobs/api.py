"""REST API for jobs: CRUD, manual run, history, schedule preview.

Views parse, check and call services; the order of the checks is the
security chain: authentication (401), staff and model permissions (403),
the body's shape and sanitisation (400), then the job service: the job's
rules, template and parameters included (400, checked once), the rate limit
(429, which the service calls back once the job is valid), access rules (403),
quota (403), save and audit.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.rest import (
    CountedPagination,
    IsStaff,
    ModelPermissions,
    NewestFirstCursorPagination,
    RunThrottle,
    SafeSearchFilter,
    StrictOrderingFilter,
    WriteThrottle,
    check_throttle,
    permission,
)
from executions import services as execution_services
from executions.models import JobExecution
from executions.serializers import LIST_COLUMNS, JobExecutionSerializer
from scheduler_jobs import access, services
from scheduler_jobs.filters import DynamicJobFilter
from scheduler_jobs.models import DynamicJob, JobApproval, JobVersion
from scheduler_jobs.schedules import parse_schedule
from scheduler_jobs.serializers import (
    ApprovalSerializer,
    DecisionRequestSerializer,
    DynamicJobSerializer,
    DynamicJobUpdateSerializer,
    JobVersionSerializer,
    RevertRequestSerializer,
    RunRequestSerializer,
    RunResponseSerializer,
    SchedulePreviewRequestSerializer,
    SchedulePreviewResponseSerializer,
    VersionDiffSerializer,
    raise_nested,
)
from scheduler_jobs.services import timeplan
from scheduler_jobs.spec import JOB_SPEC

NUMBER_PARAMETER = OpenApiParameter(
    "number",
    {"type": "integer", "minimum": 1, "maximum": 999_999_999},
    OpenApiParameter.PATH,
    description="A version number.",
)
AGAINST_PARAMETER = OpenApiParameter(
    "against",
    {"type": "integer", "minimum": 1, "maximum": 999_999_999},
    description="The version to compare with; default: the one before.",
)
VERSION_PATH = r"versions/(?P<number>[0-9]{1,9})"
MAY_VIEW = [IsStaff, permission(*access.MATRIX[access.Action.VIEW])]
MAY_CHANGE = [IsStaff, permission(*access.MATRIX[access.Action.CHANGE])]
MAY_APPROVE = [IsStaff, permission(*access.MATRIX[access.Action.APPROVE])]


# Actions whose answer is the job itself (with its pending change).
SHOWS_THE_JOB = frozenset(
    {"list", "retrieve", "create", "update", "partial_update", "revert"}
)


def _editable(attrs: dict[str, Any]) -> dict[str, Any]:
    fields = JOB_SPEC.fields()
    return {k: v for k, v in attrs.items() if k in fields}


@extend_schema_view(
    list=extend_schema(summary="List jobs"),
    create=extend_schema(summary="Create a job"),
    retrieve=extend_schema(summary="One job"),
    update=extend_schema(
        summary="Replace a job (send the current version; a stale one is 409)",
        responses={200: DynamicJobSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a job (send the version you read; later changes merge)",
        responses={200: DynamicJobSerializer},
    ),
    destroy=extend_schema(summary="Delete a job (its executions are kept)"),
)
class DynamicJobViewSet(viewsets.ModelViewSet):
    serializer_class = DynamicJobSerializer
    permission_classes = [IsStaff, ModelPermissions]
    pagination_class = CountedPagination
    filter_backends = [DjangoFilterBackend, SafeSearchFilter, StrictOrderingFilter]
    filterset_class = DynamicJobFilter
    search_fields = ["name", "description"]
    ordering_fields = [
        "id",
        "name",
        "template_type",
        "enabled",
        "created_at",
        "updated_at",
        "last_run_at",
        "next_run_at",
        "last_status",
    ]
    ordering = ["name"]
    lookup_value_regex = r"[0-9]+"

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return DynamicJobUpdateSerializer
        return DynamicJobSerializer

    def get_queryset(self):
        queryset = DynamicJob.objects.select_related("created_by")
        if self.action not in SHOWS_THE_JOB:
            return queryset
        # The pending change of every job on a page in one query.
        return queryset.prefetch_related(
            Prefetch(
                "approvals",
                queryset=JobApproval.objects.filter(status=JobApproval.Status.PENDING),
                to_attr="pending_approvals",
            )
        )

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = services.job_create(
            user=request.user,
            data=_editable(serializer.validated_data),
            request=request,
            source="api",
            comment=serializer.validated_data.get("comment", ""),
            when_valid=self._throttle_writes,
        )
        return Response(self.get_serializer(job).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        """PUT is strict (a stale version is 409); PATCH merges a stale one.

        A PATCH made on an older version is merged with what was saved since:
        the fields it sends are applied unless someone else changed them too,
        to another value; then it is 409 with `conflicts` (services.merge). A
        PUT replaces the whole job, so it cannot tell what its sender meant to
        change and stays strict.
        """
        partial = kwargs.pop("partial", False)
        job = self.get_object()
        serializer = self.get_serializer(job, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        try:
            updated = services.job_update(
                job=job,
                user=request.user,
                data=_editable(serializer.validated_data),
                expected_version=serializer.validated_data["version"],
                request=request,
                source="api",
                comment=serializer.validated_data.get("comment", ""),
                when_valid=self._throttle_writes,
                merge=services.Merge() if partial else None,
            )
        except services.MergeConflict as exc:
            return Response(
                {
                    "detail": str(exc),
                    "current_version": exc.current_version,
                    "conflicts": [conflict.as_dict() for conflict in exc.conflicts],
                },
                status=status.HTTP_409_CONFLICT,
            )
        return self._job_response(updated)

    def _throttle_writes(self) -> None:
        """The write rate limit, counted only for a valid change (see module doc)."""
        check_throttle(self.request, self, WriteThrottle)

    def _job_response(self, job: DynamicJob) -> Response:
        """200 with the job; 202 when the change waits for approval."""
        pending = getattr(job, "pending_approval", None)
        job = self.get_queryset().get(pk=job.pk)
        return Response(
            DynamicJobSerializer(job, context=self.get_serializer_context()).data,
            status=status.HTTP_202_ACCEPTED if pending else status.HTTP_200_OK,
        )

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        job = self.get_object()
        check_throttle(request, self, WriteThrottle)
        services.job_delete(job=job, user=request.user, request=request, source="api")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Run now (disabled jobs too)",
        request=RunRequestSerializer,
        responses={202: RunResponseSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[
            IsStaff,
            permission(*access.MATRIX[access.Action.RUN]),
        ],
    )
    def run(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        serializer = RunRequestSerializer(
            data=request.data, context={"request": request, "job": job}
        )
        serializer.is_valid(raise_exception=True)
        check_throttle(request, self, RunThrottle)
        execution = execution_services.run_now(
            job=job,
            user=request.user,
            dry_run=serializer.validated_data.get("dry_run"),
            parameters=serializer.validated_data.get("parameters"),
            request=request,
            source="api",
        )
        return Response(
            {"execution_id": execution.pk, "status": execution.status},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        summary="The job's executions, newest first",
        responses={200: JobExecutionSerializer(many=True)},
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[
            IsStaff,
            permission(
                "scheduler_jobs.view_dynamicjob", "executions.view_jobexecution"
            ),
        ],
        pagination_class=NewestFirstCursorPagination,
        filter_backends=[],
        serializer_class=JobExecutionSerializer,
    )
    def executions(self, request: Request, pk: str | None = None) -> Response:
        # The job's existence only; its id is all the history query needs.
        job_id = self.get_object().pk
        queryset = JobExecution.objects.filter(job_id=job_id).only(*LIST_COLUMNS)
        page = self.paginate_queryset(queryset)
        serializer = JobExecutionSerializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    @extend_schema(
        summary="The job's versions, newest first",
        responses={200: JobVersionSerializer(many=True)},
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        permission_classes=MAY_VIEW,
        pagination_class=CountedPagination,
        filter_backends=[],
        serializer_class=JobVersionSerializer,
    )
    def versions(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        page = self.paginate_queryset(job.versions.order_by("-number"))
        return self.get_paginated_response(JobVersionSerializer(page, many=True).data)

    @extend_schema(
        summary="One version of the job",
        responses={200: JobVersionSerializer},
        parameters=[NUMBER_PARAMETER],
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=VERSION_PATH,
        permission_classes=MAY_VIEW,
        serializer_class=JobVersionSerializer,
    )
    def version(
        self, request: Request, pk: str | None = None, number: str = ""
    ) -> Response:
        return Response(JobVersionSerializer(self._version(number)).data)

    @extend_schema(
        summary="What changed from version `against` to this one (secrets hidden)",
        responses={200: VersionDiffSerializer},
        parameters=[NUMBER_PARAMETER, AGAINST_PARAMETER],
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=f"{VERSION_PATH}/diff",
        permission_classes=MAY_VIEW,
        serializer_class=VersionDiffSerializer,
    )
    def version_diff(
        self, request: Request, pk: str | None = None, number: str = ""
    ) -> Response:
        newer = self._version(number)
        against = request.query_params.get("against") or str(newer.number - 1)
        if not (against.isascii() and against.isdigit() and len(against) <= 9):
            raise exceptions.ValidationError(
                {"against": ["Give the number of the version to compare with."]}
            )
        older = self._version(against)
        return Response(
            {
                "number": newer.number,
                "against": older.number,
                "changes": services.definition_diff(older.definition, newer.definition),
            }
        )

    @extend_schema(
        summary="Make this version current again, as a new version",
        request=RevertRequestSerializer,
        responses={200: DynamicJobSerializer, 202: DynamicJobSerializer},
        parameters=[NUMBER_PARAMETER],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=f"{VERSION_PATH}/revert",
        permission_classes=MAY_CHANGE,
        serializer_class=RevertRequestSerializer,
    )
    def revert(
        self, request: Request, pk: str | None = None, number: str = ""
    ) -> Response:
        job = self.get_object()
        self._version(number)
        serializer = RevertRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        check_throttle(request, self, WriteThrottle)
        reverted = services.job_revert(
            job=job,
            number=int(number),
            user=request.user,
            expected_version=serializer.validated_data["version"],
            request=request,
            source="api",
        )
        return self._job_response(reverted)

    def _version(self, number: str) -> JobVersion:
        job = self.get_object()
        try:
            return job.versions.get(number=int(number))
        except JobVersion.DoesNotExist:
            raise exceptions.NotFound(f"The job has no version {number}.") from None


@extend_schema_view(
    list=extend_schema(
        summary="Changes waiting for approval (?status=all for every one)"
    ),
    retrieve=extend_schema(summary="One proposed change, with its diff"),
)
class JobApprovalViewSet(viewsets.ReadOnlyModelViewSet):
    """The two-person rule's queue: proposed high-risk changes and their decisions."""

    serializer_class = ApprovalSerializer
    permission_classes = MAY_VIEW
    pagination_class = CountedPagination
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        queryset = JobApproval.objects.select_related("job", "decided_by").order_by(
            "-proposed_at", "-id"
        )
        wanted = self.request.query_params.get("status", JobApproval.Status.PENDING)
        if wanted == "all" or self.action != "list":
            return queryset
        if wanted not in JobApproval.Status.values:
            raise exceptions.ValidationError(
                {"status": [f"One of: all, {', '.join(JobApproval.Status.values)}."]}
            )
        return queryset.filter(status=wanted)

    @extend_schema(
        summary="Approve: the change becomes the job's next version",
        request=DecisionRequestSerializer,
        responses={200: ApprovalSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=MAY_APPROVE,
    )
    def approve(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, approve=True)

    @extend_schema(
        summary="Reject: the job keeps its definition",
        request=DecisionRequestSerializer,
        responses={200: ApprovalSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=MAY_APPROVE,
    )
    def reject(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, approve=False)

    def _decide(self, request: Request, *, approve: bool) -> Response:
        approval = self.get_object()
        serializer = DecisionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        check_throttle(request, self, WriteThrottle)
        decided = services.approval_decide(
            approval=approval,
            user=request.user,
            approve=approve,
            comment=serializer.validated_data["comment"],
            request=request,
            source="api",
        )
        return Response(ApprovalSerializer(decided).data)


class SchedulePreviewView(APIView):
    """What a schedule means in words, its next five runs, and the slots a
    calendar or blackout window skips or moves between them (with why)."""

    permission_classes = [IsStaff]

    @extend_schema(
        summary="Preview a schedule",
        request=SchedulePreviewRequestSerializer,
        responses={200: SchedulePreviewResponseSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = SchedulePreviewRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            schedule = parse_schedule(data["schedule"])
            # As the dispatcher will run it: calendar, windows and jitter applied.
            slots = timeplan.slot_preview(
                data["schedule"],
                job_name=data.get("job_name", ""),
                template_category=timeplan.category_of(data.get("template_type", "")),
                n=5,
                after=timezone.now(),
            )
        except DjangoValidationError as exc:
            raise_nested(
                DjangoValidationError(
                    {
                        ("schedule" if key == "__all__" else f"schedule.{key}"): errors
                        for key, errors in exc.message_dict.items()
                    }
                )
            )
        return Response(
            {
                "description": schedule.describe(),
                "next_runs": [slot.at.isoformat() for slot in slots if slot.runs],
                "slots": [
                    {
                        "at": slot.at,
                        "nominal": slot.nominal,
                        "outcome": slot.outcome,
                        "reason": slot.reason,
                    }
                    for slot in slots
                ],
            }
        )
