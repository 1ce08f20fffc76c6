"""The periodic housekeeping task (scheduled by beat through CELERY_BEAT_SCHEDULE)."""

from celery import shared_task


@shared_task(name="executions.housekeeping", ignore_result=True)
def housekeeping() -> dict[str, int]:
    """Prune old executions; the work lives in executions.housekeeping."""
    from executions.housekeeping import housekeeping_run

    return housekeeping_run()
