"""Harness for real sipp against a real in-process SipStack on 127.0.0.1 (OS-chosen ports)."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

SCENARIOS = Path(__file__).resolve().parents[2] / "sipp"

SIPP = shutil.which("sipp")
T = TypeVar("T")


def free_port() -> int:
    """A port free for both UDP and TCP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str
    messages: str
    errors: str
    local_port: int

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def explain(self) -> str:
        return (
            f"sipp exit {self.returncode}\n--- stderr\n{self.stderr[-3000:]}\n"
            f"--- errors\n{self.errors[-3000:]}\n--- messages\n{self.messages[-6000:]}"
        )


async def run_sipp(
    scenario: str,
    port: int | None,
    tmp_path: Path,
    *,
    transport: str = "u1",
    service: str = "zvans",
    user: str | None = None,
    password: str | None = None,
    timeout: float = 60.0,
    extra: tuple[str, ...] = (),
    local_port: int | None = None,
) -> SippResult:
    """Run one sipp call to 127.0.0.1:port (``port=None``: sipp waits as a UAS on
    ``local_port``); kill it (by its own PID) if it overstays."""
    proc, local, files = await start_sipp(
        scenario,
        port,
        tmp_path,
        transport=transport,
        service=service,
        user=user,
        password=password,
        timeout=timeout,
        extra=extra,
        local_port=local_port,
    )
    return await finish_sipp(proc, local, files, timeout)


async def start_sipp(
    scenario: str,
    port: int | None,
    tmp_path: Path,
    *,
    transport: str = "u1",
    service: str = "zvans",
    user: str | None = None,
    password: str | None = None,
    timeout: float = 60.0,
    extra: tuple[str, ...] = (),
    local_port: int | None = None,
) -> tuple[asyncio.subprocess.Process, int, tuple[Path, Path]]:
    assert SIPP is not None
    local = local_port or free_port()
    name = Path(scenario).stem
    msg_file = tmp_path / f"{name}-{local}-messages.log"
    err_file = tmp_path / f"{name}-{local}-errors.log"
    args = [SIPP] if port is None else [SIPP, f"127.0.0.1:{port}"]
    args += [
        "-sf", str(SCENARIOS / scenario), "-m", "1", "-i", "127.0.0.1", "-p", str(local),
        "-t", transport, "-s", service, "-nostdin", "-timeout", f"{int(timeout) - 5}s",
        "-timeout_error", "-trace_msg", "-message_file", str(msg_file),
        "-trace_err", "-error_file", str(err_file),
    ]  # fmt: skip
    args += list(extra)
    if user is not None:
        args += ["-au", user]
    if password is not None:
        args += ["-ap", password]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    return proc, local, (msg_file, err_file)


async def finish_sipp(
    proc: asyncio.subprocess.Process, local: int, files: tuple[Path, Path], timeout: float
) -> SippResult:
    msg_file, err_file = files
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return SippResult(
        returncode=proc.returncode if proc.returncode is not None else -1,
        stdout=out.decode(errors="replace"),
        stderr=err.decode(errors="replace"),
        messages=msg_file.read_text(errors="replace") if msg_file.exists() else "",
        errors=err_file.read_text(errors="replace") if err_file.exists() else "",
        local_port=local,
    )


async def wait_until(
    predicate: Callable[[], bool], *, steps: int = 400, delay: float = 0.05, what: str = "condition"
) -> None:
    """Bounded wait for something the system under test will do (no timing assertion)."""
    for _ in range(steps):
        if predicate():
            return
        await asyncio.sleep(delay)
    raise AssertionError(f"gave up waiting for {what}")


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def main() -> Any:
        return await asyncio.wait_for(coro_fn(), 120)

    return asyncio.run(main())  # type: ignore[no-any-return]
