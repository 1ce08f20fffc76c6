"""Admin forms for jobs: the wizard's steps and the change form.

The forms only collect input and translate between form fields and the job's
JSON shape; every rule lives in scheduler_jobs.services (job_clean, job_create,
job_update). Service errors come back keyed by dotted paths ("schedule.cron",
"parameters.recipients.2", "notifications.emails.0") and are put next to the
field that produced them by `add_service_errors`.

- errors: where a service error key is shown (`add_service_errors`)
- widgets: the cron builder and the schedule preview
- schedule, options, parameters: the sections, shared by wizard and change form
- steps: the wizard's step forms
- change: the change form

The names below are the ones used outside the package.
"""

from scheduler_jobs.forms.change import DynamicJobChangeForm
from scheduler_jobs.forms.errors import (
    add_service_errors,
    field_for_key,
    service_error_items,
)
from scheduler_jobs.forms.options import options_fieldsets
from scheduler_jobs.forms.parameters import (
    ParametersField,
    default_parameters,
    refuse_unconfirmed_live,
    show_confirm_live,
    widget_schema,
)
from scheduler_jobs.forms.schedule import UNIT_SECONDS, schedule_initial
from scheduler_jobs.forms.steps import (
    OptionsStepForm,
    ParametersStepForm,
    ReviewStepForm,
    ScheduleStepForm,
    TemplateStepForm,
)

__all__ = [
    "UNIT_SECONDS",
    "DynamicJobChangeForm",
    "OptionsStepForm",
    "ParametersField",
    "ParametersStepForm",
    "ReviewStepForm",
    "ScheduleStepForm",
    "TemplateStepForm",
    "add_service_errors",
    "default_parameters",
    "field_for_key",
    "options_fieldsets",
    "refuse_unconfirmed_live",
    "schedule_initial",
    "service_error_items",
    "show_confirm_live",
    "widget_schema",
]
