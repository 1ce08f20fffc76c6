"""REST API for executions: list, detail, cancel, the dashboard's metrics, the
watch's events (late, missed, slow and too-fast runs) and incidents (list,
acknowledge, resolve)."""

from __future__ import annotations

import re

from django.db.models import F
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.rest import (
    MAX_ID,
    IsStaff,
    ModelPermissions,
    NewestFirstCursorPagination,
    WriteThrottle,
    check_throttle,
    permission,
)
from executions import incidents, services, watch
from executions.filters import JobExecutionFilter
from executions.models import Incident, JobExecution, WatchEvent
from executions.selectors import dashboard_metrics, parse_window
from executions.serializers import (
    LIST_COLUMNS,
    IncidentNoteSerializer,
    IncidentSerializer,
    JobExecutionDetailSerializer,
    JobExecutionSerializer,
    MetricsSerializer,
)
from scheduler_jobs import access

# The windows parse_window accepts, exactly, so the schema documents them.
WINDOW_PATTERN = re.compile(
    r"^(?:(?:[1-9][0-9]{0,2}|1[0-9]{3}|20[0-9]{2}|21[0-5][0-9]|2160)h"
    r"|(?:[1-9]|[1-8][0-9]|90)d)$"
)


@extend_schema_view(
    list=extend_schema(summary="List executions, newest first"),
    retrieve=extend_schema(summary="One execution, with its logs"),
)
class JobExecutionViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = JobExecution.objects.all()
    permission_classes = [IsStaff, ModelPermissions]
    pagination_class = NewestFirstCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = JobExecutionFilter
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        if self.action == "list":
            return JobExecution.objects.only(*LIST_COLUMNS)
        return JobExecution.objects.all()

    def get_serializer_class(self):
        if self.action == "list":
            return JobExecutionSerializer
        return JobExecutionDetailSerializer

    @extend_schema(
        summary="Cancel a queued or running execution",
        request=None,
        responses={200: JobExecutionDetailSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[
            IsStaff,
            permission(*access.MATRIX[access.Action.CANCEL]),
        ],
    )
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        execution = self.get_object()
        check_throttle(request, self, WriteThrottle)
        cancelled = services.execution_cancel(
            execution=execution, user=request.user, request=request, source="api"
        )
        return Response(JobExecutionDetailSerializer(cancelled).data)


class MetricsView(APIView):
    """The dashboard's figures over a window of finished executions."""

    permission_classes = [IsStaff, permission("executions.view_jobexecution")]

    @extend_schema(
        summary="Dashboard metrics",
        parameters=[
            OpenApiParameter(
                "window",
                OpenApiTypes.STR,
                description="24h, 7d, 30d, or N h / N d from 1h to 90d. Default (also "
                "when empty) 24h.",
                pattern=WINDOW_PATTERN.pattern,
            )
        ],
        responses={200: MetricsSerializer},
    )
    def get(self, request: Request) -> Response:
        text = request.query_params.get("window") or "24h"
        try:
            if not WINDOW_PATTERN.fullmatch(text):
                raise ValueError(
                    "window must be a number of hours (1h-2160h) or days (1d-90d), "
                    "e.g. 24h, 7d, 30d"
                )
            window = parse_window(text)
        except ValueError as exc:
            raise exceptions.ValidationError({"window": [str(exc)]}) from exc
        return Response(MetricsSerializer(dashboard_metrics(window=window)).data)


def _is_id(text: str) -> bool:
    """A primary key as the schema documents it: 1 to 2**63 - 1, digits only."""
    return (
        text.isascii() and text.isdigit() and len(text) <= 19 and 0 < int(text) < 2**63
    )


class WatchEventSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = WatchEvent
        fields = [
            "id",
            "job",
            "kind",
            "kind_label",
            "slot",
            "execution",
            "detail",
            "created_at",
            "alerted_at",
        ]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        summary="Late, missed, slow and too-fast runs, newest first",
        parameters=[
            OpenApiParameter("job", OpenApiTypes.INT, description="One job's events."),
            OpenApiParameter(
                "kind",
                OpenApiTypes.STR,
                enum=WatchEvent.Kind.values,
                description="Only events of this kind.",
            ),
        ],
    )
)
class WatchEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """What the watch noticed; for those who may see executions."""

    serializer_class = WatchEventSerializer
    permission_classes = [IsStaff]
    pagination_class = NewestFirstCursorPagination
    queryset = WatchEvent.objects.none()  # the schema's model; rows come below

    def get_queryset(self):
        job, kind = (
            self.request.query_params.get("job"),
            self.request.query_params.get("kind"),
        )
        errors = {}
        if job and not _is_id(job):
            errors["job"] = ["Must be a job's id (a whole number from 1)."]
        if kind and kind not in WatchEvent.Kind.values:
            errors["kind"] = [f"Must be one of: {', '.join(WatchEvent.Kind.values)}."]
        if errors:
            raise exceptions.ValidationError(errors)
        return watch.watch_events(
            user=self.request.user, job_id=int(job) if job else None, kind=kind
        )


