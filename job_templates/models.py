from django.db import models


class JobTemplate(models.Model):
    """The catalogue row of a registered template, synced from the registry after
    migrate. The code lives in the registry; this row is what the admin and API list.
    """

    type = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=32, db_index=True)
    icon = models.CharField(max_length=16, blank=True)
    parameters_schema = models.JSONField(default=dict)
    estimated_duration = models.CharField(max_length=64, blank=True)
    resource_usage = models.CharField(max_length=16)
    risk_level = models.CharField(max_length=16)
    guidance = models.CharField(max_length=200, blank=True)
    supports_dry_run = models.BooleanField(default=False)
    available = models.BooleanField(
        default=True, help_text="False when the code for this template is gone."
    )
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "job_templates"
        ordering = ["category", "name"]
        permissions = [
            (
                "use_high_risk_template",
                "Can create, change and run high-risk jobs (live cleanup, backup "
                "rotation, exports, outgoing data)",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.icon} {self.name}".strip()
