"""Routes under /api/v1/ (the REST API).

Every route answers with and without its trailing slash, without a redirect:
clients that POST to /scheduler-jobs would otherwise lose their body to a 301.
"""

from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from django.urls import re_path, reverse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import exceptions, routers

from audit.api import AuditEntryViewSet
from config.rest import IsStaff, api_not_found
from executions.api import (
    IncidentViewSet,
    JobExecutionViewSet,
    MetricsView,
    WatchEventViewSet,
)
from job_templates.api import JobTemplateViewSet
from scheduler_jobs.api import (
    DynamicJobViewSet,
    JobApprovalViewSet,
    SchedulePreviewView,
)
from scheduler_jobs.api_timeplan import (
    BlackoutWindowViewSet,
    CalendarViewSet,
    MaintenancePauseView,
    SimulateView,
)


class ApiRootView(routers.APIRootView):
    """The Dynamic Scheduler API: the collections below. Staff only."""

    permission_classes = [IsStaff]


class Router(routers.DefaultRouter):
    """DefaultRouter whose routes match with or without the trailing slash."""

    APIRootView = ApiRootView
    include_format_suffixes = False

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


class SwaggerDocsView(SpectacularSwaggerView):
    """Swagger UI for staff; a visitor who is not logged in goes to the admin login."""

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.NotAuthenticated):
            login = reverse("admin:login")
            return HttpResponseRedirect(
                f"{login}?{urlencode({'next': self.request.path})}"
            )
        return super().handle_exception(exc)


router = Router()
router.register("scheduler-jobs", DynamicJobViewSet, basename="dynamicjob")
router.register("executions", JobExecutionViewSet, basename="jobexecution")
router.register("job-templates", JobTemplateViewSet, basename="jobtemplate")
router.register("audit", AuditEntryViewSet, basename="auditentry")
router.register("approvals", JobApprovalViewSet, basename="jobapproval")
router.register("incidents", IncidentViewSet, basename="incident")
router.register("watch-events", WatchEventViewSet, basename="watchevent")
router.register("calendars", CalendarViewSet, basename="calendar")
router.register("blackout-windows", BlackoutWindowViewSet, basename="blackoutwindow")

urlpatterns = [
    re_path(
        r"^schedule-preview/?$", SchedulePreviewView.as_view(), name="schedule-preview"
    ),
    re_path(r"^metrics/?$", MetricsView.as_view(), name="api-metrics"),
    re_path(
        r"^maintenance-pause/?$",
        MaintenancePauseView.as_view(),
        name="maintenance-pause",
    ),
    re_path(r"^simulate/?$", SimulateView.as_view(), name="simulate"),
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="api-schema"),
    re_path(
        r"^docs/?$",
        SwaggerDocsView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    *router.urls,
    # Last: any other path under /api/v1/ is a JSON 404, not the site's HTML page.
    re_path(r"^[\s\S]*$", api_not_found),
]
