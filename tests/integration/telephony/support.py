"""Real SIP peers for the telephony tests: the service in a thread, sipp callers, sipp
UASes (agents' phones, the outbound trunk with the customer behind it), baresip agents,
and `zvans serve` as a process.

The service runs in-process (its own event loop in a thread) on free ports, on a migrated
database with the demo data, so a test can look at the B2BUA's per-call records as well as
at the event log. sipp and baresip are the Debian binaries, on 127.0.0.1. A sipp UAS traces
every message (``SippUas.received``), so a test reads what Zvans sent (request-URI, From,
P-Asserted-Identity, the digest credential, checked with ``digest_ok``).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from zvans import demo
from zvans.app import Zvans, build
from zvans.bench.sip import free_port_block as bench_free_port_block
from zvans.bench.sip import free_sip_port
from zvans.config import Settings
from zvans.runtime import ContactCenter, attach
from zvans.store import migrate
from zvans.store.models import Event, Organisation, Queue, User
from zvans.telephony.service import Telephony, start_telephony

_blocks = itertools.count()
SIPP_DIR = Path(__file__).resolve().parents[2] / "sipp"
T = TypeVar("T")


free_udp_port = free_sip_port  # one definition, shared with `zvans bench sip`


def have_peers() -> bool:
    return shutil.which("sipp") is not None and shutil.which("baresip") is not None \
        and shutil.which("espeak-ng") is not None


def free_port_block(size: int = 4, start: int = 40000, end: int = 60000) -> int:
    """An even port with ``size - 1`` free ports after it (sipp's media ports)."""
    return bench_free_port_block(size, start, end, spread=True)


def demo_zvans(tmp_path: Path, customize: Callable[[Session, Settings], None] | None = None,
               **overrides: Any) -> Zvans:
    """The demo organisation on a fresh SQLite database under ``tmp_path`` (SIP on a free
    port, RTP in 32000-39999); ``customize`` edits the data in the same transaction."""
    settings = Settings(  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path}/zvans.db", data_dir=tmp_path / "var",
        secret_key="test", sip_port=0, rtp_port_min=32000, rtp_port_max=39999, **overrides)
    migrate.upgrade(settings.database_url)
    z = build(settings)
    with z.sessions.begin() as session:
        demo.load_demo(session, settings.sip_domain)
        if customize is not None:
            customize(session, settings)
    return z


def org_id(z: Zvans) -> int:
    with z.sessions() as session:
        oid = session.scalar(select(Organisation.id).where(Organisation.slug == demo.DEMO_ORG))
        assert oid is not None
        return oid


def queue_id(z: Zvans, name: str) -> int:
    with z.sessions() as session:
        qid = session.scalar(select(Queue.id).where(Queue.name == name))
        assert qid is not None
        return qid


