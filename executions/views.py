"""Non-admin HTTP views of the executor: Prometheus metrics."""

from django.http import HttpResponse


def prometheus_metrics(request):
    return HttpResponse(status=404)
