import pytest


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="staff", password="staff-pass-123", is_staff=True
    )


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(
        username="root", password="root-pass-123", email="root@example.com"
    )


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache: no test inherits another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


JOB_EDITOR_PERMISSIONS = (
    "scheduler_jobs.view_dynamicjob",
    "scheduler_jobs.add_dynamicjob",
    "scheduler_jobs.change_dynamicjob",
    "scheduler_jobs.delete_dynamicjob",
)
JOB_OPERATOR_PERMISSIONS = (
    *JOB_EDITOR_PERMISSIONS,
    "scheduler_jobs.run_dynamicjob",
    "executions.view_jobexecution",
    "executions.cancel_jobexecution",
)


def staff_with(django_user_model, username: str, *permissions: str):
    """An active staff user holding exactly these permissions."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(
        username=username, password=f"{username}-pass-123", is_staff=True
    )
    for label in permissions:
        app_label, codename = label.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture
def job_editor(django_user_model):
    """A staff user who may view, add, change and delete jobs (not run them)."""
    return staff_with(django_user_model, "editor", *JOB_EDITOR_PERMISSIONS)


@pytest.fixture
def job_operator(django_user_model):
    """An editor who may also run jobs and see and cancel runs (not high-risk ones)."""
    return staff_with(django_user_model, "operator", *JOB_OPERATOR_PERMISSIONS)


@pytest.fixture
def capture(settings):
    """A real HTTP server on 127.0.0.1 that records what reaches it."""
    from tests.job_templates.conftest import _start_server

    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    server = _start_server()
    yield server
    server.server.shutdown()
    server.server.server_close()
