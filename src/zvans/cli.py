"""The ``zvans`` command. A user mistake prints one line and exits 2; never a traceback."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from zvans.app import Zvans, build
from zvans.config import load_settings
from zvans.errors import ZvansError

app = typer.Typer(help="Zvans contact center.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Users: add, list, change password, delete.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations (tenants).", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print JSON.", no_args_is_help=True)
sip_app = typer.Typer(help="SIP: phones registered with the running server.",
                      no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(org_app, name="org")
app.add_typer(bench_app, name="bench")
app.add_typer(sip_app, name="sip")
call_app = typer.Typer(help="Calls on a running server (simulated, for demos and tests).",
                       no_args_is_help=True)
app.add_typer(call_app, name="call")

T = TypeVar("T")


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _zvans() -> Zvans:
    return build(load_settings())


@contextmanager
def transaction() -> Iterator[tuple[Zvans, Session]]:
    z = _zvans()
    try:
        with z.sessions.begin() as session:
            yield z, session
    finally:
        z.close()


def _org_id(session: Session, slug: str | None) -> int:
    from zvans.store import orgs

    if slug:
        return orgs.get_org(session, slug).id
    all_orgs = orgs.list_orgs(session)
    if len(all_orgs) == 1:
        return all_orgs[0].id
    if not all_orgs:
        raise ZvansError("no organisation yet: run `zvans org add` or `zvans demo` first",
                         code="no-org")
    raise ZvansError("several organisations exist: pass --org SLUG", code="org-required")


OrgOpt = Annotated[str | None, typer.Option("--org", help="Organisation slug")]


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=None, default=str))


# --- serve / demo / db ------------------------------------------------------------------------

@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Web address (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="Web port", min=1, max=65535)] = None,
    sip_port: Annotated[int | None, typer.Option(help="SIP port", min=0, max=65535)] = None,
    demo_traffic: Annotated[bool, typer.Option(help="Feed simulated callers")] = False,
    media_workers: Annotated[int | None, typer.Option(
        help="Processes relaying and recording bridged calls (0: in the main process)",
        min=0, max=32)] = None,
) -> None:
    """Run Zvans: web, ACD and SIP in one process (plus media workers if asked)."""
    from zvans import server
    from zvans.telephony import service as telephony

    telephony.register()
    overrides: dict[str, Any] = {}
    if sip_port is not None:
        overrides["sip_port"] = sip_port
    if media_workers is not None:
        overrides["media_workers"] = media_workers
    settings = load_settings(**overrides)
    z = build(settings)
    z.services["demo_traffic"] = demo_traffic
    _require_schema(z)
    server.run(z, host or settings.host, port or settings.port)


def _require_schema(z: Zvans) -> None:
    from zvans.store import migrate

    try:
        current = migrate.current_revision(z.engine)
    except OperationalError as exc:
        raise ZvansError(f"cannot open the database: {exc.orig}", code="db-unreachable") from None
    if current != migrate.head_revision():
        raise ZvansError(
            f"the database schema is at {current or 'nothing'}, not "
            f"{migrate.head_revision()}: run `zvans db upgrade`", code="db-outdated")


@app.command()
def demo() -> None:
    """Load the demo organisation, queues, agents and topics (twice changes nothing)."""
    from zvans import demo as demo_data

    z = _zvans()
    _require_schema(z)
    with z.sessions.begin() as session:
        result = demo_data.load_demo(session, z.settings.sip_domain)
    z.close()
    if result.created:
        typer.echo("Demo data loaded: organisation 'demo'.")
    else:
        typer.echo("Demo data already present: nothing changed.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    from zvans.store import migrate

    settings = load_settings()
    z = build(settings)
    try:
        migrate.upgrade(settings.database_url)
        typer.echo(f"Database at schema revision {migrate.current_revision(z.engine)}.")
    except OperationalError as exc:
        raise ZvansError(f"cannot open the database: {exc.orig}", code="db-unreachable") from None
    finally:
        z.close()


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the configured database."""
    z = _zvans()
    print_json(z.database_info())
    z.close()


# --- organisations ----------------------------------------------------------------------------

@org_app.command("add")
def org_add(
    slug: Annotated[str, typer.Argument(help="Short id: lower-case letters, digits, '-'")],
    name: Annotated[str, typer.Argument(help="Display name")],
    timezone: Annotated[str, typer.Option(help="IANA time zone")] = "Europe/Riga",
    language: Annotated[str, typer.Option(help="lv, en, lt or et")] = "lv",
) -> None:
    """Add an organisation."""
    from zvans.store import orgs

    with transaction() as (_z, session):
        org = orgs.add_org(session, slug, name, timezone=timezone, language=language)
        typer.echo(f"Organisation {org.slug} added (id {org.id}).")


