"""Real SIP peers for the B2BUA tests: the service in a thread, sipp callers, baresip agents.

The service runs in-process (its own event loop in a thread) on free ports, on a migrated
database with the demo data, so a test can look at the B2BUA's per-call records as well as
at the event log. sipp and baresip are the Debian binaries, on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import wave
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import select

from zvans.app import Zvans
from zvans.bench.sip import free_sip_port
from zvans.runtime import ContactCenter, attach
from zvans.store.models import Event, User
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
    base = start + (os.getpid() * 16) % (end - start - 1000)
    base -= base % 2
    for candidate in range(base, end - size, size):
        socks = []
        try:
            for offset in range(size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", candidate + offset))
            return candidate
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no free port block")


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
