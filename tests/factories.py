"""factory-boy factories shared by the whole suite."""

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from executions.models import JobExecution
from scheduler_jobs.models import DynamicJob


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True


class DynamicJobFactory(factory.django.DjangoModelFactory):
    """A valid heartbeat job every minute. Bypasses services: for read-side tests."""

    class Meta:
        model = DynamicJob

    name = factory.Sequence(lambda n: f"job-{n}")
    template_type = "heartbeat"
    parameters = factory.LazyFunction(
        lambda: {"message": "hi", "fail": False, "sleep_seconds": 0}
    )
    schedule = factory.LazyFunction(lambda: {"type": "interval", "every_seconds": 60})
    enabled = True
    next_run_at = factory.LazyFunction(
        lambda: timezone.now() + timezone.timedelta(minutes=1)
    )


class JobExecutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobExecution

    job = factory.SubFactory(DynamicJobFactory)
    job_name = factory.LazyAttribute(lambda e: e.job.name if e.job else "deleted")
    template_type = factory.LazyAttribute(
        lambda e: e.job.template_type if e.job else "heartbeat"
    )
    status = JobExecution.Status.COMPLETED
    scheduled_for = factory.LazyFunction(timezone.now)
    parameters = factory.LazyAttribute(lambda e: e.job.parameters if e.job else {})
