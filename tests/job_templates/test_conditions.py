from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from job_templates.conditions import ALLOWED_LOOKUPS, build_q, check_condition
from tests.testapp.models import Ticket, TicketComment


def error_keys(condition, model=Ticket, **kw):
    with pytest.raises(ValidationError) as info:
        check_condition(model, condition, **kw)
    return info.value.message_dict


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("api_token", "x", "secret"),
        ("password_hint__startswith", "a", "secret"),
        ("title__regex", "^a", "regular-expression"),
        ("title__iregex", "^a", "regular-expression"),
        ("metadata__owner", "bob", "JSON key"),
        ("metadata__owner__name", "bob", "JSON key"),
        ("_secret", 1, "'_'"),
        ("__class__", 1, "'_'"),
        ("comments__body", "x", "relation"),
        ("nope", 1, "no field"),
        ("created_at__year", 2020, "not allowed"),
        ("title__search", "x", "not allowed"),
    ],
)
def test_refused_keys_are_named_in_the_error(key, value, says):
    errors = error_keys({key: value})
    assert list(errors) == [f"condition.{key}"]
    assert says in errors[f"condition.{key}"][0]
    assert key in errors[f"condition.{key}"][0]


def test_relation_paths_through_a_foreign_key_are_refused():
    errors = error_keys({"ticket__title": "x"}, model=TicketComment)
    assert "relation" in errors["condition.ticket__title"][0]
    errors = error_keys({"ticket__title__icontains": "x"}, model=TicketComment)
    assert "relation" in errors["condition.ticket__title__icontains"][0]


def test_empty_condition_is_refused_unless_allowed():
    assert "empty condition" in error_keys({})["condition"][0]
    assert check_condition(Ticket, {}, allow_empty=True) == []


@pytest.mark.parametrize(
    ("condition", "key"),
    [
        ({"priority": "high"}, "condition.priority"),
        ({"priority__in": []}, "condition.priority__in"),
        ({"priority__in": 3}, "condition.priority__in"),
        ({"priority__range": [1]}, "condition.priority__range"),
        ({"priority": 2**70}, "condition.priority"),
        ({"status__isnull": "yes"}, "condition.status__isnull"),
        ({"created_at__lt": {"ago": "30x"}}, "condition.created_at__lt"),
        ({"created_at__lt": {"ago": "999999999w"}}, "condition.created_at__lt"),
        ({"title__lt": {"ago": "3d"}}, "condition.title__lt"),
        ({"created_at": {"ago": "3d"}}, "condition.created_at"),
        ({"title": {"$ne": 1}}, "condition.title"),
        ({"title": "a\x00b"}, "condition.title"),
        ({"priority__contains": "1"}, "condition.priority__contains"),
        ({"created_at__gt": "yesterday"}, "condition.created_at__gt"),
        ({"priority__gt": None}, "condition.priority__gt"),
    ],
)
def test_bad_values_are_refused_with_the_key(condition, key):
    assert key in error_keys(condition)


def test_not_an_object_is_refused():
    assert "condition" in error_keys(["status", "open"])


@pytest.mark.django_db
def test_relative_time_is_resolved_when_the_query_is_built():
    old = Ticket.objects.create(title="old")
    Ticket.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    Ticket.objects.create(title="new")
    query = build_q(Ticket, {"created_at__lt": {"ago": "30d"}})
    assert list(Ticket.objects.filter(query).values_list("title", flat=True)) == ["old"]


@pytest.mark.django_db
def test_all_allowed_lookups_build_working_queries():
    Ticket.objects.create(title="Printer on fire", status="closed", priority=1)
    Ticket.objects.create(title="Mouse", status="open", priority=4)
    condition = {
        "status": "closed",
        "title__iexact": "printer on fire",
        "priority__in": [1, 2],
        "priority__gt": 0,
        "priority__gte": 1,
        "priority__lt": 2,
        "priority__lte": 1,
        "resolved_at__isnull": True,
        "title__startswith": "Printer",
        "title__endswith": "fire",
        "title__contains": "on",
        "title__icontains": "PRINTER",
        "created_at__range": [{"ago": "1d"}, "2999-01-01T00:00:00"],
    }
    assert {k.partition("__")[2] or "exact" for k in condition} == set(ALLOWED_LOOKUPS)
    titles = Ticket.objects.filter(build_q(Ticket, condition)).values_list(
        "title", flat=True
    )
    assert list(titles) == ["Printer on fire"]


@pytest.mark.django_db
def test_foreign_key_by_attname_and_isnull_are_allowed():
    ticket = Ticket.objects.create(title="t")
    TicketComment.objects.create(ticket=ticket, body="b")
    query = build_q(TicketComment, {"ticket_id": ticket.pk, "ticket__isnull": False})
    assert TicketComment.objects.filter(query).count() == 1


FIELDS = [f.name for f in Ticket._meta.concrete_fields] + [
    "api_token",
    "comments",
    "nope",
    "_x",
    "metadata__a",
]
LOOKUPS = [*ALLOWED_LOOKUPS, "regex", "year", "a__b", ""]
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["2024-01-01", "2024-01-01T10:00:00", "30d", "0", "-1", "closed"]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["ago", "x"]), children, max_size=2),
        st.fixed_dictionaries({"ago": st.sampled_from(["1d", "2w", "5x", "", 3])}),
    ),
    max_leaves=6,
)
keys = st.one_of(
    st.builds(
        lambda f, lookup: f"{f}__{lookup}" if lookup else f,
        st.sampled_from(FIELDS),
        st.sampled_from(LOOKUPS),
    ),
    st.text(max_size=20),
)


@pytest.mark.django_db
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition=st.dictionaries(keys, json_values, max_size=4))
def test_random_conditions_raise_only_validation_errors(condition):
    """Anything a user can type either runs as a query or is refused cleanly."""
    try:
        query = build_q(Ticket, condition, allow_empty=True)
    except ValidationError as exc:
        keys = list(exc.message_dict)
    else:
        Ticket.objects.filter(query).count()
        keys = []
    assert all(key.startswith("condition") for key in keys)
