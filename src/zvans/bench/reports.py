"""``zvans bench reports``: a realistic event log, loaded fast, and every report timed.

The generator writes a contact center's days straight through the DB-API (``executemany``
on SQLite, ``COPY`` on PostgreSQL): interactions, their events (IVR, queue, ring, answer,
hold, transfer, wrap-up, ratings, callbacks, voice messages, outgoing calls), agents'
shifts with pauses, and requests with topics. Then the rollups are built with the normal
catch-up job and each report is timed over one day, one month and the whole range.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import pwd
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from glob import glob
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, func, select, text
from sqlalchemy.schema import CreateIndex, DropIndex

from zvans.store.models import (
    AgentProfile,
    Base,
    Event,
    Interaction,
    Organisation,
    PauseReason,
    Queue,
    Request,
    User,
    WrapupCode,
)

EVENT_COLS = ("id", "at", "org_id", "interaction_id", "queue_id", "agent_id", "type", "data")
INTERACTION_COLS = (
    "id", "org_id", "channel", "direction", "caller", "callee", "did", "queue_id", "agent_id",
    "customer_id", "parent_id", "ivr_topic", "started_at", "enqueued_at", "answered_at",
    "ended_at", "outcome", "recording_ref", "rating", "identified", "simulated")
REQUEST_COLS = ("id", "org_id", "created_at", "phone", "name", "comment", "agent_id",
                "queue_id", "interaction_id", "duration_s", "edited_at", "edited_by")
PAUSES = (("card", "Filling the client card"), ("lunch", "Lunch"), ("other", "Other reason"),
          ("training", "Training"))
TOPICS = ("REG", "EPS", "AREA", "FOREST", "COVID", "ANIMAL", "INVEST", "PAYMENT", "TECH",
          "OTHER")
#: Mean events per call of the mix below (measured), used to turn --events into days.
EVENTS_PER_CALL = 5.6


@dataclass
class Org:
    org_id: int
    queue_ids: list[int]
    agent_ids: list[int]
    topic_ids: list[int]


@dataclass
class Batch:
    events: list[tuple[Any, ...]] = field(default_factory=list)
    interactions: list[tuple[Any, ...]] = field(default_factory=list)
    requests: list[tuple[Any, ...]] = field(default_factory=list)
    request_topics: list[tuple[int, int]] = field(default_factory=list)


def setup_org(engine: Engine, slug: str = "bench", queues: int = 12, agents: int = 180
              ) -> Org:
    """An organisation with queues, agents (no password: they never log in), pause
    reasons and topics, inserted directly (fast, no hashing)."""
    from sqlalchemy.orm import Session

    with Session(engine) as s, s.begin():
        org = Organisation(slug=slug, name=f"Bench {slug}", timezone="Europe/Riga",
                           language="en")
        s.add(org)
        s.flush()
        qs = [Queue(org_id=org.id, name=f"Queue {i + 1:02d}", names={},
                    sl_threshold_s=20 if i % 3 else 30) for i in range(queues)]
        s.add_all(qs)
        users = [User(org_id=org.id, username=f"{slug}.agent{i + 1:03d}", password_hash="-",
                      email=f"agent{i + 1}@{slug}.test", role="agent",
                      first_name="Agent", surname=f"{i + 1:03d}") for i in range(agents)]
        s.add_all(users)
        for i, (code, name) in enumerate(PAUSES):
            s.add(PauseReason(org_id=org.id, position=(i + 1) * 10, code=code,
                              names={"en": name}))
        topics = [WrapupCode(org_id=org.id, position=(i + 1) * 10, code=code,
                             names={"en": code.title()}) for i, code in enumerate(TOPICS)]
        s.add_all(topics)
        s.flush()
        s.add_all([AgentProfile(org_id=org.id, user_id=u.id) for u in users])
        return Org(org.id, [q.id for q in qs], [u.id for u in users], [t.id for t in topics])


class Generator:
    """Deterministic (seeded) traffic of one organisation, one day at a time."""

    def __init__(self, org: Org, *, calls_per_day: int, seed: int, first_ids: dict[str, int],
                 pg: bool = False) -> None:
        self.org = org
        self.false: Any = "f" if pg else 0
        self.calls_per_day = calls_per_day
        self.rng = random.Random(seed)
        self.next_event = first_ids["event"]
        self.next_interaction = first_ids["interaction"]
        self.next_request = first_ids["request"]
        self.callers = [f"+3712{n:07d}" for n in range(max(100, calls_per_day * 3))]

    def _ev(self, b: Batch, at: datetime, type_: str, iid: int | None, q: int | None,
            a: int | None, data: dict[str, Any] | None = None) -> None:
        b.events.append((self.next_event, _ts(at), self.org.org_id, iid, q, a, type_,
                         _json(data) if data else "{}"))
        self.next_event += 1

    def day(self, day: date) -> Batch:
        rng, org, b = self.rng, self.org, Batch()
        # Naive UTC: the rows carry timestamps as text, and naive ones format fastest.
        base = datetime(day.year, day.month, day.day)
        # Shifts: every agent works most days, 8 h starting between 05:00 and 13:00 UTC.
        on_shift: dict[int, list[int]] = {h: [] for h in range(24)}
        for agent in org.agent_ids:
            if rng.random() < 0.15:
                continue
            start = base + timedelta(hours=5, seconds=rng.randrange(0, 8 * 3600))
            end = start + timedelta(hours=8)
            self._ev(b, start, "agent_login", None, None, agent)
            lunch = start + timedelta(hours=4, seconds=rng.randrange(0, 1800))
            pauses = [(lunch, "lunch", 1800)]
            for _ in range(rng.randrange(0, 4)):
                at = start + timedelta(seconds=rng.randrange(600, 7 * 3600))
                pauses.append((at, rng.choice(("card", "other", "training")),
                               rng.randrange(60, 900)))
            pauses.sort()
            free = start
            for at, reason, length in pauses:
                if at < free:
                    continue
                self._ev(b, at, "agent_paused", None, None, agent, {"reason": reason})
                free = at + timedelta(seconds=length)
                self._ev(b, free, "agent_ready", None, None, agent)
            self._ev(b, max(end, free), "agent_logout", None, None, agent)
            for h in range(start.hour, min(24, end.hour + 1)):
                on_shift[h].append(agent)
        for _ in range(self.calls_per_day):
            secs = int(rng.triangular(6 * 3600, 20 * 3600, 10 * 3600))
            t0 = base + timedelta(seconds=secs, microseconds=rng.randrange(0, 1_000_000))
            staff = on_shift[t0.hour] or org.agent_ids
            self._call(b, t0, rng.choice(staff))
        return b

    def _call(self, b: Batch, t0: datetime, agent: int) -> None:
        rng = self.rng
        iid = self.next_interaction
        self.next_interaction += 1
        caller = rng.choice(self.callers)
        r = rng.random()
        q = rng.choice(self.org.queue_ids)
        ended = t0
        enq = ans = None
        a_id: int | None = None
        direction, outcome, callee = "in", "", ""
        if r < 0.12:  # outgoing
            direction, callee, caller, a_id = "out", caller, "", agent
            self._ev(b, t0, "arrived", iid, None, agent, {"direction": "out"})
            outcome = "no_answer"
            ended = t0 + timedelta(seconds=rng.randrange(10, 40))
            if rng.random() < 0.7:
                ans = t0 + timedelta(seconds=rng.randrange(5, 25))
                talk = rng.randrange(30, 600)
                ended = ans + timedelta(seconds=talk)
                self._ev(b, ans, "answered", iid, None, agent, {"direction": "out"})
                self._ev(b, ended, "completed", iid, None, agent,
                         {"direction": "out", "talk_s": talk})
                self._ev(b, ended + timedelta(seconds=10), "wrapup_done", iid, None, agent,
                         {"wrapup_s": 10})
                outcome = "answered"
        elif r < 0.17:  # hung up in the IVR
            self._ev(b, t0, "arrived", iid, None, None, {})
            self._ev(b, t0 + timedelta(seconds=1), "ivr_entered", iid, None, None)
            ended = t0 + timedelta(seconds=rng.randrange(3, 40))
            self._ev(b, ended, "ivr_abandoned", iid, None, None)
            outcome = "ivr_abandoned"
        elif r < 0.20:  # out of hours
            self._ev(b, t0, "arrived", iid, None, None, {})
            self._ev(b, t0 + timedelta(seconds=1), "out_of_hours", iid, q, None)
            ended = t0 + timedelta(seconds=20)
            if rng.random() < 0.5:
                ended = t0 + timedelta(seconds=rng.randrange(20, 90))
                self._ev(b, ended, "voicemail_left", iid, q, None)
            outcome = "out_of_hours"
        else:
            self._ev(b, t0, "arrived", iid, None, None, {})
            enq = t0 + timedelta(seconds=rng.randrange(5, 20))
            self._ev(b, enq, "enqueued", iid, q, None)
            wait = rng.expovariate(1 / 25.0)
            x = rng.random()
            if x < 0.08:
                ended = enq + timedelta(seconds=wait)
                self._ev(b, ended, "abandoned", iid, q, None, {"wait_s": round(wait, 3)})
                outcome = "abandoned"
            elif x < 0.10:
                ended = enq + timedelta(seconds=wait)
                self._ev(b, ended, "callback_requested", iid, q, None,
                         {"wait_s": round(wait, 3)})
                self._ev(b, ended + timedelta(minutes=15), "callback_started", iid, q, agent)
                outcome = "callback"
            else:
                a_id = agent
                offered = enq + timedelta(seconds=max(0.0, wait - 3))
                if rng.random() < 0.05:
                    self._ev(b, offered, "offered", iid, q, agent)
                    self._ev(b, offered + timedelta(seconds=15), "ring_no_answer", iid, q,
                             agent)
                    wait += 16
                    offered = enq + timedelta(seconds=wait - 3)
                self._ev(b, offered, "offered", iid, q, agent)
                ans = enq + timedelta(seconds=wait)
                self._ev(b, ans, "answered", iid, q, agent, {"wait_s": round(wait, 3)})
                talk = int(rng.lognormvariate(5.0, 0.6)) + 10
                if rng.random() < 0.03:
                    held = ans + timedelta(seconds=talk // 2)
                    hold = rng.randrange(10, 120)
                    self._ev(b, held, "held", iid, q, agent)
                    self._ev(b, held + timedelta(seconds=hold), "resumed", iid, q, agent,
                             {"hold_s": hold})
                ended = ans + timedelta(seconds=talk)
                if rng.random() < 0.02:
                    self._ev(b, ended, "transferred", iid, q, agent, {"target": "queue"})
                self._ev(b, ended, "completed", iid, q, agent, {"talk_s": talk})
                wrap = rng.randrange(5, 60)
                self._ev(b, ended + timedelta(seconds=wrap), "wrapup_done", iid, q, agent,
                         {"wrapup_s": wrap})
                if rng.random() < 0.2:
                    self._ev(b, ended + timedelta(seconds=30), "rated", iid, q, agent,
                             {"rating": rng.choice((3, 4, 4, 5, 5, 5))})
                if rng.random() < 0.4:
                    rid = self.next_request
                    self.next_request += 1
                    b.requests.append((rid, self.org.org_id, _ts(ended), caller, "Client", "",
                                       agent, q, iid, talk, None, None))
                    for tid in rng.sample(self.org.topic_ids, rng.choice((1, 1, 1, 2))):
                        b.request_topics.append((rid, tid))
                outcome = "answered"
        b.interactions.append((
            iid, self.org.org_id, "voice", direction, caller, callee, "",
            q if direction == "in" and enq is not None else None, a_id, None, None, "", _ts(t0),
            _ts(enq), _ts(ans), _ts(ended), outcome, None, None, self.false, self.false))


# --- loading -------------------------------------------------------------------------------

_json = json.JSONEncoder(separators=(",", ":")).encode


def _ts(value: datetime | None) -> str | None:
    """A UTC datetime as SQLAlchemy stores it on SQLite (and PostgreSQL reads it)."""
    if value is None:
        return None
    return value.isoformat(" ", "microseconds")  # naive UTC (see Generator.day)


def _copy_text(rows: list[tuple[Any, ...]]) -> str:
    """Rows as COPY text. The generator writes no tab, newline or backslash in any value."""
    return "".join(["\t".join(["\\N" if v is None else str(v) for v in r]) + "\n"
                    for r in rows])


#: (table, columns, Batch attribute), in loading order.
TABLES = (("interaction", INTERACTION_COLS, "interactions"), ("event_log", EVENT_COLS, "events"),
          ("request", REQUEST_COLS, "requests"),
          ("request_wrapup", ("request_id", "wrapup_code_id"), "request_topics"))


def _ready(batch: Batch, pg: bool) -> dict[str, Any]:
    """What the loader writes: rows (SQLite) or COPY text (PostgreSQL) per table, and
    counts."""
    out: dict[str, Any] = {name: (_copy_text(getattr(batch, attr)) if pg
                                  else getattr(batch, attr)) for name, _c, attr in TABLES}
    out["counts"] = {"events": len(batch.events), "interactions": len(batch.interactions),
                     "requests": len(batch.requests)}
    return out


class Loader:
    """Bulk inserts through one raw DB-API connection of ``engine``.

    ``fast`` (the benchmark's own throw-away database only) turns off what a bulk load of
    generated, consistent rows does not need: foreign-key checks (SQLite ``foreign_keys``,
    PostgreSQL ``session_replication_role = replica``, which needs a superuser — the
    benchmark's private server) and, on SQLite, waiting for the disk (``synchronous=OFF``)."""

    def __init__(self, engine: Engine, *, fast: bool = False) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.fast = fast
        self.raw: Any = None

    def first_ids(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            def nxt(col: Any) -> int:
                return int(conn.execute(select(func.coalesce(func.max(col), 0))).scalar() or 0) + 1
            return {"event": nxt(Event.id), "interaction": nxt(Interaction.id),
                    "request": nxt(Request.id)}

    def __enter__(self) -> Loader:
        self.raw = self.engine.raw_connection()
        if self.fast:
            cur = self.raw.cursor()
            try:
                if self.sqlite:
                    self.raw.commit()
                    cur.execute("PRAGMA foreign_keys=OFF")
                    cur.execute("PRAGMA synchronous=OFF")
                    cur.execute("PRAGMA cache_size=-262144")  # 256 MB, for the index builds
                else:
                    cur.execute("SET session_replication_role = replica")
                    self.raw.commit()
            except Exception:  # not a superuser: keep the checks
                self.raw.rollback()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.raw.rollback()
            cur = self.raw.cursor()
            if self.sqlite:
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA cache_size=-2000")
            else:
                cur.execute("SET session_replication_role = DEFAULT")
                self.raw.commit()
        finally:
            self.raw.close()

    def load(self, ready: dict[str, Any]) -> None:
        """Write one ``_ready`` batch in one transaction."""
        cur = self.raw.cursor()
        for name, cols, _attr in TABLES:
            rows = ready[name]
            if not rows:
                continue
            if self.sqlite:
                marks = ",".join("?" * len(cols))
                cur.executemany(f"INSERT INTO {name} ({','.join(cols)}) VALUES ({marks})", rows)
            else:
                with cur.copy(f"COPY {name} ({','.join(cols)}) FROM STDIN") as cp:
                    cp.write(rows)
        self.raw.commit()

    def ddl(self, statements: list[str]) -> None:
        cur = self.raw.cursor()
        for stmt in statements:
            cur.execute(stmt)
        self.raw.commit()

    def finish(self) -> None:
        """Refresh planner statistics and, on PostgreSQL, the id sequences."""
        with self.engine.begin() as conn:
            if self.sqlite:
                conn.execute(text("ANALYZE"))
                return
            for table in ("event_log", "interaction", "request"):
                conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"))
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


BULK_TABLES = (Event, Interaction, Request)


def _indexes() -> list[Any]:
    return [ix for model in BULK_TABLES for ix in cast(Table, model.__table__).indexes]


def _produce(out: Any, org: Org, calls_per_day: int, seed: int, first_ids: dict[str, int],
             start: date, days: int, pg: bool) -> None:
    """The generating process: one ready batch per day into ``out``, then its time."""
    try:
        gen = Generator(org, calls_per_day=calls_per_day, seed=seed, first_ids=first_ids,
                        pg=pg)
        spent = 0.0
        for i in range(days):
            t = time.perf_counter()
            ready = _ready(gen.day(start + timedelta(days=i)), pg)
            spent += time.perf_counter() - t
            out.put(("day", ready))
        out.put(("done", spent))
    except BaseException as e:  # reported to the loading process, which raises it
        out.put(("error", repr(e)))


def _days(org: Org, calls_per_day: int, seed: int, first_ids: dict[str, int], start: date,
          days: int, pg: bool, parallel: bool, timing: dict[str, float]
          ) -> Iterator[dict[str, Any]]:
    """Ready batches, one per day: generated here, or by a second process (``parallel``,
    the machine has several cores) while this one loads."""
    if not parallel:
        gen = Generator(org, calls_per_day=calls_per_day, seed=seed, first_ids=first_ids,
                        pg=pg)
        for i in range(days):
            t = time.perf_counter()
            ready = _ready(gen.day(start + timedelta(days=i)), pg)
            timing["generate_s"] += time.perf_counter() - t
            yield ready
        return
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue(maxsize=3)
    proc = ctx.Process(target=_produce, args=(queue, org, calls_per_day, seed, first_ids,
                                              start, days, pg), daemon=True)
    proc.start()
    try:
        for _ in range(days + 1):  # bounded: one message per day, then "done"
            kind, payload = queue.get(timeout=600)
            if kind == "error":
                raise RuntimeError(f"the generating process failed: {payload}")
            if kind == "done":
                timing["generate_s"] = payload
                break
            yield payload
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=10)


def generate(engine: Engine, org: Org, *, start: date, days: int, calls_per_day: int,
             seed: int = 1, bulk: bool = False, parallel: bool = False) -> dict[str, Any]:
    """Generate and load ``days`` days; returns counts and timings. ``bulk`` (a throw-away
    database) drops the secondary indexes of the event log, interactions and requests while
    loading (only when those tables start empty) and builds them again at the end, and
    loads without foreign-key checks; ``parallel`` generates in a second process."""
    empty = False
    if bulk:
        with engine.connect() as conn:
            empty = all(conn.execute(select(func.count()).select_from(m)).scalar() == 0
                        for m in BULK_TABLES)
    drop = bulk and empty
    pg = engine.dialect.name != "sqlite"
    indexes = _indexes()
    timing = {"generate_s": 0.0, "load_s": 0.0}
    counts = {"events": 0, "interactions": 0, "requests": 0}
    with Loader(engine, fast=bulk) as loader:
        first_ids = loader.first_ids()
        if drop:
            loader.ddl([str(DropIndex(ix).compile(dialect=engine.dialect)) for ix in indexes])
        wall = time.perf_counter()
        for ready in _days(org, calls_per_day, seed, first_ids, start, days, pg, parallel,
                           timing):
            t = time.perf_counter()
            loader.load(ready)
            timing["load_s"] += time.perf_counter() - t
            for k in counts:
                counts[k] += ready["counts"][k]
        wall = time.perf_counter() - wall
        t = time.perf_counter()
        if drop:
            loader.ddl([str(CreateIndex(ix).compile(dialect=engine.dialect))
                        for ix in indexes])
        t_index = time.perf_counter() - t
    t = time.perf_counter()
    loader.finish()
    t_analyze = time.perf_counter() - t
    return {**counts, "generate_s": round(timing["generate_s"], 2),
            "load_s": round(timing["load_s"], 2), "generate_and_load_s": round(wall, 2),
            "index_s": round(t_index, 2), "analyze_s": round(t_analyze, 2)}


# --- a private PostgreSQL for the benchmark -------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def private_postgres() -> Iterator[str]:
    """initdb + pg_ctl on a free loopback port in a temporary directory; yields a URL of an
    empty database and stops the server (by its data directory) afterwards."""
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        from zvans.errors import ZvansError
        raise ZvansError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)",
                         code="no-postgres")
    bindir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="zvans-bench-pg-"))
    run_as = "postgres" if os.geteuid() == 0 else None
    user = run_as or pwd.getpwuid(os.geteuid()).pw_name
    sock = root / "sock"
    sock.mkdir()
    if run_as:
        info = pwd.getpwnam(run_as)
        os.chown(root, info.pw_uid, info.pw_gid)
        os.chown(sock, info.pw_uid, info.pw_gid)
    data = root / "data"
    subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", user, "-A", "trust",
                    "-E", "UTF8", "--no-sync"], check=True, user=run_as, capture_output=True,
                   cwd=root)
    port = _free_port()
    opts = (f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={sock} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c shared_buffers=512MB -c work_mem=64MB -c maintenance_work_mem=512MB "
            "-c max_wal_size=4GB")
    subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o",
                    opts, "-w", "-t", "60", "start"], check=True, user=run_as,
                   capture_output=True, cwd=root)
    try:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={port} user={user} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute('CREATE DATABASE "zvans_bench"')
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/zvans_bench"
    finally:
        subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       user=run_as, capture_output=True, check=False, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