@org_app.command("list")
def org_list() -> None:
    """List organisations."""
    from zvans.store import orgs

    with transaction() as (_z, session):
        for org in orgs.list_orgs(session):
            typer.echo(f"{org.id}\t{org.slug}\t{org.name}\t{org.timezone}")


# --- users ------------------------------------------------------------------------------------

@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Letters, digits, _ . @")],
    email: Annotated[str, typer.Option(help="E-mail address")],
    role: Annotated[str, typer.Option(help="admin, supervisor or agent")] = "agent",
    password: Annotated[str | None, typer.Option(help="Password (asked if omitted)")] = None,
    first_name: Annotated[str, typer.Option()] = "",
    surname: Annotated[str, typer.Option()] = "",
    phone: Annotated[str, typer.Option()] = "",
    extension: Annotated[str, typer.Option(help="Agent's short number")] = "",
    org: OrgOpt = None,
) -> None:
    """Add a user."""
    from zvans.store import users

    if password is None:
        password = _ask_password()
    with transaction() as (_z, session):
        org_id = _org_id(session, org)
        user = users.add_user(session, org_id, users.UserInput(
            username=username, password=password, email=email, role=role,
            first_name=first_name, surname=surname, phone=phone, extension=extension))
        typer.echo(f"User {user.username} added (id {user.id}, {user.role}).")


def _ask_password() -> str:
    if not sys.stdin.isatty():
        raise ZvansError("no --password given and no terminal to ask on", code="password-required")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@user_app.command("list")
def user_list(org: OrgOpt = None) -> None:
    """List users of an organisation."""
    from zvans.store import users

    with transaction() as (_z, session):
        org_id = _org_id(session, org)
        for u in users.list_users(session, org_id):
            typer.echo(f"{u.id}\t{u.username}\t{u.role}\t{u.first_name} {u.surname}\t{u.email}")


@user_app.command("passwd")
def user_passwd(
    username: Annotated[str, typer.Argument()],
    password: Annotated[str | None, typer.Option(help="New password (asked if omitted)")] = None,
    org: OrgOpt = None,
) -> None:
    """Change a user's password."""
    from zvans.store import users

    if password is None:
        password = _ask_password()
    with transaction() as (_z, session):
        user = users.user_by_name(session, _org_id(session, org), username)
        users.set_password(session, user, password)
        typer.echo(f"Password of {user.username} changed.")


@user_app.command("delete")
def user_delete(username: Annotated[str, typer.Argument()], org: OrgOpt = None) -> None:
    """Delete a user (kept for statistics; the name stays reserved)."""
    from zvans.store import users

    with transaction() as (_z, session):
        user = users.user_by_name(session, _org_id(session, org), username)
        users.delete_user(session, user)
        typer.echo(f"User {user.username} deleted.")


@call_app.command("simulate")
def call_simulate(
    queue: Annotated[str, typer.Option(help="Queue name or id")],
    caller: Annotated[str, typer.Option(help="Caller's number, e.g. +37120000001")],
    url: Annotated[str | None, typer.Option(help="Server URL (default: settings host/port)")]
    = None,
    user: Annotated[str, typer.Option(help="An administrator's user name")] = "admin",
    password: Annotated[str | None, typer.Option(
        help="Password (or ZVANS_PASSWORD)", envvar="ZVANS_PASSWORD")] = None,
    topic: Annotated[str, typer.Option(help="IVR topic the caller chose")] = "",
) -> None:
    """Send a simulated caller into a queue of a running server (admin API, flagged)."""
    from zvans.web.client import ApiClient

    if password is None:
        password = _ask_password()
    if url is None:
        settings = load_settings()
        url = f"http://{settings.host}:{settings.port}"
    client = ApiClient(url)
    client.login(user, password)
    result = client.call("POST", "/api/v1/calls/simulate",
                         {"queue": queue, "caller": caller, "ivr_topic": topic})
    print_json(result)


# --- simulation and benchmarks ---------------------------------------------------------------

