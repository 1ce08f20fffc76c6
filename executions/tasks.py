from celery import shared_task


@shared_task(
    name="executions.run_execution",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def run_execution(execution_id: int) -> None:
    """Run one execution; the state machine lives in executions.services."""
    from executions.services import execution_run

    execution_run(execution_id=execution_id)
