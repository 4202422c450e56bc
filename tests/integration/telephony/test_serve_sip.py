"""`zvans serve` runs SIP: toll-fraud refusal, registrations listed by `zvans sip registrations`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.telephony.support import (
    Sipp,
    free_udp_port,
    have_peers,
    serve_demo,
    start_phone,
    wait_until,
)

pytestmark = pytest.mark.skipif(not have_peers(), reason="sipp, baresip or espeak-ng missing")


@dataclass
class Served:
    env: dict[str, str]
    cwd: Path
    sip_port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "zvans.cli", *args], env=self.env,
                              cwd=self.cwd, capture_output=True, text=True, timeout=60)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def served(tmp_path: Path, port: int) -> Iterator[Served]:
    sip_port = free_udp_port()
    env, proc, log = serve_demo(tmp_path, port, sip_port)
    served = Served(env, tmp_path, sip_port, proc, log)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"zvans serve exited: {served.output()[-2000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(up, "zvans serve to answer", 60)
    wait_until(lambda: "SIP listening" in served.output(), "SIP to listen", 30)
    yield served
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_unauthenticated_call_to_an_external_number_is_refused_and_logged(
        served: Served, tmp_path: Path) -> None:
    sipp = Sipp("b2bua_unauth.xml", "0037167000000", served.sip_port, tmp_path / "fraud")
    assert sipp.wait(60) == 0, sipp.errors()  # the scenario requires the 403
    wait_until(lambda: "toll-fraud guard: refused unauthenticated INVITE" in served.output(),
               "the refusal in the log", 10)
    assert "0037167000000" in served.output()


def test_registrations_are_listed_by_the_cli(served: Served, tmp_path: Path) -> None:
    empty = served.cli("sip", "registrations")
    assert empty.returncode == 0 and "No phones registered." in empty.stdout
    phone = start_phone(tmp_path / "anna", "anna.berzina", "agent-demo-1", served.sip_port,
                        lambda p: "200 OK" in p.output())
    try:
        def listed() -> list[dict[str, object]]:
            result = served.cli("sip", "registrations", "--json")
            assert result.returncode == 0, result.stderr
            rows: list[dict[str, object]] = json.loads(result.stdout)["registrations"]
            return rows

        rows = wait_until(listed, "anna's phone in the list", 30)
        table = served.cli("sip", "registrations")
    finally:
        phone.stop()
    assert [r["user"] for r in rows] == ["anna.berzina"]
    assert rows[0]["source"] == f"UDP:127.0.0.1:{phone.port}" or \
        str(phone.port) in str(rows[0]["source"])
    assert "anna.berzina" in table.stdout and "baresip" in table.stdout


def test_wrong_sip_password_is_refused(served: Served, tmp_path: Path) -> None:
    phone = start_phone(tmp_path / "bad", "anna.berzina", "not-the-password",
                        served.sip_port, lambda p: "403" in p.output())
    phone.stop()
    assert served.cli("sip", "registrations", "--json").returncode == 0
    assert json.loads(served.cli("sip", "registrations", "--json").stdout)[
        "registrations"] == []
