"""A real PostgreSQL server for the tests, started on a free loopback port.

initdb refuses to run as root, so the cluster is created and run as the ``postgres``
system user in a temporary directory owned by it. If it cannot start, the test run fails
with the server's own log: PostgreSQL tests are never skipped silently.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
            "run `make test`, which installs it"
        )
    return Path(found[-1]).parent


@dataclass
class PostgresServer:
    port: int
    datadir: Path
    bindir: Path
    user: str

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_postgres() -> tuple[PostgresServer, subprocess.Popen[bytes] | None]:
    bindir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="zvans-pg-"))
    datadir = root / "data"
    sockdir = root / "sock"
    log = root / "server.log"
    run_as: str | None = None
    if os.geteuid() == 0:
        run_as = "postgres"
        try:
            info = pwd.getpwnam(run_as)
        except KeyError:
            raise RuntimeError("running as root but there is no 'postgres' system user") from None
        os.chown(root, info.pw_uid, info.pw_gid)
    user = run_as or pwd.getpwuid(os.geteuid()).pw_name
    sockdir.mkdir()
    if run_as:
        info = pwd.getpwnam(run_as)
        os.chown(sockdir, info.pw_uid, info.pw_gid)

    def run(args: list[str]) -> None:
        subprocess.run(args, check=True, user=run_as, capture_output=True, cwd=root)

    try:
        run([str(bindir / "initdb"), "-D", str(datadir), "-U", user, "-A", "trust",
             "-E", "UTF8", "--no-sync"])
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"initdb failed: {exc.stderr.decode(errors='replace')}") from None
    port = free_port()
    opts = (f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={sockdir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200")
    try:
        run([str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(log), "-o", opts,
             "-w", "-t", "60", "start"])
    except subprocess.CalledProcessError:
        text = log.read_text(errors="replace") if log.exists() else "(no log)"
        raise RuntimeError(f"PostgreSQL did not start:\n{text}") from None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    return PostgresServer(port=port, datadir=datadir, bindir=bindir, user=user), None


def stop_postgres(server: PostgresServer) -> None:
    run_as = "postgres" if os.geteuid() == 0 else None
    subprocess.run(
        [str(server.bindir / "pg_ctl"), "-D", str(server.datadir), "-m", "immediate", "stop"],
        user=run_as, capture_output=True, check=False,
    )
    shutil.rmtree(server.datadir.parent, ignore_errors=True)
