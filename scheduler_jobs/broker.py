"""The broker's redelivery window, and what it means for a job's timeout and retries.

Messages are acknowledged late (after the run), so a message stays with its
worker for as long as the job runs. Past the broker's redelivery window (Redis
`visibility_timeout`, RabbitMQ `consumer_timeout`) the broker hands the same
message to another worker, or closes the channel, while the first is still
working. A job's timeout and retry delays must stay inside the window: jobs are
refused on save (scheduler_jobs.services.job_clean), and worker and beat refuse
to start (executions.checks) when settings or stored jobs break the rule.

Reads only settings, so both the job registry and the executor may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

# Celery's broker when no broker_url is configured: RabbitMQ on localhost.
CELERY_DEFAULT_BROKER_URL = "amqp://"
# kombu's Redis transport default, used when the setting leaves it out.
REDIS_DEFAULT_VISIBILITY_TIMEOUT = 3600
# RabbitMQ's default consumer_timeout (30 minutes) since 3.8.15.
RABBITMQ_DEFAULT_CONSUMER_TIMEOUT = 1800


@dataclass(frozen=True)
class RedeliveryWindow:
    seconds: int
    name: str  # what the user calls it
    setting: str  # where to change it


def redelivery_window() -> RedeliveryWindow | None:
    """The broker's redelivery window, or None for brokers without one.

    Settings may leave the broker out (a settings module of its own, a test's
    override); Celery then connects to its default broker, so the window is
    that broker's, and `manage.py check` and worker start-up report instead of
    crashing with AttributeError.
    """
    url = getattr(settings, "CELERY_BROKER_URL", None) or CELERY_DEFAULT_BROKER_URL
    if url.startswith(("redis://", "rediss://", "sentinel://")):
        options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
        return RedeliveryWindow(
            seconds=int(
                options.get("visibility_timeout", REDIS_DEFAULT_VISIBILITY_TIMEOUT)
            ),
            name="Redis visibility_timeout",
            setting="CELERY_VISIBILITY_TIMEOUT",
        )
    if url.startswith(("amqp://", "amqps://", "pyamqp://")):
        return RedeliveryWindow(
            seconds=int(
                getattr(
                    settings,
                    "SCHEDULER_RABBITMQ_CONSUMER_TIMEOUT_SECONDS",
                    RABBITMQ_DEFAULT_CONSUMER_TIMEOUT,
                )
            ),
            name="RabbitMQ consumer_timeout",
            setting="SCHEDULER_RABBITMQ_CONSUMER_TIMEOUT_SECONDS (set it to the "
            "server's consumer_timeout)",
        )
    return None


def longest_retry_delay(retry_policy: dict[str, Any] | None) -> float:
    """The longest wait between two attempts under a retry policy."""
    policy = retry_policy or {}
    retries = int(policy.get("max_retries", 0) or 0)
    if retries <= 0:
        return 0.0
    delay = float(policy.get("delay_seconds", 0) or 0)
    backoff = float(policy.get("backoff", 1.0) or 1.0)
    return delay * backoff ** (retries - 1)


def job_redelivery_errors(
    *,
    timeout_seconds: int,
    retry_policy: dict[str, Any] | None,
    window: RedeliveryWindow | None = None,
) -> dict[str, list[str]]:
    """Field errors for a job whose timeout or retry delay reaches the window.

    Keyed like scheduler_jobs.services.job_clean ("timeout_seconds",
    "retry_policy.delay_seconds"), so job validation can use it as it is.
    """
    window = window or redelivery_window()
    if window is None:
        return {}
    errors: dict[str, list[str]] = {}
    extra = settings.SCHEDULER_HARD_LIMIT_EXTRA_SECONDS
    if timeout_seconds + extra >= window.seconds:
        errors["timeout_seconds"] = [
            f"Must be below {window.seconds - extra} seconds: with the "
            f"{extra}s hard-limit margin (SCHEDULER_HARD_LIMIT_EXTRA_SECONDS) a "
            f"run of {timeout_seconds}s reaches the broker's redelivery window "
            f"({window.name} = {window.seconds}s), and the broker would hand the "
            f"same run to another worker. Lower the timeout or raise {window.setting}."
        ]
    longest = longest_retry_delay(retry_policy)
    if longest >= window.seconds:
        errors["retry_policy.delay_seconds"] = [
            f"The longest retry delay ({longest:.0f}s, delay * backoff^(retries-1)) "
            f"must be below the broker's redelivery window ({window.name} = "
            f"{window.seconds}s). Lower delay_seconds or backoff, or raise "
            f"{window.setting}."
        ]
    return errors
