from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One append-only record of who did what to which object.

    Written only by `audit.services.record`. The actor's name and the target's
    representation are copied, so the entry stays readable after either is deleted.
    """

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"
        ENABLE = "enable", "Enable"
        DISABLE = "disable", "Disable"
        RUN = "run", "Manual run"
        CANCEL = "cancel", "Cancel"
        IMPORT = "import", "Import"
        MIGRATE = "migrate", "Legacy migration"
        ROLLBACK = "rollback", "Legacy rollback"
        PROPOSE = "propose", "Propose a change"
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"
        ROTATE_SECRETS = "rotate_secrets", "Rotate secret keys"
        LOGIN_FAILED = "login_failed", "Failed login"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_repr = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    source = models.CharField(
        max_length=20, blank=True, help_text="api, admin, command or system"
    )

    class Meta:
        db_table = "audit_entries"
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        who = self.actor_repr or "system"
        return f"{who} {self.action} {self.target_type} {self.target_repr}"
