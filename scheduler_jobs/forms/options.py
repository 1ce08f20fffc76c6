"""The options and notifications section, shared by the wizard and the change
form: timeout, retries, overlap and misfire policies, queue, who is notified."""

from __future__ import annotations

from typing import Any

from django import forms

from scheduler_jobs.models import NOTIFICATION_EVENTS, DynamicJob, default_retry_policy
from scheduler_jobs.services import mask_webhook

EVENT_LABELS = {
    "success": "Success",
    "failure": "Failure",
    "timeout": "Timeout",
    "exhausted": "Retries exhausted",
}


class OptionsFieldsMixin(forms.Form):
    timeout_seconds = forms.IntegerField(
        label="Timeout (seconds)",
        initial=1800,
        help_text="A run still going after this is stopped and marked timed out.",
    )
    max_retries = forms.IntegerField(
        label="Retries",
        initial=3,
        help_text="How many times a failed run is retried (0 to 10).",
    )
    delay_seconds = forms.IntegerField(
        label="Retry delay (seconds)",
        initial=60,
        help_text="Wait before the first retry.",
    )
    backoff = forms.FloatField(
        label="Backoff factor",
        initial=2.0,
        help_text="Each further retry waits this many times longer (1 = constant).",
    )
    overlap_policy = forms.ChoiceField(
        label="If the previous run is still going",
        choices=DynamicJob.OverlapPolicy.choices,
        initial=DynamicJob.OverlapPolicy.SKIP,
        widget=forms.RadioSelect,
    )
    misfire_policy = forms.ChoiceField(
        label="If runs were missed (scheduler down)",
        choices=DynamicJob.MisfirePolicy.choices,
        initial=DynamicJob.MisfirePolicy.RUN_ONCE,
        widget=forms.RadioSelect,
    )
    queue = forms.CharField(
        label="Celery queue",
        required=False,
        max_length=64,
        help_text="Leave empty for the queue set for the template's resource usage.",
    )
    notify_emails = forms.CharField(
        label="Email",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        help_text="Addresses to notify, one per line or separated by commas.",
    )
    slack_webhook = forms.CharField(
        label="Slack webhook",
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"size": 60, "autocomplete": "off"}),
        help_text="An incoming-webhook URL (https). Stored secret; shown masked.",
    )
    notify_on = forms.MultipleChoiceField(
        label="Notify on",
        required=False,
        choices=[(e, EVENT_LABELS[e]) for e in NOTIFICATION_EVENTS],
        initial=["failure", "exhausted"],
        widget=forms.CheckboxSelectMultiple,
    )

    options_field_names = (
        "timeout_seconds",
        "max_retries",
        "delay_seconds",
        "backoff",
        "overlap_policy",
        "misfire_policy",
        "queue",
    )
    notification_field_names = ("notify_emails", "slack_webhook", "notify_on")

    def options_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        emails = [
            e.strip()
            for chunk in (data.get("notify_emails") or "").splitlines()
            for e in chunk.split(",")
            if e.strip()
        ]
        backoff = data.get("backoff")
        return {
            "timeout_seconds": data.get("timeout_seconds"),
            "retry_policy": {
                "max_retries": data.get("max_retries"),
                "delay_seconds": data.get("delay_seconds"),
                "backoff": float(backoff) if backoff is not None else None,
            },
            "overlap_policy": data.get("overlap_policy"),
            "misfire_policy": data.get("misfire_policy"),
            "queue": (data.get("queue") or "").strip(),
            "notifications": {
                "emails": emails,
                "slack_webhook": (data.get("slack_webhook") or "").strip(),
                "on": list(data.get("notify_on") or []),
            },
        }


def options_initial(job: DynamicJob) -> dict[str, Any]:
    retry = {**default_retry_policy(), **(job.retry_policy or {})}
    notifications = job.notifications or {}
    return {
        "timeout_seconds": job.timeout_seconds,
        "max_retries": retry["max_retries"],
        "delay_seconds": retry["delay_seconds"],
        "backoff": retry["backoff"],
        "overlap_policy": job.overlap_policy,
        "misfire_policy": job.misfire_policy,
        "queue": job.queue,
        "notify_emails": "\n".join(notifications.get("emails") or []),
        "slack_webhook": mask_webhook(notifications.get("slack_webhook") or ""),
        "notify_on": notifications.get("on") or [],
    }