@app.command()
def simulate(
    agents: Annotated[int, typer.Option(min=1, max=100_000)] = 20,
    arrivals_per_hour: Annotated[float, typer.Option(min=0.001)] = 300.0,
    aht: Annotated[float, typer.Option(help="Mean talk time, s", min=0.1)] = 180.0,
    patience: Annotated[float, typer.Option(help="Mean patience, s", min=0.1)] = 300.0,
    hours: Annotated[float, typer.Option(min=0.01, max=10_000)] = 8.0,
    seed: Annotated[int, typer.Option()] = 1,
    queues: Annotated[int, typer.Option(min=1, max=1000)] = 1,
    levels: Annotated[int, typer.Option(min=1, max=10)] = 1,
) -> None:
    """Drive the real ACD on a virtual clock with Poisson traffic; print JSON."""
    from zvans.core import simulator

    print_json(simulator.simulate(
        agents=agents, arrivals_per_hour=arrivals_per_hour, aht_s=aht, patience_s=patience,
        hours=hours, seed=seed, queues=queues, levels=levels))


@bench_app.command("acd")
def bench_acd(
    agents: Annotated[int, typer.Option(min=1, max=1_000_000)] = 10_000,
    queues: Annotated[int, typer.Option(min=1, max=100_000)] = 500,
    skills_per_agent: Annotated[int, typer.Option(min=1, max=100)] = 5,
    seconds: Annotated[float, typer.Option(min=0.1, max=600)] = 10.0,
) -> None:
    """Routing decisions per second and latency at scale; prints JSON."""
    from zvans.bench import acd

    print_json(acd.run(agents=agents, queues=queues, skills_per_agent=skills_per_agent,
                       seconds=seconds))


@bench_app.command("media")
def bench_media(
    calls: Annotated[int, typer.Option(min=1, max=10_000, help="Bridged calls")] = 400,
    seconds: Annotated[float, typer.Option(min=1, max=600)] = 10.0,
    record: Annotated[bool, typer.Option(help="Record every call to WAV")] = True,
    moh: Annotated[int, typer.Option(min=0, max=10_000, help="Callers on hold music")] = 0,
    nice: Annotated[int, typer.Option(min=-20, max=19, help="Scheduling priority")] = 0,
    workers: Annotated[int, typer.Option(min=0, max=32,
                                         help="Media worker processes (0: in process)")] = 0,
) -> None:
    """RTP relay of N recorded bridged calls on loopback; prints JSON."""
    from zvans.telephony.media import bench as media_bench

    print_json(media_bench.run(calls=calls, seconds=seconds, record=record, moh=moh,
                               nice=nice, workers=workers))


@bench_app.command("sip")
def bench_sip(
    calls: Annotated[int, typer.Option(help="Concurrent bridged calls to hold", min=1,
                                       max=5000)] = 400,
    rate: Annotated[float, typer.Option(help="New calls per second", min=1, max=2000)] = 50,
    hold: Annotated[float, typer.Option(help="Seconds each call talks", min=1,
                                        max=3600)] = 20.0,
    setup_calls: Annotated[int, typer.Option(help="Calls of the setup-rate phase (0: skip)",
                                             min=0, max=100_000)] = 2000,
    setup_rate: Annotated[float, typer.Option(help="Offered setups per second", min=1,
                                              max=5000)] = 200,
    cpu: Annotated[int, typer.Option(help="Core to pin the server to (-1: no pinning)",
                                     min=-1)] = 0,
    nice: Annotated[int, typer.Option(help="nice for server and sipp (negative: root)",
                                      min=-20, max=19)] = 0,
    media_workers: Annotated[int, typer.Option(
        help="Media worker processes for the server (then not pinned)", min=0, max=32)] = 0,
) -> None:
    """Drive sipp against `zvans serve` (one core): bridged recorded calls; prints JSON."""
    from zvans.bench import sip as sip_bench

    print_json(sip_bench.run(calls=calls, rate=rate, hold_s=hold, setup_calls=setup_calls,
                             setup_rate=setup_rate, cpu=cpu, nice=nice,
                             media_workers=media_workers))


