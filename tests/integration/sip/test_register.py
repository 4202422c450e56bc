"""REGISTER with digest auth, driven by sipp's [authentication] keyword."""

from __future__ import annotations

from pathlib import Path

from tests.integration.sip.support import run, run_sipp
from zvans.telephony.sip import (
    Credentials,
    DigestServer,
    Registrar,
    SipStack,
    StackConfig,
)

USER, PASSWORD = "agent7", "Corr3ct-horse"


def make_stack() -> tuple[SipStack, Registrar]:
    creds = Credentials.from_password(USER, "zvans", PASSWORD)

    async def lookup(username: str) -> Credentials | None:
        return creds if username == USER else None

    # sipp 3.6 reads only the first challenge and knows only MD5: offer MD5 first here
    # (SHA-256 is tested with our own client in test_stack.py)
    registrar = Registrar(DigestServer("zvans", algorithms=("MD5", "SHA-256")), lookup)
    return SipStack(StackConfig(udp_port=0, tcp_port=0), registrar=registrar), registrar


def test_register_good_password_binds_and_bad_password_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        stack, registrar = make_stack()
        await stack.start()
        try:
            good = await run_sipp(
                "register_auth.xml",
                stack.port(),
                tmp_path,
                service=USER,
                user=USER,
                password=PASSWORD,
            )
            assert good.ok, good.explain()
            bindings = registrar.bindings(USER)
            assert len(bindings) == 1
            assert bindings[0].source.port == good.local_port
            assert bindings[0].contact.uri.port == good.local_port

            bad = await run_sipp(
                "register_bad_password.xml",
                stack.port(),
                tmp_path,
                service=USER,
                user=USER,
                password="wrong",
            )
            assert bad.ok, bad.explain()
            assert len(registrar.bindings(USER)) == 1  # the refused one added nothing
        finally:
            await stack.stop()

    run(main)


def test_register_over_tcp(tmp_path: Path) -> None:
    async def main() -> None:
        stack, registrar = make_stack()
        await stack.start()
        try:
            res = await run_sipp(
                "register_auth.xml",
                stack.port("TCP"),
                tmp_path,
                transport="t1",
                service=USER,
                user=USER,
                password=PASSWORD,
            )
            assert res.ok, res.explain()
            assert [b.source.transport for b in registrar.bindings(USER)] == ["TCP"]
        finally:
            await stack.stop()

    run(main)