# --- timing --------------------------------------------------------------------------------

def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, math.ceil(p * len(ordered)) - 1)
    return ordered[k]


def time_reports(sessions: Any, org_id: int, ranges: dict[str, tuple[date, date]],
                 runs: int, now: datetime) -> dict[str, Any]:
    from zvans import reports

    out: dict[str, Any] = {}
    for name in reports.NAMES:
        out[name] = {}
        for label, (d0, d1) in ranges.items():
            if name == "live" and label != "day":
                continue
            times = []
            for _ in range(runs):
                with sessions() as session:
                    t = time.perf_counter()
                    reports.run_report(session, org_id, name, reports.ReportParams(d0, d1),
                                       now=now)
                    times.append((time.perf_counter() - t) * 1000)
            out[name][label] = {"p50_ms": round(statistics.median(times), 1),
                                "p95_ms": round(_percentile(times, 0.95), 1),
                                "max_ms": round(max(times), 1)}
    return out


def bench_engine(url: str, *, events: int, calls_per_day: int, runs: int, seed: int
                 ) -> dict[str, Any]:
    from zvans import reports
    from zvans.eventbus import EventBus
    from zvans.store import migrate
    from zvans.store.db import make_engine, make_sessions

    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_sessions(engine, EventBus())
    try:
        days = max(1, round(events / (calls_per_day * EVENTS_PER_CALL)))
        start = date(2026, 1, 1)
        org = setup_org(engine)
        t = time.perf_counter()
        loaded = generate(engine, org, start=start, days=days, calls_per_day=calls_per_day,
                          seed=seed, bulk=True, parallel=True)
        loaded["total_s"] = round(time.perf_counter() - t, 2)
        loaded["events_per_s"] = round(loaded["events"] / max(loaded["total_s"], 1e-9))
        end = start + timedelta(days=days - 1)
        now = datetime(end.year, end.month, end.day, 23, 59, tzinfo=UTC) + timedelta(days=1)
        t = time.perf_counter()
        caught = reports.catch_up(sessions, org.org_id, now=now)
        rollup_s = time.perf_counter() - t
        # Statistics for the freshly written rollup tables, and on PostgreSQL the visibility
        # map that lets the covering indexes answer alone — what autovacuum does shortly
        # after such inserts on a live server.
        t = time.perf_counter()
        rollup_tables = [name for name in Base.metadata.tables if name.startswith("report_")]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for name in rollup_tables:
                conn.execute(text(f"ANALYZE {name}" if engine.dialect.name == "sqlite"
                                  else f"VACUUM ANALYZE {name}"))
        vacuum_s = time.perf_counter() - t
        mid = start + timedelta(days=days // 2)
        ranges = {"day": (mid, mid),
                  "month": (max(start, end - timedelta(days=29)), end),
                  "all": (start, end)}
        timings = time_reports(sessions, org.org_id, ranges, runs, now)
        return {"backend": engine.dialect.name, "days": days, "load": loaded,
                "rollup": {"hours": caught.hours, "seconds": round(rollup_s, 2),
                           "analyze_s": round(vacuum_s, 2)},
                "reports": timings}
    finally:
        engine.dispose()


def run(*, events: int, calls_per_day: int = 30_000, engines: tuple[str, ...] = (
        "sqlite", "postgresql"), runs: int = 5, seed: int = 1) -> dict[str, Any]:
    result: dict[str, Any] = {"events_requested": events, "calls_per_day": calls_per_day,
                              "runs": runs, "engines": {}}
    for engine in engines:
        if engine == "sqlite":
            tmp = Path(tempfile.mkdtemp(prefix="zvans-bench-"))
            try:
                result["engines"]["sqlite"] = bench_engine(
                    f"sqlite:///{tmp}/bench.db", events=events, calls_per_day=calls_per_day,
                    runs=runs, seed=seed)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        else:
            with private_postgres() as url:
                result["engines"]["postgresql"] = bench_engine(
                    url, events=events, calls_per_day=calls_per_day, runs=runs, seed=seed)
    return result
