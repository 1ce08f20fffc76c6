"""Writes to jobs: validation, create, update, enable/disable, duplicate, delete.

Every write goes through here (API, admin, management commands), so every write
is validated the same way and audited.

The package is split by concern: ``validation`` holds ``job_clean`` and its
rules, ``masking`` hides secrets for display and the audit log, ``quota`` caps
how many jobs exist, ``lifecycle`` holds the audited writes. The names below are
the ones other code uses as ``scheduler_jobs.services.<name>``, so they stay
importable from here. A test that replaces one of them must patch the module
that calls it (for example ``scheduler_jobs.services.lifecycle.job_clean``).
"""

from scheduler_jobs.services.approvals import (
    approval_decide,
    approval_diff,
    pending_for,
)
from scheduler_jobs.services.lifecycle import (
    Merge,
    VersionConflict,
    copy_name,
    job_copy,
    job_create,
    job_delete,
    job_duplicate,
    job_revert,
    job_set_enabled,
    job_update,
)
from scheduler_jobs.services.masking import (
    mask_webhook,
    masked_job_parameters,
    masked_notifications,
    masked_view,
)
from scheduler_jobs.services.merge import MergeConflict
from scheduler_jobs.services.quota import QuotaExceeded
from scheduler_jobs.services.validation import (
    job_as_dict,
    job_clean,
    strip_control_characters,
)
from scheduler_jobs.services.versions import definition_diff

__all__ = [
    "Merge",
    "MergeConflict",
    "QuotaExceeded",
    "VersionConflict",
    "approval_decide",
    "approval_diff",
    "copy_name",
    "definition_diff",
    "job_as_dict",
    "job_clean",
    "job_copy",
    "job_create",
    "job_delete",
    "job_duplicate",
    "job_revert",
    "job_set_enabled",
    "job_update",
    "mask_webhook",
    "masked_job_parameters",
    "masked_notifications",
    "masked_view",
    "pending_for",
    "strip_control_characters",
]
