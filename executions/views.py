"""HTTP views of the executor: /metrics, /health/ and the admin dashboard.

/metrics and the dashboard show the same figures
(executions.selectors.dashboard_metrics); /metrics and /health/ also show the
scheduler's own health (executions.health). Charts are drawn here as inline
SVG, so the dashboard needs no JavaScript and no asset from the internet, and
follows the admin's light or dark theme through CSS classes.
"""

from __future__ import annotations

import hmac
import math
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from executions import health, selectors
from executions.models import JobExecution
from job_templates.registry import registry
from scheduler_jobs import access
from scheduler_jobs.labels import format_datetime, plural

DASHBOARD_WINDOWS = (("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days"))
STATUS_LABELS = dict(JobExecution.Status.choices)


# --- Prometheus ---------------------------------------------------------------------


def _bearer_token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _gauge(
    name: str, doc: str, value: Any, labels: dict[str, str] | None = None
) -> GaugeMetricFamily:
    labels = labels or {}
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    family.add_metric(list(labels.values()), float(value))
    return family


class _DashboardCollector:
    """The dashboard's figures, the scheduler's health and the run counters.

    Names follow Prometheus' conventions: gauges over the `window` say so and
    never end in `_total`; 0-1 fractions end in `_ratio`; ages in `_seconds`;
    counters (`_total`) only ever grow, so `rate()` and `increase()` work
    across scrapes and instances.
    """

    def __init__(self, window: timedelta, window_label: str) -> None:
        self.window = window
        self.window_label = window_label

    def collect(self):
        yield from self._window_gauges()
        yield from self._health_gauges()
        yield from self._counters()

    def _window_gauges(self):
        m = selectors.dashboard_metrics(window=self.window, top=0)
        w = {"window": self.window_label}
        runs = GaugeMetricFamily(
            "dynamic_scheduler_window_runs",
            "Runs finished in the window, by status (failed includes timed out "
            "and exhausted); sum over status for all of them.",
            labels=["window", "status"],
        )
        for status in ("completed", "failed", "skipped", "cancelled"):
            runs.add_metric([self.window_label, status], float(m[status]))
        yield runs
        if m["success_rate"] is not None:
            yield _gauge(
                "dynamic_scheduler_success_ratio",
                "Completed / (completed + failed) in the window (0-1).",
                m["success_rate"],
                w,
            )
            yield _gauge(
                "dynamic_scheduler_failure_ratio",
                "Failed, timed out or exhausted / judged runs in the window (0-1).",
                m["failure_rate"],
                w,
            )
        if m["avg_duration_seconds"] is not None:
            yield _gauge(
                "dynamic_scheduler_avg_duration_seconds",
                "Average duration of completed and failed runs in the window.",
                m["avg_duration_seconds"],
                w,
            )
        for name, doc, key in (
            ("dynamic_scheduler_active_jobs", "Enabled jobs.", "active_jobs"),
            (
                "dynamic_scheduler_running_jobs",
                "Executions running now.",
                "running_jobs",
            ),
            ("dynamic_scheduler_queue_depth", "Executions queued now.", "queue_depth"),
            (
                "dynamic_scheduler_retry_pending",
                "Retries waiting for their delay.",
                "retry_pending",
            ),
        ):
            yield _gauge(name, doc, m[key])

    def _health_gauges(self):
        g = health.gauges()
        if g["ticked_at"] is not None:
            yield _gauge(
                "dynamic_scheduler_last_tick_timestamp_seconds",
                "Unix time of the newest beat heartbeat.",
                g["ticked_at"].timestamp(),
            )
        age = g["last_tick_age_seconds"]
        yield _gauge(
            "dynamic_scheduler_last_tick_age_seconds",
            "Seconds since beat last ticked (+Inf: it never has).",
            math.inf if age is None else age,
        )
        for name, doc, key in (
            (
                "dynamic_scheduler_beats_ticking",
                "Beat processes whose heartbeat is within the health limit.",
                "beats_ticking",
            ),
            (
                "dynamic_scheduler_late_jobs",
                "Jobs with a slot due longer ago than the late grace and not started.",
                "late_jobs",
            ),
            (
                "dynamic_scheduler_oldest_queued_age_seconds",
                "Seconds the oldest queued run has waited for a worker (0: none).",
                "oldest_queued_age_seconds",
            ),
            (
                "dynamic_scheduler_workers_seen",
                "Worker machines that started a run lately or are running one.",
                "workers_seen",
            ),
        ):
            yield _gauge(name, doc, g[key])

    def _counters(self):
        executions = CounterMetricFamily(
            "dynamic_scheduler_executions",
            "Executions (attempts) that ended, by status and template.",
            labels=["status", "template"],
        )
        retries = CounterMetricFamily(
            "dynamic_scheduler_retries",
            "Retries scheduled after a failed or timed-out execution, by template.",
            labels=["template"],
        )
        for row in health.run_counts():
            if row["status"] == JobExecution.Status.RETRY_PENDING:
                retries.add_metric([row["template_type"]], float(row["runs"]))
            else:
                executions.add_metric(
                    [row["status"], row["template_type"]], float(row["runs"])
                )
        yield executions
        yield retries


