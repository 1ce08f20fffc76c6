"""Job names unique regardless of case; versions record the lock version they were
saved at (what a change made on an older version is merged against).

Names that differ only in case are not renamed: jobs are referred to by name
(job files, legacy rules, people), so a silent rename would break those. The
migration stops instead and lists each clash; rename one job of each pair
(admin or API) and run migrate again.
"""

from django.db import migrations, models
from django.db.models.functions import Lower


def refuse_case_clashes(apps, schema_editor):
    DynamicJob = apps.get_model("scheduler_jobs", "DynamicJob")
    groups = {}
    for pk, name in DynamicJob.objects.order_by("pk").values_list("pk", "name"):
        groups.setdefault(name.lower(), []).append(f"“{name}” (id {pk})")
    clashes = [names for names in groups.values() if len(names) > 1]
    if clashes:
        listed = "\n".join("  - " + ", ".join(names) for names in clashes)
        raise RuntimeError(
            "Job names must now be unique regardless of case, and these jobs "
            f"differ only in case:\n{listed}\nRename one job of each group "
            "(in the admin or the API), then run migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("scheduler_jobs", "0006_job_watch_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="jobversion",
            name="job_version",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(refuse_case_clashes, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="dynamicjob",
            constraint=models.UniqueConstraint(
                Lower("name"), name="dynamic_jobs_name_unique_any_case"
            ),
        ),
    ]
