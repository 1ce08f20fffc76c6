"""REST API for when jobs may run: calendars, blackout windows, the maintenance
pause and the simulator.

Views check the body's JSON types and call scheduler_jobs.services.timeplan,
which authorises (403), validates (400 naming the field) and audits. The
permission classes answer 403 before the body is read, in the order of the
API's security chain (see scheduler_jobs.api).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils import timezone
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
    WriteThrottle,
    check_throttle,
    permission,
)
from scheduler_jobs import access
from scheduler_jobs.models import (
    BlackoutWindow,
    Calendar,
    DynamicJob,
    MaintenancePause,
)
from scheduler_jobs.serializers_timeplan import (
    FIRST_YEAR,
    LAST_YEAR,
    BlackoutWindowSerializer,
    CalendarDaySerializer,
    CalendarSerializer,
    PauseRequestSerializer,
    PauseStateSerializer,
    SimulateRequestSerializer,
    SimulateResponseSerializer,
)
from scheduler_jobs.services import timeplan

MAX_DAYS_RANGE = 3 * 366
FROM_PARAMETER = OpenApiParameter(
    "from",
    {"type": "string", "format": "date"},
    description="First day; default today.",
)
TO_PARAMETER = OpenApiParameter(
    "to",
    {"type": "string", "format": "date"},
    description="Last day; default a year after `from` (at most three years).",
)


def _dates_as_text(data: dict[str, Any]) -> dict[str, Any]:
    """Entry dates as YYYY-MM-DD, the form the calendar stores them in."""
    for key in ("extra_holidays", "extra_workdays"):
        if key in data:
            # A PATCH checks nested fields partially: a missing date goes on
            # to the service, which names the entry.
            data[key] = [
                {
                    "date": entry["date"].isoformat() if "date" in entry else None,
                    "name": entry.get("name", ""),
                }
                for entry in data[key]
            ]
    return data


class ServiceWritesMixin:
    """create/update/destroy of a ModelViewSet through the timeplan service."""

    create_service: Any
    update_service: Any
    delete_service: Any
    instance_name: str

    def service_data(self, validated: dict[str, Any]) -> dict[str, Any]:
        return dict(validated)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        check_throttle(request, self, WriteThrottle)
        created = type(self).create_service(
            actor=request.user,
            data=self.service_data(serializer.validated_data),
            request=request,
        )
        return Response(
            self.get_serializer(created).data, status=status.HTTP_201_CREATED
        )

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        if partial and not request.data:
            raise exceptions.ValidationError(
                {"non_field_errors": ["Send the fields to change."]}
            )
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        check_throttle(request, self, WriteThrottle)
        updated = type(self).update_service(
            actor=request.user,
            data=self.service_data(serializer.validated_data),
            request=request,
            **{self.instance_name: instance},
        )
        return Response(self.get_serializer(updated).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        check_throttle(request, self, WriteThrottle)
        type(self).delete_service(
            actor=request.user, request=request, **{self.instance_name: instance}
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="List business calendars"),
    create=extend_schema(summary="Create a business calendar"),
    retrieve=extend_schema(summary="One business calendar"),
    update=extend_schema(summary="Replace a business calendar"),
    partial_update=extend_schema(summary="Change a business calendar"),
    destroy=extend_schema(
        summary="Delete a business calendar (refused while jobs use it)"
    ),
)
class CalendarViewSet(ServiceWritesMixin, viewsets.ModelViewSet):
    serializer_class = CalendarSerializer
    permission_classes = [IsStaff, ModelPermissions]
    pagination_class = CountedPagination
    queryset = Calendar.objects.order_by("name")
    lookup_value_regex = r"[0-9]+"
    create_service = staticmethod(timeplan.calendar_create)
    update_service = staticmethod(timeplan.calendar_update)
    delete_service = staticmethod(timeplan.calendar_delete)
    instance_name = "calendar"

    def service_data(self, validated: dict[str, Any]) -> dict[str, Any]:
        return _dates_as_text(dict(validated))

    @extend_schema(
        summary="The calendar's days off and extra business days in a range",
        parameters=[FROM_PARAMETER, TO_PARAMETER],
        responses={200: CalendarDaySerializer(many=True)},
        filters=False,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def days(self, request: Request, pk: str | None = None) -> Response:
        calendar = self.get_object()
        start = _query_date(request, "from", timezone.localdate())
        end = _query_date(request, "to", start + timedelta(days=365))
        if end < start:
            raise exceptions.ValidationError({"to": ["Must not be before from."]})
        if (end - start).days > MAX_DAYS_RANGE:
            raise exceptions.ValidationError(
                {"to": ["At most three years after from."]}
            )
        days = [
            {"date": day, "kind": kind, "name": name}
            for day, kind, name in timeplan.calendar_days(calendar, start, end)
        ]
        return Response(CalendarDaySerializer(days, many=True).data)


def _query_date(request: Request, name: str, default: date) -> date:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise exceptions.ValidationError(
            {name: ["Must be a date as YYYY-MM-DD."]}
        ) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise exceptions.ValidationError(
            {name: [f"Must be in the years {FIRST_YEAR} to {LAST_YEAR}."]}
        )
    return day


@extend_schema_view(
    list=extend_schema(summary="List blackout windows"),
    create=extend_schema(summary="Create a blackout window"),
    retrieve=extend_schema(summary="One blackout window"),
    update=extend_schema(summary="Replace a blackout window"),
    partial_update=extend_schema(summary="Change a blackout window"),
    destroy=extend_schema(summary="Delete a blackout window"),
)
class BlackoutWindowViewSet(ServiceWritesMixin, viewsets.ModelViewSet):
    serializer_class = BlackoutWindowSerializer
    permission_classes = [IsStaff, ModelPermissions]
    pagination_class = CountedPagination
    queryset = BlackoutWindow.objects.select_related("job").order_by("name", "id")
    lookup_value_regex = r"[0-9]+"
    create_service = staticmethod(timeplan.window_create)
    update_service = staticmethod(timeplan.window_update)
    delete_service = staticmethod(timeplan.window_delete)
    instance_name = "window"


class MayPause(permission("scheduler_jobs.pause_scheduler")):
    """Reading the state is open to staff (every admin page shows it); writes
    need the pause right, asked before the body is read."""

    def has_permission(self, request, view) -> bool:
        return request.method in ("GET", "HEAD", "OPTIONS") or super().has_permission(
            request, view
        )


def pause_state_data() -> dict[str, Any]:
    """The pause in force, or the last one's resume (a read of the one row)."""
    active = timeplan.pause_state() is not None
    row = MaintenancePause.objects.filter(pk=MaintenancePause.SINGLETON).first()

    def who(user: Any) -> str | None:
        return user.get_username() if user is not None else None

    return {
        "active": active,
        "reason": row.reason if row and active else "",
        "resume_at": row.resume_at if row and active else None,
        "paused_by": who(row.paused_by) if row else None,
        "paused_at": row.paused_at if row else None,
        "resumed_by": who(row.resumed_by) if row else None,
        "resumed_at": row.resumed_at if row else None,
    }


