"""Audit entries out of the API (read-only)."""

from __future__ import annotations

from rest_framework import serializers

from audit.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(
        source="actor_repr",
        read_only=True,
        help_text="Username at the time (kept after the user is deleted); "
        "'system' for beat and the reaper.",
    )
    actor_id = serializers.IntegerField(read_only=True, allow_null=True)
    changes = serializers.JSONField(read_only=True)

    class Meta:
        model = AuditEntry
        fields = (
            "id",
            "created_at",
            "actor",
            "actor_id",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "changes",
            "ip_address",
            "source",
        )
        read_only_fields = fields