INCIDENT_STATES = {
    "open": {"resolved_at__isnull": True, "acknowledged_at__isnull": True},
    "acknowledged": {"resolved_at__isnull": True, "acknowledged_at__isnull": False},
    "resolved": {"resolved_at__isnull": False},
}


@extend_schema_view(
    list=extend_schema(
        summary="List incidents, open ones first",
        parameters=[
            OpenApiParameter("state", OpenApiTypes.STR, enum=list(INCIDENT_STATES)),
            OpenApiParameter("job", OpenApiTypes.INT, description="A job's id."),
        ],
    ),
    retrieve=extend_schema(summary="One incident"),
)
class IncidentViewSet(viewsets.ReadOnlyModelViewSet):
    """A job's failures in a row, alerted once; acknowledged or resolved here."""

    serializer_class = IncidentSerializer
    permission_classes = [
        IsStaff,
        permission(*access.MATRIX[access.Action.VIEW_EXECUTIONS]),
    ]
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        queryset = Incident.objects.select_related(
            "job", "acknowledged_by", "resolved_by"
        ).order_by(F("resolved_at").asc(nulls_first=True), "-opened_at", "-id")
        if self.action != "list":
            return queryset
        state = self.request.query_params.get("state") or ""
        job = self.request.query_params.get("job") or ""
        errors = {}
        if state and state not in INCIDENT_STATES:
            errors["state"] = [f"Must be one of: {', '.join(INCIDENT_STATES)}."]
        if job and not (job.isascii() and job.isdigit() and 0 < int(job) <= MAX_ID):
            errors["job"] = ["Must be a job's id (a whole number)."]
        if errors:
            raise exceptions.ValidationError(errors)
        if state:
            queryset = queryset.filter(**INCIDENT_STATES[state])
        if job:
            queryset = queryset.filter(job_id=int(job))
        return queryset

    @extend_schema(
        summary="Acknowledge an open incident (reminders stop)",
        request=IncidentNoteSerializer,
        responses={200: IncidentSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[
            IsStaff,
            permission(*access.MATRIX[access.Action.ACKNOWLEDGE_INCIDENT]),
        ],
    )
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, incidents.incident_acknowledge)

    @extend_schema(
        summary="Resolve an open incident by hand",
        request=IncidentNoteSerializer,
        responses={200: IncidentSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[
            IsStaff,
            permission(*access.MATRIX[access.Action.RESOLVE_INCIDENT]),
        ],
    )
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, incidents.incident_resolve)

    def _decide(self, request: Request, service) -> Response:
        incident = self.get_object()
        body = IncidentNoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        check_throttle(request, self, WriteThrottle)
        try:
            done = service(
                incident=incident,
                user=request.user,
                note=body.validated_data["note"],
                request=request,
                source="api",
            )
        except incidents.IncidentClosed as exc:
            return Response(
                {"detail": str(exc), "state": "resolved"},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(IncidentSerializer(done).data)
