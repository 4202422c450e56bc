"""Dialog routing (route set, remote target) and toll-fraud helpers."""

from __future__ import annotations

from zvans.telephony.sip.dialog import Dialog, DialogState
from zvans.telephony.sip.message import Request, make_response, parse_message
from zvans.telephony.sip.security import (
    IpAllowList,
    RateLimiter,
    TokenBucket,
    is_authorised_to_dial,
)

INVITE = (
    b"INVITE sip:agent@192.0.2.50 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKd1\r\n"
    b"From: <sip:queue@zvans.test>;tag=ours\r\n"
    b"To: <sip:agent@zvans.test>\r\n"
    b"Call-ID: dlg-1\r\n"
    b"CSeq: 10 INVITE\r\n"
    b"Contact: <sip:zvans@192.0.2.1:5060>\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def invite() -> Request:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    return msg


def test_uac_dialog_uses_contact_and_reversed_record_route() -> None:
    req = invite()
    resp = make_response(req, 200, to_tag="theirs")
    resp.headers.add("Contact", "<sip:agent@10.1.1.5:5070;transport=tcp>")
    resp.headers.add("Record-Route", "<sip:p2.example.test;lr>")
    resp.headers.add("Record-Route", "<sip:p1.example.test;lr>")
    dialog = Dialog.from_uac(req, resp, "UDP")
    assert dialog.state is DialogState.CONFIRMED
    assert dialog.id.remote_tag == "theirs" and dialog.id.local_tag == "ours"
    bye = dialog.create_request("BYE")
    assert bye.uri == "sip:agent@10.1.1.5:5070;transport=tcp"  # remote target, not R-URI
    assert bye.headers.get_all("Route") == ["<sip:p1.example.test;lr>", "<sip:p2.example.test;lr>"]
    assert dialog.next_hop().host == "p1.example.test"  # first route, loose routing
    assert bye.cseq == (11, "BYE")
    ack = dialog.create_request("ACK", cseq=10)
    assert ack.cseq == (10, "ACK")
    assert dialog.local_seq == 11


def test_strict_router_becomes_request_uri() -> None:
    req = invite()
    resp = make_response(req, 200, to_tag="t")
    resp.headers.add("Contact", "<sip:agent@10.1.1.5>")
    resp.headers.add("Record-Route", "<sip:strict.example.test>")
    dialog = Dialog.from_uac(req, resp, "UDP")
    bye = dialog.create_request("BYE")
    assert bye.uri == "sip:strict.example.test"
    assert bye.headers.get_all("Route") == ["<sip:agent@10.1.1.5>"]


def test_uas_dialog_and_cseq_order() -> None:
    req = invite()
    req.headers.add("Record-Route", "<sip:p1.example.test;lr>")
    dialog = Dialog.from_uas(req, "mine", "<sip:zvans@192.0.2.50>", "UDP")
    assert dialog.remote_target.host == "192.0.2.1"
    assert [str(r.uri) for r in dialog.route_set] == ["sip:p1.example.test;lr"]
    bye = parse_message(
        dialog.create_request("BYE")
        .to_bytes()
        .replace(b"Max-Forwards", b"Via: SIP/2.0/UDP x;branch=z9hG4bKq\r\nMax-Forwards")
    )
    assert isinstance(bye, Request)
    assert bye.to.tag == "ours" and bye.from_.tag == "mine"
    later = invite()
    later.headers.set("CSeq", "11 BYE")
    later.method = "BYE"
    assert dialog.accept_remote_cseq(later)
    older = invite()
    older.headers.set("CSeq", "9 INFO")
    older.method = "INFO"
    assert not dialog.accept_remote_cseq(older)


def test_is_authorised_to_dial() -> None:
    dids = {"+371 6000 0100"}
    assert is_authorised_to_dial("+37160000100", dids=dids, authenticated_user=None)
    assert not is_authorised_to_dial("0037129999999", dids=dids, authenticated_user=None)
    assert is_authorised_to_dial("0037129999999", dids=dids, authenticated_user="ann")
    assert not is_authorised_to_dial(
        "00900123", dids=dids, authenticated_user="ann", allowed_prefixes=["00371", "+371"]
    )
    assert is_authorised_to_dial(
        "+37129999999", dids=dids, authenticated_user="ann", allowed_prefixes=["00371", "+371"]
    )


def test_token_bucket_and_rate_limiter() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5
    assert bucket.take() and not bucket.take()
    limiter = RateLimiter(
        rate=1, burst=2, max_sources=2, exempt=["10.0.0.0/8"], clock=lambda: now[0]
    )
    assert [limiter.allow("192.0.2.1") for _ in range(3)] == [True, True, False]
    assert all(limiter.allow("10.2.3.4") for _ in range(100))  # exempt trunk
    limiter.allow("192.0.2.2")
    limiter.allow("192.0.2.3")
    assert len(limiter._buckets) == 2  # LRU-capped
    assert limiter.refused == 1


def test_ip_allow_list() -> None:
    allow = IpAllowList(["192.0.2.10", "198.51.100.0/24", "2001:db8::/32"])
    assert allow.contains("192.0.2.10") and allow.contains("198.51.100.77")
    assert allow.contains("[2001:db8::5]")
    assert not allow.contains("192.0.2.11") and not allow.contains("not-an-ip")


def test_nat_detection_for_in_dialog_requests() -> None:
    from zvans.telephony.sip.stack import _behind_nat

    assert _behind_nat("192.168.1.20", "203.0.113.9")  # phone behind NAT
    assert not _behind_nat("192.168.1.20", "192.168.1.20")  # same LAN
    assert not _behind_nat("198.51.100.4", "203.0.113.9")  # public Contact: trust it
    assert not _behind_nat("10.0.0.5", "10.0.0.6")  # both private: routed network
    assert not _behind_nat("pbx.example.test", "203.0.113.9")  # host name: trust it


def test_lag_monitor_sees_a_blocked_loop() -> None:
    import asyncio
    import time

    from zvans.telephony.sip.security import LagMonitor

    async def main() -> float:
        monitor = LagMonitor(interval=0.01)
        monitor.start()
        await asyncio.sleep(0.05)
        time.sleep(0.3)  # block the loop, as a CPU-bound handler would
        await asyncio.sleep(0.05)
        lag = monitor.lag()
        monitor.stop()
        return lag

    assert asyncio.run(main()) > 0.1
