"""Test-only models standing in for a product's own tables (e.g. support tickets)."""

from django.db import models


class Ticket(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"
        CLOSED = "closed"

    title = models.CharField(max_length=200)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.OPEN
    )
    priority = models.PositiveSmallIntegerField(default=3)
    requester_email = models.EmailField(blank=True)
    api_token = models.CharField(max_length=64, blank=True)
    password_hint = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "testapp_tickets"

    def __str__(self) -> str:
        return self.title


class TicketComment(models.Model):
    """Deleted with its ticket (CASCADE): cleanup dry runs must count these too."""

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="comments"
    )
    body = models.TextField()

    class Meta:
        db_table = "testapp_ticket_comments"

    def __str__(self) -> str:
        return self.body[:50]
