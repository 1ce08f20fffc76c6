import pytest
from django.test import RequestFactory

from audit import services
from audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_record_stores_actor_target_changes_and_ip(staff_user):
    request = RequestFactory().post("/x", REMOTE_ADDR="10.1.2.3")
    entry = services.record(
        actor=staff_user,
        action="update",
        target=staff_user,
        changes={"a": 1},
        request=request,
        source="api",
    )
    assert (entry.actor, entry.actor_repr) == (staff_user, "staff")
    assert (entry.target_type, entry.target_id) == ("auth.user", str(staff_user.pk))
    assert entry.ip_address == "10.1.2.3"
    assert entry.changes == {"a": 1}


def test_record_for_system_and_named_operators():
    system = services.record(actor=None, action="run", target=("x.y", 5, "thing"))
    operator = services.record(
        actor="command:legacy_jobs", action="migrate", target=("x.y", 5, "thing")
    )
    assert (system.actor, system.actor_repr) == (None, "system")
    assert (operator.actor, operator.actor_repr) == (None, "command:legacy_jobs")
    assert AuditEntry.objects.count() == 2


def test_diff_lists_only_changed_fields():
    assert services.diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {
        "b": {"before": 2, "after": 3},
        "c": {"before": None, "after": 4},
    }
