"""Business calendars: holidays from the holidays package, custom days, rules."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM, AccessDenied
from scheduler_jobs.models import Calendar
from scheduler_jobs.services import timeplan
from tests.conftest import staff_with

pytestmark = pytest.mark.django_db
BERLIN_7AM = {"type": "cron", "cron": "0 7 * * *", "timezone": "Europe/Berlin"}


def de_by(**extra) -> Calendar:
    data = {"name": "DE-BY", "title": "Bavaria", "country": "de", "subdivision": "by"}
    return timeplan.calendar_create(actor=SYSTEM, data={**data, **extra})


def preview(rule: str, after: datetime, n: int = 5, **schedule) -> list:
    data = {**BERLIN_7AM, "calendar": "de-by", "calendar_rule": rule, **schedule}
    return timeplan.slot_preview(data, job_name="report", n=n, after=after)


def local_days(slots, outcome="runs") -> list[str]:
    return [
        f"{s.nominal.astimezone(UTC):%Y-%m-%d}" for s in slots if s.outcome == outcome
    ]


def test_business_days_skip_bavarian_holidays_and_weekends_and_say_why():
    de_by()
    slots = preview("business_days", datetime(2026, 12, 23, 12, tzinfo=UTC), n=3)
    assert [(s.outcome, s.reason) for s in slots] == [
        ("runs", ""),  # Thu 24th: Christmas Eve is no public holiday in Germany
        ("skipped", "Public holiday: Christmas Day (DE-BY)"),
        ("skipped", "Public holiday: Second Day of Christmas (DE-BY)"),
        ("skipped", "Not a business day: Sunday (calendar de-by)"),
        ("runs", ""),
        ("runs", ""),
    ]
    assert local_days(slots) == ["2026-12-24", "2026-12-28", "2026-12-29"]
    assert slots[0].at == datetime(2026, 12, 24, 6, tzinfo=UTC)  # 07:00 Berlin


def test_a_regional_holiday_counts_only_in_its_subdivision():
    de_by()
    timeplan.calendar_create(
        actor=SYSTEM, data={"name": "de-be", "country": "DE", "subdivision": "BE"}
    )
    corpus_christi = datetime(2026, 6, 3, 12, tzinfo=UTC)  # the day before
    bavaria = preview("business_days", corpus_christi, n=1)
    berlin = preview("business_days", corpus_christi, n=1, calendar="de-be")
    assert bavaria[0].reason == "Public holiday: Corpus Christi (DE-BY)"
    assert local_days(bavaria) == ["2026-06-05"]
    assert local_days(berlin) == ["2026-06-04"]


def test_custom_holidays_and_extra_business_days():
    de_by(
        extra_holidays=[{"date": "2026-07-15", "name": "Company outing"}],
        extra_workdays=[{"date": "2026-07-18", "name": "Inventory Saturday"}],
    )
    slots = preview("business_days", datetime(2026, 7, 14, 12, tzinfo=UTC), n=4)
    assert next(s.reason for s in slots if s.outcome == "skipped") == (
        "Holiday: Company outing (calendar de-by)"
    )
    assert local_days(slots) == ["2026-07-16", "2026-07-17", "2026-07-18", "2026-07-20"]


def test_first_business_day_of_the_month_jumps_new_year_and_the_weekend():
    de_by()
    slots = preview("first_business_day", datetime(2026, 12, 31, 12, tzinfo=UTC), n=2)
    # 1 January 2027 is a Friday and a holiday, then a weekend: Monday the 4th.
    assert local_days(slots) == ["2027-01-04", "2027-02-01"]
    assert slots[0].reason == (
        "Not the first business day of the month in calendar de-by "
        "(that is Mon 2027-01-04)"
    )


def test_last_business_day_of_the_month():
    de_by()
    slots = preview("last_business_day", datetime(2026, 5, 1, 12, tzinfo=UTC), n=2)
    # 31 May 2026 is a Sunday: Friday the 29th; June ends on a Tuesday.
    assert local_days(slots) == ["2026-05-29", "2026-06-30"]


def test_never_on_holidays_runs_on_weekends_but_not_on_holidays():
    de_by()
    slots = preview("never", datetime(2026, 12, 24, 12, tzinfo=UTC), n=3)
    assert local_days(slots, "skipped") == ["2026-12-25", "2026-12-26"]
    assert local_days(slots) == ["2026-12-27", "2026-12-28", "2026-12-29"]


def test_only_on_holidays():
    de_by()
    slots = preview("only", datetime(2026, 12, 1, tzinfo=UTC), n=3)
    assert local_days(slots) == ["2026-12-25", "2026-12-26", "2027-01-01"]


def test_calendar_is_judged_on_the_local_date_of_the_nominal_slot():
    """23:30 in Berlin on Christmas Eve is already the 24th... but 00:30 on the
    25th (23:30 UTC on the 24th) is Christmas Day, whatever the UTC date."""
    de_by()
    data = {**BERLIN_7AM, "cron": "30 0 * * *"}
    slots = timeplan.slot_preview(
        {**data, "calendar": "de-by", "calendar_rule": "never"},
        job_name="x",
        n=1,
        after=datetime(2026, 12, 24, 12, tzinfo=UTC),
    )
    assert slots[0].outcome == "skipped"
    assert slots[0].nominal == datetime(2026, 12, 24, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "key"),
    [
        ({**BERLIN_7AM, "calendar": "nowhere"}, "schedule.calendar"),
        ({**BERLIN_7AM, "calendar_rule": "only"}, "schedule.calendar"),
        (
            {**BERLIN_7AM, "calendar": "de-by", "calendar_rule": "x"},
            "schedule.calendar_rule",
        ),
        (
            {"type": "interval", "every_seconds": 60, "calendar": "de-by"},
            "schedule.calendar",
        ),
        (
            {**BERLIN_7AM, "calendar": "de-by", "calendar_rule": ["only"]},
            "schedule.calendar_rule",
        ),
        ({**BERLIN_7AM, "calendar": ["de-by"]}, "schedule.calendar"),
        ({**BERLIN_7AM, "in_blackout": {"x": 1}}, "schedule.in_blackout"),
    ],
)
def test_a_bad_calendar_reference_is_refused_on_its_field(schedule, key):
    de_by()
    with pytest.raises(ValidationError) as caught:
        job_services.job_create(
            user=SYSTEM,
            data={"name": "j", "template_type": "heartbeat", "schedule": schedule},
        )
    assert key in caught.value.message_dict


def test_a_job_on_a_calendar_starts_on_a_business_day():
    de_by()
    job = job_services.job_create(
        user=SYSTEM,
        data={
            "name": "bavarian report",
            "template_type": "heartbeat",
            "schedule": {**BERLIN_7AM, "calendar": "DE-BY"},
        },
    )
    assert job.schedule["calendar"] == "de-by"
    assert job.schedule["calendar_rule"] == "business_days"
    assert job.schedule_description.endswith("on business days (de-by)")
    local = job.next_run_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert local.isoweekday() <= 5


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"name": "has space"}, "name"),
        ({"name": "x", "country": "XX"}, "country"),
        ({"name": "x", "country": "DE", "subdivision": "ZZ"}, "subdivision"),
        ({"name": "x", "workdays": [0, 8]}, "workdays"),
        ({"name": "x", "workdays": []}, "workdays"),
        ({"name": "x", "extra_holidays": [{"date": "2026-02-30"}]}, "extra_holidays.0"),
    ],
)
def test_calendar_errors_name_the_field(data, key):
    with pytest.raises(ValidationError) as caught:
        timeplan.calendar_create(actor=SYSTEM, data=data)
    assert key in caught.value.message_dict


def test_calendar_names_are_unique_in_any_case():
    de_by()
    with pytest.raises(ValidationError) as caught:
        timeplan.calendar_create(actor=SYSTEM, data={"name": "de-BY"})
    assert "exists already" in caught.value.message_dict["name"][0]


def test_a_calendar_in_use_cannot_be_deleted_or_renamed(django_user_model):
    calendar = de_by()
    job_services.job_create(
        user=SYSTEM,
        data={
            "name": "payroll",
            "template_type": "heartbeat",
            "schedule": {**BERLIN_7AM, "calendar": "de-by"},
        },
    )
    with pytest.raises(ValidationError, match="payroll"):
        timeplan.calendar_delete(actor=SYSTEM, calendar=calendar)
    with pytest.raises(ValidationError, match="payroll"):
        timeplan.calendar_update(actor=SYSTEM, calendar=calendar, data={"name": "by"})
    timeplan.calendar_update(actor=SYSTEM, calendar=calendar, data={"title": "Bayern"})
    assert Calendar.objects.get().title == "Bayern"


def test_calendar_writes_need_their_permission_and_are_audited(django_user_model):
    viewer = staff_with(django_user_model, "viewer", "scheduler_jobs.view_calendar")
    keeper = staff_with(
        django_user_model,
        "keeper",
        "scheduler_jobs.view_calendar",
        "scheduler_jobs.add_calendar",
        "scheduler_jobs.delete_calendar",
    )
    with pytest.raises(AccessDenied, match="add_calendar"):
        timeplan.calendar_create(actor=viewer, data={"name": "x"})
    calendar = timeplan.calendar_create(actor=keeper, data={"name": "x"})
    with pytest.raises(AccessDenied, match="change_calendar"):
        timeplan.calendar_update(actor=keeper, calendar=calendar, data={"title": "y"})
    timeplan.calendar_delete(actor=keeper, calendar=calendar)
    actions = list(
        AuditEntry.objects.filter(target_type="scheduler_jobs.calendar")
        .order_by("id")
        .values_list("action", "actor_repr")
    )
    assert actions == [("create", "keeper"), ("delete", "keeper")]


def test_calendar_days_lists_holidays_weekends_and_extra_days():
    calendar = de_by(extra_workdays=[{"date": "2026-10-03", "name": "Stocktake"}])
    days = timeplan.calendar_days(calendar, date(2026, 10, 1), date(2026, 10, 4))
    assert days == [
        (date(2026, 10, 3), "extra_workday", "Stocktake"),  # German Unity Day
        (date(2026, 10, 4), "weekend", "Sunday"),
    ]
