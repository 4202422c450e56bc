"""End-to-end fixtures: a real `zvans serve` subprocess on a free loopback port with a
migrated SQLite database holding the demo data, and Debian's Chromium driven by Playwright.

Playwright's sync API cannot run inside an asyncio test: browser tests are plain sync tests.
Screenshots go to test-artifacts/ (created on demand).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class Server:
    base_url: str
    port: int
    db_url: str
    env: dict[str, str]
    cwd: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def cli(self, *args: str, password: str | None = None, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if password is not None:
            env["ZVANS_PASSWORD"] = password
        result = subprocess.run([sys.executable, "-m", "zvans.cli", *args], env=env,
                                cwd=self.cwd, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"zvans {' '.join(args)} failed: {result.stderr}")
        return result

    def simulate_call(self, queue: str, caller: str, topic: str = "") -> int:
        import json

        r = self.cli("call", "simulate", "--url", self.base_url, "--user", "admin",
                     "--queue", queue, "--caller", caller, "--topic", topic,
                     password="admin-demo-1")
        return int(json.loads(r.stdout)["interaction_id"])

    def sql(self, statement: str, **params: Any) -> list[Any]:
        engine = create_engine(self.db_url)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return list(result) if result.returns_rows else []
        finally:
            engine.dispose()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def base_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZVANS_")}
    env.update(ZVANS_DATABASE_URL=f"sqlite:///{tmp}/zvans.db", ZVANS_DATA_DIR=str(tmp / "var"),
               ZVANS_SECRET_KEY="e2e-secret-key", ZVANS_DEMO_MODE="true",
               ZVANS_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    return env


def start_server(tmp: Path, *extra_args: str, prepare: list[str] | None = None) -> Server:
    """Migrate, load the demo, run optional SQL, start `zvans serve`, wait for /healthz."""
    env = base_env(tmp)
    for args in (["db", "upgrade"], ["demo"]):
        subprocess.run([sys.executable, "-m", "zvans.cli", *args], env=env, cwd=tmp,
                       check=True, capture_output=True, timeout=120)
    db_url = env["ZVANS_DATABASE_URL"]
    for statement in prepare or []:
        engine = create_engine(db_url)
        with engine.begin() as conn:
            conn.execute(text(statement))
        engine.dispose()
    port = free_port()
    log_path = tmp / "server.log"
    log_file = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "zvans.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--sip-port", "0", *extra_args],
        env=env, cwd=tmp, stdout=log_file, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", port, db_url, env, tmp, proc, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"zvans serve exited with {proc.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.base_url + "/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    stop_server(server)
    raise AssertionError(f"zvans serve did not answer:\n{server.log()}")


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A demo server; the Latvian queue's wrap-up lasts until the agent finishes it (600 s),
    so a test can look at the wrap-up state without racing a timer."""
    tmp = tmp_path_factory.mktemp("e2e")
    srv = start_server(tmp, prepare=["UPDATE queue SET wrapup_s = 600"])
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Per module: Playwright's sync API keeps an event loop running in this thread while
    it lives, which would break every asyncio test that runs after it."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-deps.sh", pytrace=False)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("form[action=\"/login\"] button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