def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """The dashboard figures in Prometheus' text format.

    Allowed for a staff session that may view executions, or with
    `Authorization: Bearer <token>` when
    SCHEDULER_METRICS_TOKEN is set. Otherwise 401 (no credentials) or 403.
    `?window=24h|7d|30d` picks the window of the rates (default 24h).
    """
    token = settings.SCHEDULER_METRICS_TOKEN
    offered = _bearer_token(request)
    by_token = (
        bool(token)
        and bool(offered)
        and hmac.compare_digest(offered.encode(), token.encode())
    )
    user = getattr(request, "user", None)
    if not by_token:
        if offered or not (user and user.is_authenticated):
            response = HttpResponse(
                "Authentication required: a staff session or a bearer token.\n",
                status=401,
                content_type="text/plain",
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        try:
            # The same right as the API's metrics and the dashboard.
            access.authorize(user, access.Action.VIEW_EXECUTIONS)
        except access.AccessDenied as exc:
            return HttpResponse(f"{exc}\n", status=403, content_type="text/plain")
    label = request.GET.get("window", "24h")
    try:
        window = selectors.parse_window(label)
    except ValueError as exc:
        return HttpResponse(f"window: {exc}\n", status=400, content_type="text/plain")
    registry_ = CollectorRegistry(auto_describe=False)
    registry_.register(_DashboardCollector(window, label))
    return HttpResponse(generate_latest(registry_), content_type=CONTENT_TYPE_LATEST)


# --- Health -------------------------------------------------------------------------


@never_cache
@require_safe
def health_check(request: HttpRequest) -> JsonResponse:
    """/health/ for load balancers and Kubernetes probes: 200 or 503, JSON.

    Public on purpose (probes carry no credentials), so the body holds counts
    and ages only (executions.health.health_report). `?scope=web` checks only
    what serving pages needs.
    """
    scope = "web" if request.GET.get("scope") == "web" else "full"
    status, body = health.health_report(scope=scope)
    response = JsonResponse(body, status=status)
    # Django logs every 5xx as an ERROR; a probe polling an outage would add one
    # every few seconds. The body says what is wrong; the checks log a failing
    # database, cache or broker as a warning.
    response._has_been_logged = True
    return response


# --- Dashboard ------------------------------------------------------------------------


def workers_online() -> dict[str, Any]:
    """Celery workers answering a ping within half a second.

    The filesystem broker (the embedded default) has no remote control, so the
    number cannot be known there; that is said rather than shown as zero.
    """
    broker = str(settings.CELERY_BROKER_URL)
    if broker.startswith("filesystem://"):
        return {"known": False, "text": "unknown (this broker has no remote control)"}
    from config.celery import app

    try:
        replies = app.control.ping(timeout=0.5) or []
    except Exception as exc:  # broker down or no remote control
        return {"known": False, "text": f"unknown ({type(exc).__name__}: {exc})"[:200]}
    names = sorted(name for reply in replies for name in reply)
    return {"known": True, "count": len(names), "names": names, "text": str(len(names))}


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover


def runs_chart(window: timedelta) -> dict[str, Any]:
    """Stacked bars of finished runs per bucket and status, as SVG geometry."""
    size, buckets = selectors.runs_per_bucket(window=window)
    width, height, left, bottom, top = 720, 220, 40, 24, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    totals = [sum(b["counts"].values()) for b in buckets]
    y_max = _nice_max(max(totals or [0]))
    slot = plot_w / max(1, len(buckets))
    bar_w = max(1.0, slot * 0.8)
    bars = []
    for i, bucket in enumerate(buckets):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        segments = []
        for status, n in bucket["counts"].items():
            if not n:
                continue
            h = plot_h * n / y_max
            y -= h
            segments.append(
                {"status": status, "y": round(y, 1), "h": round(h, 1), "n": n}
            )
        bars.append(
            {
                "x": round(x, 1),
                "w": round(bar_w, 1),
                "segments": segments,
                "title": f"{format_datetime(bucket['start'])}: "
                f"{plural(totals[i], 'run')}",
            }
        )
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - 10,
        "baseline": top + plot_h,
        "label_y": height - 6,
        "bars": bars,
        "x_labels": _x_labels(buckets, size, left=left, slot=slot),
        "y_ticks": _y_ticks(y_max, top=top, plot_h=plot_h),
        "bucket": _describe_bucket(size),
        "empty": not any(totals),
        "statuses": [(s, STATUS_LABELS[s]) for s in selectors.CHART_STATUSES],
    }


