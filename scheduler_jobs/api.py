"""REST API for jobs: CRUD, manual run, history, schedule preview.

Views parse, check and call services; the order of the checks is the
security chain: authentication (401), staff and model permissions (403),
template exists (400), parameters (400), sanitisation, rate limit (429),
quota (403), then the service: access rules (403), save and audit.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
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
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.schedules import parse_schedule
from scheduler_jobs.serializers import (
    DynamicJobSerializer,
    DynamicJobUpdateSerializer,
    RunRequestSerializer,
    RunResponseSerializer,
    SchedulePreviewRequestSerializer,
    SchedulePreviewResponseSerializer,
    raise_nested,
)


def _editable(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k in services.EDITABLE_FIELDS}


@extend_schema_view(
    list=extend_schema(summary="List jobs"),
    create=extend_schema(summary="Create a job"),
    retrieve=extend_schema(summary="One job"),
    update=extend_schema(
        summary="Replace a job (send the current version)",
        responses={200: DynamicJobSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a job (send the current version)",
        responses={200: DynamicJobSerializer},
    ),
    destroy=extend_schema(summary="Delete a job (its executions are kept)"),
)
class DynamicJobViewSet(viewsets.ModelViewSet):
    queryset = DynamicJob.objects.select_related("created_by")
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

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        check_throttle(request, self, WriteThrottle)
        job = services.job_create(
            user=request.user,
            data=_editable(serializer.validated_data),
            request=request,
            source="api",
        )
        return Response(self.get_serializer(job).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        partial = kwargs.pop("partial", False)
        job = self.get_object()
        serializer = self.get_serializer(job, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        check_throttle(request, self, WriteThrottle)
        updated = services.job_update(
            job=job,
            user=request.user,
            data=_editable(serializer.validated_data),
            expected_version=serializer.validated_data["version"],
            request=request,
            source="api",
        )
        updated = self.get_queryset().get(pk=updated.pk)
        return Response(
            DynamicJobSerializer(updated, context=self.get_serializer_context()).data
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


class SchedulePreviewView(APIView):
    """What a schedule means in words, and its next five runs."""

    permission_classes = [IsStaff]

    @extend_schema(
        summary="Preview a schedule",
        request=SchedulePreviewRequestSerializer,
        responses={200: SchedulePreviewResponseSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = SchedulePreviewRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            schedule = parse_schedule(serializer.validated_data["schedule"])
        except DjangoValidationError as exc:
            raise_nested(
                DjangoValidationError(
                    {
                        ("schedule" if key == "__all__" else f"schedule.{key}"): errors
                        for key, errors in exc.message_dict.items()
                    }
                )
            )
        runs = schedule.next_runs(5, after=timezone.now())
        return Response(
            {
                "description": schedule.describe(),
                "next_runs": [run.isoformat() for run in runs],
            }
        )
