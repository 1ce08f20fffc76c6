"""A mapper function, as a project would point SCHEDULER_LEGACY_RULES at one."""

from scheduler_jobs.legacy import LegacyJob, Unmappable


def digest_as_heartbeat(job: LegacyJob) -> dict:
    if len(job.args) != 1:
        raise Unmappable("the digest takes exactly one recipient")
    return {
        "template": "heartbeat",
        "parameters": {"message": f"digest for {job.args[0]}"},
    }
