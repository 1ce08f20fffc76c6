"""Widgets of the schedule section: the cron builder and the live preview."""

from __future__ import annotations

from django import forms
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import mark_safe


class ProjectTemplateWidgetMixin:
    """Render with the project's template engine (templates/), like django-jsonform.

    The default form renderer only looks in Django's and the apps' form templates.
    """

    def render(self, name, value, attrs=None, renderer=None):
        context = self.get_context(name, value, attrs)
        # The plain widget, rendered the usual way, for the template to wrap.
        if getattr(self, "template_name", None):
            context["input_html"] = super().render(name, value, attrs, renderer)
        return mark_safe(render_to_string(self.wrapper_template_name, context))  # noqa: S308


class CronBuilderWidget(ProjectTemplateWidgetMixin, forms.TextInput):
    """The raw cron input plus a builder of common schedules that writes into it."""

    wrapper_template_name = "scheduler_jobs/widgets/cron_builder.html"

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["minutes"] = [f"{m:02d}" for m in range(60)]
        context["hours"] = [f"{h:02d}" for h in range(24)]
        context["monthdays"] = list(range(1, 32))
        context["weekdays"] = [
            ("1-5", "Monday to Friday"),
            ("0,6", "Saturday and Sunday"),
            ("1", "Monday"),
            ("2", "Tuesday"),
            ("3", "Wednesday"),
            ("4", "Thursday"),
            ("5", "Friday"),
            ("6", "Saturday"),
            ("0", "Sunday"),
        ]
        return context


class SchedulePreviewWidget(ProjectTemplateWidgetMixin, forms.Widget):
    """Live feedback for the schedule: its description and next five runs.

    Filled in by scheduler_jobs/schedule.js from the schedule-preview admin view.
    """

    wrapper_template_name = "scheduler_jobs/widgets/schedule_preview.html"
    template_name = ""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        try:
            context["preview_url"] = reverse(
                "admin:scheduler_jobs_dynamicjob_schedule_preview"
            )
        except NoReverseMatch:  # pragma: no cover - the admin is always installed
            context["preview_url"] = ""
        return context

    def value_from_datadict(self, data, files, name):
        return None