def _x_labels(
    buckets: list[dict[str, Any]], size: timedelta, *, left: float, slot: float
) -> list[dict[str, Any]]:
    """A label every len/8 buckets, so labels stay apart however many bars.

    Buckets shorter than a day show the time, except at midnight, where the
    date says more.
    """
    hourly = size < timedelta(days=1)
    label_every = max(1, len(buckets) // 8)
    x_labels = []
    for i, b in enumerate(buckets):
        if i % label_every:
            continue
        start = timezone.localtime(b["start"])
        x_labels.append(
            {
                "x": round(left + i * slot + slot / 2, 1),
                "text": start.strftime("%H:%M" if hourly and start.hour else "%d %b"),
            }
        )
    return x_labels


def _y_ticks(y_max: float, *, top: float, plot_h: float) -> list[dict[str, Any]]:
    """Ticks at zero, the middle and the top of the axis."""
    # Run counts are whole numbers: no "2.5 runs" tick.
    middle = y_max // 2 if y_max >= 2 else y_max / 2
    return [
        {"y": round(top + plot_h - plot_h * value / y_max, 1), "text": f"{value:g}"}
        for value in (0, middle, y_max)
    ]


def _describe_bucket(size: timedelta) -> str:
    hours = int(size.total_seconds() // 3600)
    if hours == 1:
        return "per hour"
    if hours < 24:
        return f"per {hours} hours"
    return "per day"


def hbar_chart(
    rows: list[dict[str, Any]], *, series: list[str], label_key: str
) -> dict:
    """Horizontal bars, one group per row, one bar per series."""
    multi = len(series) > 1
    width, left = 460, 150
    row_h, bar_h = (34, 12) if multi else (24, 16)
    plot_w = width - left - 80
    top = 6
    x_max = _nice_max(max((r[s] for r in rows for s in series), default=0))
    out = []
    for i, row in enumerate(rows):
        y = top + i * row_h
        bars = []
        for j, s in enumerate(series):
            w = plot_w * row[s] / x_max if x_max else 0
            bars.append(
                {
                    "series": s,
                    "y": y + j * (bar_h + 2),
                    "w": round(max(w, 1), 1),
                    "value": row[s],
                    "text_x": round(left + max(w, 1) + 4, 1),
                    "text_y": y + j * (bar_h + 2) + bar_h - 2,
                }
            )
        out.append(
            {
                "label": row[label_key],
                "label_y": y + (len(series) * (bar_h + 2)) / 2 + 3,
                "bars": bars,
                "url": row.get("url", ""),
            }
        )
    return {
        "width": width,
        "height": top * 2 + max(1, len(rows)) * row_h,
        "left": left,
        "bar_h": bar_h,
        "rows": out,
        "empty": not rows,
    }


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def dashboard(request: HttpRequest, *, model_admin) -> TemplateResponse:
    """The admin dashboard: metrics, SVG charts, failures, workers."""
    window_label = request.GET.get("window", "24h")
    if window_label not in dict(DASHBOARD_WINDOWS):
        window_label = "24h"
    window = selectors.parse_window(window_label)
    metrics = selectors.dashboard_metrics(window=window, top=10)
    changelist = reverse("admin:executions_jobexecution_changelist")
    top_rows = [
        {
            "label": row["job_name"],
            "runs": row["runs"],
            "url": f"{changelist}?job={row['job_id']}",
        }
        for row in metrics["top_jobs"]
    ]
    for failure in metrics["recent_failures"]:
        failure["status_label"] = STATUS_LABELS.get(
            failure["status"], failure["status"]
        )
    duration_chart = _duration_chart(window)
    top_chart = hbar_chart(top_rows, series=["runs"], label_key="label")
    for chart_row in top_chart["rows"]:
        for bar in chart_row["bars"]:
            bar["text"] = str(bar["value"])
    cards = _cards(metrics)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Dashboard",
        "subtitle": None,
        "windows": DASHBOARD_WINDOWS,
        "window": window_label,
        "window_text": dict(DASHBOARD_WINDOWS)[window_label],
        "metrics": metrics,
        "cards": cards,
        "runs_chart": runs_chart(window),
        "top_chart": top_chart,
        "duration_chart": duration_chart,
        "workers": workers_online(),
        "wrong": selectors.wrong_now(),
        "changelist_url": changelist,
        "media": model_admin.media,
    }
    return TemplateResponse(request, "admin/executions/dashboard.html", context)


def _duration_chart(window: timedelta) -> dict[str, Any]:
    """p50 and p95 per template, named as the catalogue names it when installed.

    A template no longer installed still has runs in the window; its type
    stands in for the name.
    """
    percentiles = selectors.duration_percentiles_by_template(window=window)
    duration_rows = []
    for row in percentiles:
        template = (
            registry.get(row["template_type"])
            if row["template_type"] in registry
            else None
        )
        duration_rows.append(
            {
                "label": f"{template.icon} {template.name}"
                if template
                else row["template_type"],
                "p50": row["p50"],
                "p95": row["p95"],
            }
        )
    duration_chart = hbar_chart(duration_rows, series=["p50", "p95"], label_key="label")
    for chart_row in duration_chart["rows"]:
        for bar in chart_row["bars"]:
            bar["text"] = _fmt_seconds(bar["value"])
    return duration_chart


def _fmt_percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _cards(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures above the charts; a tone marks a rate worth a look."""
    return [
        {
            "label": "Success rate",
            "value": _fmt_percent(metrics["success_rate"]),
            "note": f"{metrics['completed']} completed",
            "tone": "good" if (metrics["success_rate"] or 0) >= 0.95 else "",
        },
        {
            "label": "Failure rate",
            "value": _fmt_percent(metrics["failure_rate"]),
            "note": f"{plural(metrics['failed'], 'run')} failed, timed out or "
            "gave up after retries",
            "tone": "bad" if (metrics["failure_rate"] or 0) > 0.05 else "",
        },
        {
            "label": "Average duration",
            "value": _fmt_seconds(metrics["avg_duration_seconds"]),
            "note": "of completed and failed attempts",
        },
        {
            "label": "Total runs",
            "value": metrics["total_runs"],
            "note": f"{metrics['skipped']} skipped, {metrics['cancelled']} cancelled",
        },
        {"label": "Active jobs", "value": metrics["active_jobs"], "note": "enabled"},
        {
            "label": "Running now",
            "value": metrics["running_jobs"],
            "note": "executions",
        },
        {
            "label": "Queue depth",
            "value": metrics["queue_depth"],
            "note": f"{plural(metrics['retry_pending'], 'retry', 'retries')} pending",
        },
    ]