@sip_app.command("registrations")
def sip_registrations(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List the SIP phones registered with the running `zvans serve`."""
    from zvans.telephony.service import read_registrations, registrations_path

    settings = load_settings()
    data = read_registrations(settings.data_dir)
    if data is None:
        raise ZvansError(f"no registration list at {registrations_path(settings.data_dir)}: "
                         "is `zvans serve` running with this data_dir?", code="no-sip")
    rows = data["registrations"]
    if as_json:
        print_json(data)
        return
    if not data["server_running"]:
        typer.echo("warning: the server that wrote this list is not running", err=True)
    if not rows:
        typer.echo("No phones registered.")
        return
    typer.echo(f"{'user':<20} {'contact':<44} {'source':<26} {'expires':>7}  user agent")
    for row in rows:
        typer.echo(f"{row['user']:<20} {row['contact']:<44} {row['source']:<26} "
                   f"{row['expires_in']:>6}s  {row['user_agent']}")


# --- reports ---------------------------------------------------------------------------------

REPORT_FORMATS = ("table", "csv", "xlsx", "json")


@app.command("report")
def report_cmd(
    name: Annotated[str, typer.Argument(
        help="agents, queues, unanswered, outgoing, topics, absence, quality, yearly, kpis "
             "or live")],
    date_from: Annotated[str | None, typer.Option(
        "--from", help="First day, YYYY-MM-DD (default: today)")] = None,
    date_to: Annotated[str | None, typer.Option(
        "--to", help="Last day, YYYY-MM-DD (default: the first day)")] = None,
    queue: Annotated[list[str] | None, typer.Option(
        "--queue", help="Queue name or id (repeatable)")] = None,
    agent: Annotated[list[str] | None, typer.Option(
        "--agent", help="Agent user name or id (repeatable)")] = None,
    group: Annotated[str, typer.Option(help="total, day or hour")] = "total",
    fmt: Annotated[str, typer.Option("--format", help="table, csv, xlsx or json")] = "table",
    output: Annotated[str | None, typer.Option(
        "--output", help="Write to this file instead of the terminal")] = None,
    org: OrgOpt = None,
) -> None:
    """Print or export a report computed from the event log."""
    from zvans import reports
    from zvans.reports import cli_support

    if fmt not in REPORT_FORMATS:
        raise ZvansError(f"--format must be one of {', '.join(REPORT_FORMATS)}",
                         code="bad-format")
    if fmt == "xlsx" and not output:
        raise ZvansError("--format xlsx writes a file: add --output FILE.xlsx",
                         code="output-required")
    z = _zvans()
    try:
        _require_schema(z)
        with z.sessions() as session:
            org_id = _org_id(session, org)
            params = cli_support.params(session, org_id, date_from, date_to, queue or [],
                                        agent or [], group)
            report = reports.run_report(session, org_id, name, params)
            from zvans.store.models import Organisation

            org_row = session.get(Organisation, org_id)
            language = org_row.language if org_row is not None else "en"
    finally:
        z.close()
    if fmt != "json":  # tables, CSV and XLSX in the organisation's language
        from zvans.reports.table import localize
        from zvans.web.i18n import gettext_for

        report = localize(report, gettext_for(language).gettext)
    cli_support.emit(report, fmt, output)


@app.command("report-rollup")
def report_rollup(
    rebuild: Annotated[bool, typer.Option(help="Drop the rollups and build them again")] = False,
    org: OrgOpt = None,
) -> None:
    """Bring the per-hour report rollups up to date (idempotent; run it from cron)."""
    from zvans import reports

    z = _zvans()
    try:
        _require_schema(z)
        if org or rebuild:
            with z.sessions() as session:
                org_id = _org_id(session, org)
            results = [reports.rebuild(z.sessions, org_id) if rebuild
                       else reports.catch_up(z.sessions, org_id)]
        else:
            results = reports.catch_up_all(z.sessions)
    finally:
        z.close()
    print_json([{"org_id": r.org_id, "hours": r.hours,
                 "done_until": r.done_until.isoformat() if r.done_until else None}
                for r in results])


@bench_app.command("reports")
def bench_reports(
    events: Annotated[int, typer.Option(min=1000, max=100_000_000)] = 10_000_000,
    calls_per_day: Annotated[int, typer.Option(min=10, max=1_000_000)] = 30_000,
    engines: Annotated[str, typer.Option(help="sqlite,postgresql or one of them")] = (
        "sqlite,postgresql"),
    runs: Annotated[int, typer.Option(min=1, max=100)] = 5,
    seed: Annotated[int, typer.Option()] = 1,
) -> None:
    """Generate an event log, build rollups, time every report; prints JSON."""
    from zvans.bench import reports as bench

    chosen = tuple(e.strip() for e in engines.split(",") if e.strip())
    bad = [e for e in chosen if e not in ("sqlite", "postgresql")]
    if bad or not chosen:
        raise ZvansError("--engines takes sqlite, postgresql or both, comma-separated",
                         code="bad-engines")
    print_json(bench.run(events=events, calls_per_day=calls_per_day, engines=chosen,
                         runs=runs, seed=seed))


def _guard(func: Callable[[], T]) -> T:
    try:
        return func()
    except ZvansError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    _guard(lambda: app(standalone_mode=True))


if __name__ == "__main__":
    main()
