"""Dispatcher against django-celery-beat's DatabaseScheduler, side by side.

    python -m bench.dispatcher [--sizes 1000,10000,100000] [--db sqlite|postgres|both]
                               [--distinct-sizes 1000,10000] [--skip-distinct]
                               [--timeplan]

For each database and size N it seeds two identical schedules, N dynamic jobs
(`DynamicJob` rows) and N django-celery-beat `PeriodicTask`s, into two copies
of one migrated database, and measures each scheduler in a fresh child process:

* start-up: construction to the end of the first tick;
* idle tick: median of 20 ticks with nothing due (wall and CPU);
* the tick after one job is edited (DatabaseScheduler: one `PeriodicTask.save()`,
  which bumps `PeriodicTasks.last_update` and makes it reload every task);
* 1 000 due at once: ticks until 1 000 messages are published;
* peak RSS of the child (getrusage ru_maxrss).

The broker is `memory://`, so only the scheduler is timed. The children run
with the Python clock frozen (time-machine) at a chosen instant T0, 30 s before
the due instant D, so that nothing becomes due while an expensive start-up runs;
the due phase moves the clock to D. `time.perf_counter`/`process_time` are not
frozen.

The "distinct" run gives every job its own cron expression and time zone.

`--timeplan` measures our dispatcher twice in the same run instead: as above,
and with half the jobs (every cron job of the mix) on a business calendar
(public holidays of a country), a jitter on a tenth of them, and blackout
windows (global, per category, per job, recurring) that apply to every job but
hold none of the measured slots; the table compares the two.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import common
from scheduler_jobs.access import SYSTEM

SYSTEMS = ("ours", "dcb")
LABEL = {
    "ours": "DynamicJobScheduler",
    "dcb": "DatabaseScheduler",
    "plan": "with calendars and windows",
}
PLAN_HEADERS = [
    "run",
    "measure",
    LABEL["ours"],
    LABEL["plan"],
    "ratio (with ÷ without)",
]
IDLE_TICKS = 20
HEADERS = ["run", "measure", LABEL["ours"], LABEL["dcb"], "ratio (dcb ÷ ours)"]
DUE = 1000
MIX_ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/Sao_Paulo",
)


# --- Schedules (both systems get the same) -----------------------------------


def _zones_for_distinct() -> list[str]:
    from zoneinfo import available_timezones

    return sorted(
        z
        for z in available_timezones()
        if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    )


def make_specs(variant: str, n: int, t0: datetime, d: datetime) -> list[dict[str, Any]]:
    """N schedules; the first min(N, 1000) are due exactly at D, none before.

    mix: even rows cron (varied minutes, hour `*`, `*/6` or a fixed hour, eight
    time zones), odd rows intervals of 60-3600 s. distinct: every row a cron
    expression of its own, time zones cycling through the whole IANA list.
    """
    from scheduler_jobs.schedules import CronSchedule

    rng = random.Random(n)
    zones = list(MIX_ZONES) if variant == "mix" else _zones_for_distinct()
    next_cache: dict[tuple[str, str], datetime] = {}

    def next_cron(expr: str, tz: str) -> datetime:
        key = (expr, tz)
        if key not in next_cache:
            next_cache[key] = CronSchedule(expr, tz).next_after(t0)
        return next_cache[key]

    specs: list[dict[str, Any]] = []
    distinct_index = 0
    used: set[tuple[str, str]] = set()
    for i in range(n):
        due = i < DUE
        tz = zones[i % len(zones)]
        is_cron = variant == "distinct" or i % 2 == 0
        if not is_cron:
            every = rng.randrange(60, 3601, 30)
            specs.append(
                {
                    "kind": "interval",
                    "every": every,
                    "next": d if due else t0 + timedelta(seconds=every),
                    "last": d - timedelta(seconds=every) if due else t0,
                }
            )
            continue
        if due:
            local = d.astimezone(__import__("zoneinfo").ZoneInfo(tz))
            if variant == "mix":
                expr = f"{local.minute} {local.hour} * * *"
            else:  # unique: add another minute and hour to the lists
                k = i
                extra_minute = (local.minute + 1 + k % 59) % 60
                extra_hour = (local.hour + 1 + (k // 59) % 23) % 24
                expr = f"{local.minute},{extra_minute} {local.hour},{extra_hour} * * *"
        else:
            while True:
                if variant == "mix":
                    hour = ("*", "*/6", str(rng.randrange(24)))[i % 3]
                    expr = f"{rng.randrange(60)} {hour} * * *"
                else:
                    m, h = distinct_index % 60, (distinct_index // 60) % 24
                    dom = 1 + (distinct_index // 1440) % 28
                    distinct_index += 1
                    expr = f"{m} {h} {dom} * *"
                unique = variant == "mix" or (expr, tz) not in used
                if unique and next_cron(expr, tz) > d:
                    break
        used.add((expr, tz))
        specs.append(
            {
                "kind": "cron",
                "cron": expr,
                "tz": tz,
                "next": next_cron(expr, tz),
                "last": t0,
            }
        )
    return specs


def seed_plan(d: datetime) -> dict[str, Any]:
    """A calendar and windows that apply to every job but hold no measured slot.

    The calendar's rule is "never" (on holidays), so every job still runs on
    an ordinary day while each slot is checked against the country's holidays.
    The windows start a day after D or twelve hours away from it.
    """
    from scheduler_jobs.models import BlackoutWindow, Calendar

    Calendar.objects.create(name="bench", country="DE", subdivision="BY")
    later = d + timedelta(days=1)
    hour = (d.hour + 12) % 24
    common_fields = {"reason": "bench", "created_by": None}
    BlackoutWindow.objects.bulk_create(
        [
            BlackoutWindow(
                name="global",
                starts_at=later,
                ends_at=later + timedelta(hours=1),
                **common_fields,
            ),
            BlackoutWindow(
                name="category",
                scope="category",
                category="diagnostics",
                starts_at=later,
                ends_at=later + timedelta(hours=2),
                **common_fields,
            ),
            BlackoutWindow(
                name="nightly",
                cron=f"0 {hour} * * *",
                duration_minutes=30,
                timezone="UTC",
                **common_fields,
            ),
        ]
    )
    return {"calendar": "bench", "calendar_rule": "never"}


def seed_ours(specs: list[dict[str, Any]], plan: dict[str, Any] | None = None) -> None:
    from scheduler_jobs.models import DynamicJob

    rows = []
    for i, spec in enumerate(specs):
        schedule = (
            {"type": "cron", "cron": spec["cron"], "timezone": spec["tz"]}
            if spec["kind"] == "cron"
            else {"type": "interval", "every_seconds": spec["every"]}
        )
        if plan and spec["kind"] == "cron":
            schedule.update(plan)
            if i % 20 == 0 and i >= DUE:  # jitter moves a slot: not on measured ones
                schedule["jitter_seconds"] = 300
        rows.append(
            DynamicJob(
                name=f"bench-{i:06d}",
                template_type="heartbeat",
                parameters={"message": "bench", "fail": False, "sleep_seconds": 0},
                schedule=schedule,
                enabled=True,
                next_run_at=spec["next"],
                overlap_policy=DynamicJob.OverlapPolicy.ALLOW,
            )
        )
    DynamicJob.objects.bulk_create(rows, batch_size=2000)


def seed_job_window(d: datetime) -> None:
    """A recurring window of the last job alone, twelve hours away from D."""
    from scheduler_jobs.models import BlackoutWindow, DynamicJob

    BlackoutWindow.objects.create(
        name="one job",
        reason="bench",
        scope="job",
        job=DynamicJob.objects.order_by("-pk").first(),
        cron=f"0 {(d.hour + 12) % 24} * * *",
        duration_minutes=5,
    )


def seed_dcb(specs: list[dict[str, Any]]) -> None:
    from django_celery_beat.models import (
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        PeriodicTasks,
    )

    everies = sorted({s["every"] for s in specs if s["kind"] == "interval"})
    intervals = {
        obj.every: obj
        for obj in IntervalSchedule.objects.bulk_create(
            [
                IntervalSchedule(every=e, period=IntervalSchedule.SECONDS)
                for e in everies
            ]
        )
    }
    cron_keys = sorted({(s["cron"], s["tz"]) for s in specs if s["kind"] == "cron"})
    crontab_rows = []
    for expr, tz in cron_keys:
        minute, hour, dom, month, dow = expr.split(" ")
        crontab_rows.append(
            CrontabSchedule(
                minute=minute,
                hour=hour,
                day_of_month=dom,
                month_of_year=month,
                day_of_week=dow,
                timezone=tz,
            )
        )
    created = CrontabSchedule.objects.bulk_create(crontab_rows, batch_size=2000)
    crontabs = dict(zip(cron_keys, created, strict=True))
    tasks = []
    for i, spec in enumerate(specs):
        task = PeriodicTask(
            name=f"bench-{i:06d}",
            task="bench.noop",
            enabled=True,
            last_run_at=spec["last"],
        )
        if spec["kind"] == "cron":
            task.crontab = crontabs[(spec["cron"], spec["tz"])]
        else:
            task.interval = intervals[spec["every"]]
        tasks.append(task)
    PeriodicTask.objects.bulk_create(tasks, batch_size=2000)
    PeriodicTasks.update_changed()


# --- Child: seed -------------------------------------------------------------


def child_seed(system: str, variant: str, n: int, t0: datetime, d: datetime) -> None:
    import time_machine

    with time_machine.travel(t0, tick=False):
        common.setup_django()
        started = time.perf_counter()
        specs = make_specs(variant, n, t0, d)
        specs_s = time.perf_counter() - started
        if system == "dcb":
            seed_dcb(specs)
        elif system == "plan":
            seed_ours(specs, seed_plan(d))
            seed_job_window(d)
        else:
            seed_ours(specs)
        common.report(
            {
                "specs_seconds": specs_s,
                "seed_seconds": time.perf_counter() - started - specs_s,
                "due": sum(1 for s in specs if s["next"] <= d),
            }
        )


# --- Child: measure ----------------------------------------------------------


def _profiler(phase: str, system: str) -> Any:
    """BENCH_PROFILE=idle|due|edit prints a pyinstrument profile of that phase."""
    if os.environ.get("BENCH_PROFILE") != phase:
        return None
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    profiler.bench_title = f"{LABEL[system]}, {phase} phase"  # type: ignore[attr-defined]
    return profiler


def _profile_done(profiler: Any) -> None:
    if profiler is not None:
        profiler.stop()
        print(profiler.bench_title, file=sys.stderr)
        print(profiler.output_text(unicode=True, color=False), file=sys.stderr)


def _edit_one(system: str, n: int) -> None:
    """Edit one job the way a user would (admin/API service, or model save)."""
    name = f"bench-{n - 1:06d}"
    if system != "dcb":
        from scheduler_jobs.models import DynamicJob
        from scheduler_jobs.services import job_update

        job = DynamicJob.objects.get(name=name)
        job_update(
            job=job,
            user=SYSTEM,
            data={"description": "edited by the benchmark"},
            expected_version=job.version,
            source="bench",
        )
    else:
        from django_celery_beat.models import PeriodicTask

        task = PeriodicTask.objects.get(name=name)
        task.description = "edited by the benchmark"
        task.save()


def child_measure(system: str, n: int, t0: datetime, d: datetime, due: int) -> None:
    import time_machine

    with time_machine.travel(t0, tick=False) as clock:
        common.setup_django()
        from celery.signals import before_task_publish

        from config.celery import app

        published = [0]

        def count(**_kwargs: Any) -> None:
            published[0] += 1

        before_task_publish.connect(count, weak=False)
        if system != "dcb":
            from executions.beat import DynamicJobScheduler as Scheduler
        else:
            from django_celery_beat.schedulers import DatabaseScheduler as Scheduler

        result: dict[str, Any] = {"rss_before_mib": common.peak_rss_mib()}
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            scheduler = Scheduler(app=app)
            scheduler.tick()
        except Exception as exc:
            result.update(
                error=f"{type(exc).__name__}: {exc}",
                startup=time.perf_counter() - wall,
                peak_rss_mib=common.peak_rss_mib(),
            )
            common.report(result)
            return
        result["startup"] = time.perf_counter() - wall
        result["startup_cpu"] = time.process_time() - cpu
        result["loaded_entries"] = len(scheduler.schedule)

        profile = _profiler("idle", system)
        walls, cpus = [], []
        for _ in range(IDLE_TICKS):
            wall, cpu = time.perf_counter(), time.process_time()
            scheduler.tick()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        _profile_done(profile)
        result["idle_wall"] = common.median(walls)
        result["idle_cpu"] = common.median(cpus)
        result["idle_published"] = published[0]

        clock.shift(1)  # a change must carry a later timestamp than the last one
        _edit_one(system, n)
        profile = _profiler("edit", system)
        wall, cpu = time.perf_counter(), time.process_time()
        scheduler.tick()
        _profile_done(profile)
        result["edit_wall"] = time.perf_counter() - wall
        result["edit_cpu"] = time.process_time() - cpu
        wall = time.perf_counter()
        scheduler.tick()
        result["after_edit_wall"] = time.perf_counter() - wall

        clock.move_to(d, tick=False)
        published[0] = 0
        profile = _profiler("due", system)
        ticks, wall, cpu = 0, time.perf_counter(), time.process_time()
        deadline = wall + float(os.environ.get("BENCH_DUE_TIMEOUT", "600"))
        while published[0] < due and time.perf_counter() < deadline:
            interval = scheduler.tick()
            ticks += 1
            if published[0] < due and interval and interval > 0:
                time.sleep(min(interval, 1.0))  # what beat's loop does
        result["due_wall"] = time.perf_counter() - wall
        result["due_cpu"] = time.process_time() - cpu
        _profile_done(profile)
        result["due_ticks"] = ticks
        result["due_published"] = published[0]
        result["peak_rss_mib"] = common.peak_rss_mib()
        common.report(result)


# --- Parent ------------------------------------------------------------------


def _instants() -> tuple[datetime, datetime]:
    now = datetime.now(UTC).replace(microsecond=0)
    d = (now + timedelta(seconds=120)).replace(second=0)
    return d - timedelta(seconds=30), d


def run_pair(
    db: str,
    variant: str,
    n: int,
    template: str,
    systems: tuple[str, ...],
    due_timeout: float,
) -> dict[str, dict[str, Any]]:
    t0, d = _instants()
    out: dict[str, dict[str, Any]] = {s: {"error": "not run"} for s in LABEL}
    for system in systems:
        name = f"bench_{system}"
        url = common.sqlite_url(name) if db == "sqlite" else common.pg_url(name)
        common.clone_database(template, url)
        env = common.child_env(url, BENCH_DUE_TIMEOUT=str(due_timeout))
        stamp = [t0.isoformat(), d.isoformat()]
        try:
            seed = common.run_child(
                "bench.dispatcher", ["seed", system, variant, str(n), *stamp], env
            )
        except RuntimeError as exc:
            out[system] = {"error": f"seeding failed: {str(exc)[-300:]}"}
            print(f"    {out[system]['error']}", file=sys.stderr)
            continue
        print(
            f"  {db:8} {variant:8} N={n:<7} {LABEL[system]:20} seeded in "
            f"{seed['specs_seconds'] + seed['seed_seconds']:.1f}s; measuring…",
            file=sys.stderr,
            flush=True,
        )
        try:
            result = common.run_child(
                "bench.dispatcher",
                ["measure", system, variant, str(n), *stamp, str(seed["due"])],
                env,
            )
        except RuntimeError as exc:
            result = {"error": f"child failed: {str(exc)[-300:]}"}
        result["due_expected"] = seed["due"]
        out[system] = result
        if result.get("error"):
            print(f"    {LABEL[system]} failed: {result['error']}", file=sys.stderr)
        common.drop_database(url)
    return out


def _ratio(ours: Any, theirs: Any) -> str:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float):
        return "-"
    if ours <= 0:
        return "-"
    return f"{theirs / ours:,.1f}×"


def rows_for(db: str, variant: str, n: int, pair: dict[str, dict[str, Any]]) -> list:
    ours, dcb = pair["ours"], pair["dcb"]
    rows = []
    where = f"{db} {variant} N={n:,}"

    def cell(result: dict[str, Any], key: str, kind: str = "s") -> Any:
        if result.get("error") == "not run":
            return "-"
        if result.get("error") and key != "startup":
            return "failed"
        value = result.get(key)
        if value is None:
            return "-"
        return common.fmt_seconds(value) if kind == "s" else f"{value:,.0f} MiB"

    def due_cell(result: dict[str, Any]) -> str:
        if result.get("error") == "not run":
            return "-"
        if result.get("error"):
            return "failed"
        text = f"{common.fmt_seconds(result['due_wall'])} ({result['due_ticks']} ticks)"
        if result["due_published"] < result["due_expected"]:
            text += f" only {result['due_published']}/{result['due_expected']}"
        return text

    for label, key, kind in (
        ("start-up (construct + first tick)", "startup", "s"),
        ("idle tick, wall (median of 20)", "idle_wall", "s"),
        ("idle tick, CPU (median of 20)", "idle_cpu", "s"),
        ("tick after editing one job", "edit_wall", "s"),
    ):
        rows.append(
            [
                where,
                label,
                cell(ours, key, kind),
                cell(dcb, key, kind),
                _ratio_of(ours, dcb, key),
            ]
        )
    rows.append(
        [
            where,
            f"{ours.get('due_expected', DUE)} due at once: all published",
            due_cell(ours),
            due_cell(dcb),
            _ratio_of(ours, dcb, "due_wall"),
        ]
    )
    rows.append(
        [
            where,
            "peak RSS",
            cell(ours, "peak_rss_mib", "m"),
            cell(dcb, "peak_rss_mib", "m"),
            _ratio_of(ours, dcb, "peak_rss_mib"),
        ]
    )
    for result in (ours, dcb):
        if "peak_rss_mib" in result and "rss_before_mib" in result:
            result["rss_growth_mib"] = result["peak_rss_mib"] - result["rss_before_mib"]
    rows.append(
        [
            where,
            "peak RSS − RSS before construction",
            cell(ours, "rss_growth_mib", "m"),
            cell(dcb, "rss_growth_mib", "m"),
            _ratio_of(ours, dcb, "rss_growth_mib"),
        ]
    )
    if dcb.get("error") and dcb["error"] != "not run":
        rows.append([where, "DatabaseScheduler error", "", dcb["error"][:160], ""])
    return rows


def plan_rows_for(
    db: str, variant: str, n: int, pair: dict[str, dict[str, Any]]
) -> list:
    """Ours without and with calendars and windows, measured in the same run."""
    ours, plan = pair["ours"], pair["plan"]
    where = f"{db} {variant} N={n:,}"
    rows = []
    for label, key in (
        ("start-up (construct + first tick)", "startup"),
        ("idle tick, wall (median of 20)", "idle_wall"),
        ("idle tick, CPU (median of 20)", "idle_cpu"),
        ("tick after editing one job", "edit_wall"),
        (f"{ours.get('due_expected', DUE)} due at once: all published", "due_wall"),
    ):
        cells = [
            "failed" if r.get("error") else common.fmt_seconds(r[key])
            for r in (ours, plan)
        ]
        rows.append([where, label, *cells, _ratio_of(ours, plan, key)])
    return rows


def _ratio_of(ours: dict[str, Any], dcb: dict[str, Any], key: str) -> str:
    if ours.get("error") or dcb.get("error"):
        return "-"
    return _ratio(ours.get(key), dcb.get(key))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dispatcher", description=__doc__
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--distinct-sizes", default="1000,10000")
    parser.add_argument("--skip-distinct", action="store_true")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--only", choices=SYSTEMS, help="measure one scheduler (before/after runs)"
    )
    parser.add_argument(
        "--timeplan",
        action="store_true",
        help="ours without and with calendars and windows (no django-celery-beat)",
    )
    parser.add_argument(
        "--due-timeout",
        type=float,
        default=60.0,
        help="give up the 1 000-due phase after this many seconds",
    )
    parser.add_argument(
        "--render",
        nargs="+",
        metavar="FILE",
        help="print the table from the JSON lines of earlier runs' output",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.render:
        rows = []
        for path in args.render:
            with open(path) as lines:
                for line in lines:
                    if line.startswith("{"):
                        raw = json.loads(line)
                        rows.extend(rows_for(raw["db"], raw["variant"], raw["n"], raw))
        print(common.table(HEADERS, rows))
        return 0
    if args.child:
        action, system, variant, n, t0, d, *rest = args.child
        t0_dt, d_dt = datetime.fromisoformat(t0), datetime.fromisoformat(d)
        if action == "seed":
            child_seed(system, variant, int(n), t0_dt, d_dt)
        else:
            child_measure(system, int(n), t0_dt, d_dt, int(rest[0]))
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s]
    distinct = (
        []
        if args.skip_distinct
        else [int(s) for s in args.distinct_sizes.split(",") if s]
    )
    dbs = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    systems = (args.only,) if args.only else SYSTEMS
    if args.timeplan:
        systems, distinct = ("ours", "plan"), []
    headers, to_rows = (
        (PLAN_HEADERS, plan_rows_for) if args.timeplan else (HEADERS, rows_for)
    )
    print(f"Machine: {common.machine()}", flush=True)
    started = time.monotonic()
    rows = []
    for db in dbs:
        template = (
            common.sqlite_url("bench_template")
            if db == "sqlite"
            else common.pg_url("bench_template")
        )
        common.create_migrated(template)
        for variant, variant_sizes in (("mix", sizes), ("distinct", distinct)):
            for n in variant_sizes:
                pair = run_pair(db, variant, n, template, systems, args.due_timeout)
                rows.extend(to_rows(db, variant, n, pair))
                raw = {"db": db, "variant": variant, "n": n, **pair}
                print(json.dumps(raw, default=str), flush=True)
        common.drop_database(template)
    print()
    print(common.table(headers, rows))
    print(f"\nMachine: {common.machine()}")
    print(f"Total {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
