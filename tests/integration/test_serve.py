"""`zvans serve` really serves: /healthz answers with the database version."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from zvans.store import migrate


def wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 30) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def test_serve_answers_healthz_with_database_version(tmp_path: Path, port: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZVANS_")}
    env.update(ZVANS_DATABASE_URL=f"sqlite:///{tmp_path}/s.db", ZVANS_DATA_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-m", "zvans.cli", "db", "upgrade"], env=env, check=True,
                   cwd=tmp_path, capture_output=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "zvans.cli", "serve", "--port", str(port), "--sip-port", "0"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        r = wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        body = r.json()
        assert r.status_code == 200
        assert body["status"] == "ok"
        assert body["database"]["backend"] == "sqlite"
        assert body["database"]["schema_revision"] == migrate.head_revision()
        assert body["database"]["server_version"].count(".") >= 1
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_refuses_an_unmigrated_database(tmp_path: Path, port: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZVANS_")}
    env.update(ZVANS_DATABASE_URL=f"sqlite:///{tmp_path}/s.db", ZVANS_DATA_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "zvans.cli", "serve", "--port", str(port)],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "zvans db upgrade" in r.stderr
    assert "Traceback" not in r.stderr
