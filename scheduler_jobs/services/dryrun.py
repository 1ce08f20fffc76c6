"""Turning dry run off: when saving a job needs the user's explicit yes.

A template with a `dry_run` parameter (database_cleanup) is safe while it is
on: a run only counts. Turning it off is one click that makes every later run
act for real, so the admin's wizard and change form show why and ask for a
confirmation before they save. The rule lives here so both ask the same
question, and the answer is checked on the server.
"""

from __future__ import annotations

from typing import Any

from job_templates.registry import registry


def dry_run_default(template_type: str) -> bool | None:
    """The template's `dry_run` parameter default, or None when it has none."""
    if template_type not in registry:
        return None
    properties = registry.get(template_type).get_schema().get("properties") or {}
    if "dry_run" not in properties:
        return None
    return bool(properties["dry_run"].get("default", True))


def dry_run_off_warning(
    *,
    template_type: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> str | None:
    """The warning to confirm when `after` turns dry run off, else None.

    `before` is the stored job's parameters (None for a new job): a job whose
    dry run was already off was confirmed when it was turned off, so editing
    something else asks nothing.
    """
    default = dry_run_default(template_type)
    if default is None:
        return None
    if (after or {}).get("dry_run", default) is not False:
        return None
    if before is not None and before.get("dry_run", default) is False:
        return None
    try:
        reason = registry.get(template_type).high_risk_reason(after or {})
    except (KeyError, TypeError, ValueError):
        reason = None
    # The reason repeats "(dry run is off)", which the sentence already says.
    what = (reason or "it changes data").replace(" (dry run is off)", "")
    table = (after or {}).get("collection")
    if isinstance(table, str) and table:
        what += f" (table {table})"
    return f"Dry run is off, so this job really acts when it runs: {what}."
