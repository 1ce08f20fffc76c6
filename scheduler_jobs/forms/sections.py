"""The job's sections (name, parameters, schedule, options) as one mixin.

The change form and the copy form send the same data to their services, so
the dict they build lives here once.
"""

from __future__ import annotations

from typing import Any

from scheduler_jobs.forms.options import OptionsFieldsMixin
from scheduler_jobs.forms.schedule import ScheduleFieldsMixin


class JobSectionsMixin(ScheduleFieldsMixin, OptionsFieldsMixin):
    """Schedule and option fields, plus the job's data as the services take it."""

    def job_data(self) -> dict[str, Any]:
        """The cleaned fields as a job dict (validated by the service)."""
        data = self.cleaned_data
        return {
            "name": data.get("name"),
            "description": data.get("description") or "",
            "enabled": bool(data.get("enabled")),
            "parameters": data.get("parameters") or {},
            "schedule": self.schedule_data(),
            **self.options_data(),
        }
