from django.apps import AppConfig
from django.contrib.auth.signals import user_login_failed


def _audit_failed_login(sender, credentials=None, request=None, **kwargs) -> None:
    """Failed logins are audited (Django passes the password already masked)."""
    from audit.services import record

    username = str((credentials or {}).get("username") or "")[:150]
    path = getattr(request, "path", "") or ""
    record(
        actor=username or "anonymous",
        action="login_failed",
        target=("auth.user", "", username),
        changes={"username": username},
        request=request,
        source="admin" if path.startswith("/admin/") else "api",
    )


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        user_login_failed.connect(
            _audit_failed_login, dispatch_uid="audit-login-failed"
        )
