"""The "Upcoming runs" page: a week (or a day) of the enabled jobs' next runs.

A face only: the runs come from services.upcoming, which authorises. Times are
laid out in the viewer's chosen zone (the site's zone by default), with each
job's own time beside it when its zone differs, so a Berlin job at 02:30 reads
"01:30 UTC · 02:30 CET". At 1440 px the week is a grid of seven days; on a
phone the same days stack as a list.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from scheduler_jobs.labels import format_datetime, plural, zone, zone_abbreviation
from scheduler_jobs.services.upcoming import MAX_RUNS, upcoming_runs

VIEWS = {"week": 7, "day": 1}


class UpcomingForm(forms.Form):
    """What the page shows: a week or a day, from which date, in which zone."""

    view = forms.ChoiceField(
        label="Show", choices=[("week", "Week"), ("day", "Day")], required=False
    )
    start = forms.DateField(
        label="From",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The first day shown; today when empty.",
    )
    tz = forms.ChoiceField(label="Times in", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tz"].choices = [(name, name) for name in sorted(_zones())]

    def values(self) -> tuple[str, date | None, str]:
        """The choices, with the defaults for what is empty or refused."""
        data: dict[str, Any] = {}
        if self.is_bound:
            # A refused field is shown with its error; the others still apply
            # (cleaned_data keeps the fields that were valid).
            self.is_valid()
            data = self.cleaned_data
        zone_name = data.get("tz") or settings.TIME_ZONE
        return data.get("view") or "week", data.get("start"), zone_name


def _zones() -> set[str]:
    return available_timezones() | {"UTC"}


def upcoming_page(request: HttpRequest, *, model_admin: Any) -> TemplateResponse:
    form = UpcomingForm(
        request.GET or None, initial={"view": "week", "tz": settings.TIME_ZONE}
    )
    view, first_day, zone_name = form.values()
    viewer = zone(zone_name)
    now = timezone.now()
    first_day = first_day or now.astimezone(viewer).date()
    days = [first_day + timedelta(days=i) for i in range(VIEWS[view])]
    begin = datetime.combine(days[0], time.min, tzinfo=viewer)
    end = datetime.combine(days[-1] + timedelta(days=1), time.min, tzinfo=viewer)
    upcoming = upcoming_runs(user=request.user, start=max(begin, now), end=end)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Upcoming runs",
        "subtitle": None,
        "form": form,
        "view": view,
        "zone_name": zone_name,
        "zone_abbreviation": zone_abbreviation(now.astimezone(viewer)),
        "days": _days(days, upcoming.runs, viewer, now),
        "run_count": plural(len(upcoming.runs), "run"),
        "truncated": upcoming.truncated,
        "max_runs": f"{MAX_RUNS:,}",
        "until": format_datetime(end, zone_name),
        "links": _links(view, days, zone_name),
        "media": model_admin.media,
    }
    return TemplateResponse(
        request, "admin/scheduler_jobs/dynamicjob/upcoming.html", context
    )


def _days(
    days: list[date], runs: tuple, viewer: Any, now: datetime
) -> list[dict[str, Any]]:
    """The runs grouped by the viewer's day, each with its times as words."""
    by_day: dict[date, list[dict[str, Any]]] = {day: [] for day in days}
    for run in runs:
        local = run.at.astimezone(viewer)
        own = run.at.astimezone(zone(run.zone_name))
        entry = {
            "at": run.at.isoformat(),
            "time": f"{local:%H:%M} {zone_abbreviation(local)}",
            "full": format_datetime(run.at, run.zone_name),
            "job_time": ""
            if own.utcoffset() == local.utcoffset()
            else f"{own:%H:%M} {zone_abbreviation(own)}"
            + ("" if own.date() == local.date() else f" ({own:%a})"),
            "job_zone": run.zone_name,
            "name": run.job_name,
            "url": reverse("admin:scheduler_jobs_dynamicjob_change", args=[run.job_id]),
            "deferred": run.deferred,
        }
        by_day.setdefault(local.date(), []).append(entry)
    today = now.astimezone(viewer).date()
    return [
        {
            "date": day,
            "label": f"{day:%a} {day:%Y-%m-%d}",
            "today": day == today,
            "runs": by_day[day],
        }
        for day in days
    ]


def _links(view: str, days: list[date], zone_name: str) -> dict[str, str]:
    """Earlier, later, today and the other view, keeping the zone."""
    step = timedelta(days=VIEWS[view])
    base = reverse("admin:scheduler_jobs_dynamicjob_upcoming")

    def url(**query: Any) -> str:
        return f"{base}?{urlencode({'tz': zone_name, **query})}"

    other = "day" if view == "week" else "week"
    return {
        "earlier": url(view=view, start=(days[0] - step).isoformat()),
        "later": url(view=view, start=(days[0] + step).isoformat()),
        "today": url(view=view),
        "other": url(view=other, start=days[0].isoformat()),
        "other_label": "Day list" if other == "day" else "Week",
    }