class MaintenancePauseView(APIView):
    """The global pause: while active, no job starts on schedule."""

    permission_classes = [IsStaff, MayPause]

    @extend_schema(
        summary="Whether scheduling is paused", responses={200: PauseStateSerializer}
    )
    def get(self, request: Request) -> Response:
        return Response(PauseStateSerializer(pause_state_data()).data)

    @extend_schema(
        summary="Pause all scheduled runs",
        request=PauseRequestSerializer,
        responses={200: PauseStateSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = PauseRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        check_throttle(request, self, WriteThrottle)
        timeplan.pause(
            actor=request.user,
            reason=serializer.validated_data["reason"],
            resume_at=serializer.validated_data.get("resume_at"),
            request=request,
        )
        _forget_banner()
        return Response(PauseStateSerializer(pause_state_data()).data)

    @extend_schema(
        summary="Resume scheduling (each job catches up as its misfire policy says)",
        request=None,
        responses={200: PauseStateSerializer},
    )
    def delete(self, request: Request) -> Response:
        check_throttle(request, self, WriteThrottle)
        timeplan.resume(actor=request.user, request=request)
        _forget_banner()
        return Response(PauseStateSerializer(pause_state_data()).data)


def _forget_banner() -> None:
    from scheduler_jobs.templatetags.timeplan import forget_pause_banner

    forget_pause_banner()


class SimulateView(APIView):
    """What would run between two times, and what an outage would leave behind."""

    permission_classes = [IsStaff, permission(*access.MATRIX[access.Action.SIMULATE])]

    @extend_schema(
        summary="Simulate the schedule of some or all enabled jobs",
        request=SimulateRequestSerializer,
        responses={200: SimulateResponseSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = SimulateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        jobs = None
        if "job_ids" in data:
            jobs = list(DynamicJob.objects.filter(pk__in=data["job_ids"]))
            unknown = sorted(set(data["job_ids"]) - {job.pk for job in jobs})
            if unknown:
                raise exceptions.ValidationError(
                    {"job_ids": [f"No job with id {', '.join(map(str, unknown))}."]}
                )
        down = (data["down_from"], data["down_to"]) if data.get("down_from") else None
        simulation = timeplan.simulate(
            actor=request.user,
            start=data["start"],
            end=data["end"],
            jobs=jobs,
            down=down,
            limit=data["limit"],
        )
        return Response(SimulateResponseSerializer(simulation_data(simulation)).data)


def simulation_data(simulation: Any) -> dict[str, Any]:
    return {
        "slots": [
            {
                "job_id": simulated.job_id,
                "job_name": simulated.job_name,
                "at": slot.at,
                "nominal": slot.nominal,
                "outcome": slot.outcome,
                "reason": slot.reason,
            }
            for simulated in simulation.jobs
            for slot in simulated.slots
        ],
        "truncated": simulation.truncated,
    }
