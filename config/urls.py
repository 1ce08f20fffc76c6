from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from executions import views as execution_views

urlpatterns = [
    path(
        "admin/dashboard/",
        RedirectView.as_view(pattern_name="admin:executions_dashboard"),
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    path("metrics", execution_views.prometheus_metrics, name="prometheus-metrics"),
    # Public for load balancers and probes: counts and ages, no names or secrets.
    path("health/", execution_views.health_check, name="health"),
]
