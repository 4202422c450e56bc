"""The `zvans` command as a user runs it: clear one-line errors, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zvans.store import migrate


def zvans(
    tmp: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ZVANS_")}
    full_env["ZVANS_DATABASE_URL"] = f"sqlite:///{tmp}/cli.db"
    full_env["ZVANS_DATA_DIR"] = str(tmp / "var")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "zvans.cli", *args], capture_output=True, text=True,
        env=full_env, cwd=tmp, timeout=120,
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout


def test_upgrade_demo_twice_and_list(tmp_path: Path) -> None:
    r = zvans(tmp_path, "db", "upgrade")
    assert r.returncode == 0, r.stderr
    assert f"schema revision {migrate.head_revision()}." in r.stdout
    assert zvans(tmp_path, "demo").stdout.startswith("Demo data loaded")
    again = zvans(tmp_path, "demo")
    assert again.returncode == 0
    assert "nothing changed" in again.stdout
    users = zvans(tmp_path, "user", "list")
    assert users.stdout.count("\n") == 10
    assert "anna.berzina" in users.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", "add", "bad name", "--email", "a@b.lv", "--password", "long-enough-1"],
         "User name may contain only"),
        (["user", "add", "x<y", "--email", "a@b.lv", "--password", "long-enough-1"],
         "User name may contain only"),
        (["user", "add", "anna.berzina", "--email", "a@b.lv", "--password", "long-enough-1"],
         "already taken"),
        (["user", "add", "newbie", "--email", "a@b.lv", "--password", "long-enough-1",
          "--org", "ghost"], "No organisation 'ghost'"),
        (["user", "add", "newbie", "--email", "a@b.lv"], "no --password"),
        (["user", "passwd", "nobody", "--password", "long-enough-1"], "No user 'nobody'"),
        (["org", "add", "Bad Slug", "Name"], "Organisation id may contain"),
    ],
)
def test_user_mistakes_give_one_line_and_change_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    zvans(tmp_path, "db", "upgrade")
    zvans(tmp_path, "demo")
    before = zvans(tmp_path, "user", "list").stdout
    r = zvans(tmp_path, *args)
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stderr.strip().count("\n") == 0
    no_traceback(r)
    assert zvans(tmp_path, "user", "list").stdout == before


def test_typo_and_bad_config_are_clear(tmp_path: Path) -> None:
    r = zvans(tmp_path, "usr", "list")
    assert r.returncode == 2
    assert "No such command" in r.stderr
    no_traceback(r)
    r = zvans(tmp_path, "db", "upgrade", env={"ZVANS_PORT": "70000"})
    assert r.returncode == 2
    assert "port" in r.stderr
    no_traceback(r)


def test_demo_before_upgrade_tells_what_to_do(tmp_path: Path) -> None:
    r = zvans(tmp_path, "demo")
    assert r.returncode == 2
    assert "zvans db upgrade" in r.stderr
    no_traceback(r)


def test_user_add_passwd_delete(tmp_path: Path) -> None:
    zvans(tmp_path, "db", "upgrade")
    assert zvans(tmp_path, "org", "add", "acme", "Acme").returncode == 0
    r = zvans(tmp_path, "user", "add", "ilze", "--email", "i@acme.lv", "--role", "supervisor",
              "--password", "long-enough-1")
    assert r.returncode == 0, r.stderr
    assert zvans(tmp_path, "user", "passwd", "ilze", "--password", "other-long-2").returncode == 0
    assert zvans(tmp_path, "user", "delete", "ilze").returncode == 0
    assert "ilze" not in zvans(tmp_path, "user", "list").stdout