def serve_demo(tmp_path: Path, port: int, sip_port: int, *extra: str
               ) -> tuple[dict[str, str], subprocess.Popen[bytes], Path]:
    """`zvans db upgrade`, `zvans demo` and `zvans serve` (web on ``port``, SIP on
    ``sip_port``, ``extra`` options) as a user would run them, in ``tmp_path``: the
    environment, the server process (its own session) and its log file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZVANS_")}
    env.update(ZVANS_DATABASE_URL=f"sqlite:///{tmp_path}/z.db", ZVANS_DATA_DIR=str(tmp_path),
               ZVANS_RTP_PORT_MIN="36000", ZVANS_RTP_PORT_MAX="36999")
    for args in (["db", "upgrade"], ["demo"]):
        subprocess.run([sys.executable, "-m", "zvans.cli", *args], env=env, check=True,
                       cwd=tmp_path, capture_output=True)
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zvans.cli", "serve", "--port", str(port),
             "--sip-port", str(sip_port), *extra],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    return env, proc, log


def wait_until(check: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """Poll until ``check`` returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Service:
    """Telephony + ACD timers on their own event loop in a background thread."""

    def __init__(self, z: Zvans, *,
                 loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
                 **overrides: Any) -> None:
        self.z = z
        self.cc: ContactCenter = attach(z)
        self.loop = loop_factory()  # `zvans serve` runs uvloop
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.telephony: Telephony = self.call(self._start(overrides))

    async def _start(self, overrides: dict[str, Any]) -> Telephony:
        self.cc.start()
        return await start_telephony(self.z, **overrides)

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    @property
    def port(self) -> int:
        return self.telephony.sip_port

    def stop(self) -> None:
        try:
            self.call(self.telephony.stop())
            self.call(self.cc.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def registered(self, user: str) -> bool:
        return bool(self.telephony.registrar.contacts_for(user))

    def records(self) -> list[dict[str, Any]]:
        return list(self.telephony.b2bua.finished)


def finished(service: Service, iid: int) -> dict[str, object]:
    """The B2BUA's summary of a call, once it has ended (events may be written first)."""
    def record() -> dict[str, object] | None:
        return next((r for r in service.records() if r["interaction_id"] == iid), None)

    found = wait_until(record, f"call {iid} to end", 30)
    assert found is not None
    return found


def user_id(z: Zvans, username: str) -> int:
    with z.sessions() as session:
        uid = session.scalar(select(User.id).where(User.username == username))
        assert uid is not None
        return uid


def events(z: Zvans, interaction_id: int | None = None) -> list[Event]:
    with z.sessions() as session:
        query = select(Event).order_by(Event.id)
        if interaction_id is not None:
            query = query.where(Event.interaction_id == interaction_id)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


def event_types(z: Zvans, interaction_id: int) -> list[str]:
    return [e.type for e in events(z, interaction_id)]


def tone_wav(path: Path, seconds: float = 30.0, freq: float = 600.0) -> Path:
    """An 8 kHz mono 16-bit WAV for baresip's aufile source."""
    t = np.arange(int(seconds * 8000)) / 8000
    pcm = (np.sin(2 * np.pi * freq * t) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm.tobytes())
    return path


class Baresip:
    """A baresip softphone registered as one agent (auto or manual answer)."""

    def __init__(self, home: Path, user: str, password: str, server_port: int, *,
                 auto_answer: bool = True, realm_host: str = "127.0.0.1") -> None:
        self.home = home
        self.user = user
        home.mkdir(parents=True, exist_ok=True)
        self.port = free_udp_port()
        source = tone_wav(home / "source.wav")
        rtp = free_port_block(64, start=50000 + 64 * next(_blocks) % 8000)
        mode = "auto" if auto_answer else "manual"
        (home / "accounts").write_text(
            f"<sip:{user}@{realm_host}:{server_port};transport=udp>;auth_pass={password};"
            f"answermode={mode};regint=600;ptime=20;audio_codecs=PCMA,PCMU\n")
        (home / "config").write_text("\n".join([
            "poll_method epoll",
            f"sip_listen 127.0.0.1:{self.port}",
            "net_interface 127.0.0.1",
            "net_prefer_ipv6 no",
            f"audio_source aufile,{source}",
            "audio_player aufile,/dev/null",
            "audio_alert aufile,/dev/null",
            f"rtp_ports {rtp}-{rtp + 63}",
            "module_path /usr/lib/baresip/modules",
            "module g711.so",
            "module aufile.so",
            "module_app account.so",
            "module_app menu.so",
            "",
        ]))
        self.log = open(home / "baresip.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(["baresip", "-f", str(home)], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.home / "baresip.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


def start_phone(home: Path, user: str, password: str, server_port: int,
                done: Callable[[Baresip], bool], *, auto_answer: bool = True,
                tries: int = 3, timeout: float = 20.0) -> Baresip:
    """Start baresip until ``done(phone)``; a 503 (the server shedding load while this
    shared machine is busy) is retried with a fresh phone, as a real phone would later."""
    for attempt in range(tries):
        phone = Baresip(home / f"try{attempt}", user, password, server_port,
                        auto_answer=auto_answer)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(phone):
                return phone
            if "503 Service Unavailable" in phone.output():
                break
            time.sleep(0.1)
        phone.stop()
        if "503 Service Unavailable" not in phone.output():
            raise AssertionError(f"{user}'s phone: {phone.output()[-2000:]}")
    raise AssertionError(f"{user}'s phone got 503 {tries} times")


class Sipp:
    """One sipp run as a client (one call) in the background."""

    def __init__(self, scenario: str, service: str, server_port: int, workdir: Path, *,
                 pause_ms: int = 1000, extra: tuple[str, ...] = ()) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.proc = subprocess.Popen(
            ["sipp", "-sf", str(SIPP_DIR / scenario), "-s", service, "-i", "127.0.0.1",
             "-p", str(free_udp_port()), "-mp", str(free_port_block(4)), "-m", "1", "-l", "1",
             "-d", str(pause_ms), "-timeout", "120s", "-timeout_error", "-nostdin",
             "-trace_err", *extra, f"127.0.0.1:{server_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=workdir,
            start_new_session=True)

    def wait(self, timeout: float = 120.0) -> int:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("sipp did not finish") from None
        return self.proc.returncode

    def errors(self) -> str:
        stderr = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        logs = "".join(p.read_text(errors="replace")[-3000:]
                       for p in self.workdir.glob("*_errors.log"))
        return stderr[-2000:] + logs

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def media_block() -> int:
    """Four free ports for a sipp UAS's media, away from the blocks ``Sipp`` picks (those
    depend on the pid only, so two sipps of one test would share them)."""
    return bench_free_port_block(4, random.randrange(20000, 29000, 2), 31000)


def scenario_variant(name: str, workdir: Path, replace: dict[str, str]) -> str:
    """A copy of ``tests/sipp/<name>`` with texts replaced (sipp reads a response's status
    code when it loads the scenario, so a keyword cannot change it); returns its path."""
    text = (SIPP_DIR / name).read_text()
    for old, new in replace.items():
        if old not in text:
            raise AssertionError(f"{old!r} is not in {name}")
        text = text.replace(old, new)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / name
    path.write_text(text)
    return str(path)


#: the trunk scenario asking for WWW-Authenticate (401) instead of Proxy-Authenticate (407)
WWW_AUTH = {"407 Proxy Authentication Required": "401 Unauthorized",
            "Proxy-Authenticate:": "WWW-Authenticate:"}


class SippUas:
    """sipp answering calls on its own port: an agent's phone (``ring_target``), or the
    outbound trunk with the customer behind it (``TrunkConfig(port=uas.port)``).
    ``scenario`` is a file name in ``tests/sipp`` or a path (``scenario_variant``).

    ``calls`` is how many calls it answers before it ends; ``variables`` are sipp ``-set``
    globals. Every message sipp sends
    and receives is traced (``-trace_msg``), so a test can read what Zvans sent: see
    :meth:`received`."""

    def __init__(self, scenario: str, workdir: Path, *, pause_ms: int = 1000,
                 remote_port: int | None = None, variables: dict[str, str] | None = None,
                 user: str = "phone", port: int | None = None,
                 options: tuple[str, ...] = (), calls: int = 1) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.user = user
        self.port = port or free_udp_port()
        extra: list[str] = list(options)  # more sipp options (-au, -slave, -cid_str ...)
        for name, value in (variables or {}).items():
            extra += ["-set", name, value]
        if remote_port is not None:
            extra.append(f"127.0.0.1:{remote_port}")
        self.proc = subprocess.Popen(
            ["sipp", "-sf", str(SIPP_DIR / scenario), "-i", "127.0.0.1", "-p", str(self.port),
             "-mp", str(media_block()), "-m", str(calls), "-d", str(pause_ms),
             "-timeout", "120s", "-timeout_error", "-nostdin", "-trace_err", "-trace_logs",
             "-trace_msg", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=workdir,
            start_new_session=True)

    @property
    def uri(self) -> str:
        return f"sip:{self.user}@127.0.0.1:{self.port}"

    def wait(self, timeout: float = 120.0) -> int:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"sipp UAS did not finish: {self.errors()}") from None
        return self.proc.returncode

    def errors(self) -> str:
        stderr = ""
        if self.proc.poll() is not None and self.proc.stderr is not None:
            stderr = self.proc.stderr.read().decode(errors="replace")[-2000:]
        logs = "".join(p.read_text(errors="replace")[-3000:]
                       for p in self.workdir.glob("*_errors.log"))
        return stderr + logs

    def received(self, method: str) -> list[SipText]:
        """The requests ``method`` sipp received, in order (from its message trace)."""
        out = []
        for path in sorted(self.workdir.glob("*_messages.log")):
            for block in re.split(r"^-{20,}.*$", path.read_text(errors="replace"),
                                  flags=re.M):
                _head, sep, message = block.partition(" message received [")
                if not sep:
                    continue
                text = message.split("\n", 1)[1].strip("\r\n") if "\n" in message else ""
                if text.startswith(f"{method} "):
                    out.append(SipText(text))
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class SipText:
    """One SIP message as sipp traced it: the start line and the headers (by name)."""

    def __init__(self, text: str) -> None:
        lines = text.replace("\r\n", "\n").split("\n")
        self.start_line = lines[0].strip()
        self.headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            if not line.strip():
                break
            name, _, value = line.partition(":")
            self.headers.setdefault(name.strip().lower(), []).append(value.strip())

    @property
    def request_uri(self) -> str:
        return self.start_line.split(" ")[1]

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


def uri_user(value: str | None) -> str:
    """The user part of the URI in a From/To/P-Asserted-Identity value."""
    match = re.search(r"sips?:([^@;>]+)@", value or "")
    return match.group(1) if match else ""


def digest_ok(authorization: str, method: str, password: str) -> bool:
    """Check an RFC 2617 Digest (MD5, with or without qop=auth) the way a trunk would."""
    params = dict((k.lower(), v.strip('"')) for k, v in
                  re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', authorization.removeprefix("Digest")))

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{params['username']}:{params['realm']}:{password}")
    ha2 = md5(f"{method}:{params['uri']}")
    if params.get("qop"):
        expected = md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:"
                       f"{params['qop']}:{ha2}")
    else:
        expected = md5(f"{ha1}:{params['nonce']}:{ha2}")
    return expected == params.get("response")


class Serve:
    """`zvans serve` in its own session; stopped with SIGTERM like an operator would."""

    def __init__(self, env: dict[str, str], cwd: Path, port: int, sip_port: int,
                 log: Path) -> None:
        self.port = port
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "zvans.cli", "serve", "--port", str(port),
                 "--sip-port", str(sip_port)],
                env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._up, "zvans serve to answer", 60)
        wait_until(lambda: self.output().count("SIP listening") >= 1, "SIP to listen", 30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"zvans serve exited: {self.output()[-2000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code \
                == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def api_login(base: str, username: str, password: str) -> tuple[httpx.Client, str]:
    """A signed-in HTTP client of a running `zvans serve` and its CSRF token."""
    client = httpx.Client(base_url=base, timeout=10)

    def csrf(path: str) -> str:
        match = re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).text)
        assert match, f"no csrf token on {path}"
        return match.group(1)

    r = client.post("/login", data={"username": username, "password": password,
                                    "csrf_token": csrf("/login")})
    assert r.status_code in (200, 303), r.text[:300]
    return client, csrf("/settings")
