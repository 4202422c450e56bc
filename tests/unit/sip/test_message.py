"""Parser and serialiser: round trips, RFC 4475-style torture corpus, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sipp.torture import CASES, Case
from zvans.telephony.sip.errors import SipParseError
from zvans.telephony.sip.message import Request, Response, make_response, parse_message
from zvans.telephony.sip.uri import NameAddr, SipUri, Via

INVITE = (
    b"INVITE sip:+37160000001@zvans.test SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "A Caller" <sip:caller@example.test>;tag=1928301774\r\n'
    b"To: <sip:+37160000001@zvans.test>\r\n"
    b"Call-ID: a84b4c76e66710@pc33.example.test\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:caller@192.0.2.10:5062>\r\n"
    b"Record-Route: <sip:p1.example.test;lr>, <sip:p2.example.test;lr>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n\r\nv=0\n"
)


def render(case: Case) -> bytes:
    return case.render("127.0.0.1", 5060, "127.0.0.1:40000", "cid-1@test", "z9hG4bKtest1")


def test_parse_invite_fields() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert msg.request_uri.user == "+37160000001"
    assert msg.cseq == (314159, "INVITE")
    assert msg.from_.tag == "1928301774"
    assert msg.from_.display == "A Caller"
    assert msg.to.tag is None
    assert msg.top_via.branch == "z9hG4bK776asdhds"
    assert msg.top_via.port == 5062
    assert msg.headers.get_all("Record-Route") == [
        "<sip:p1.example.test;lr>",
        "<sip:p2.example.test;lr>",
    ]
    assert msg.body == b"v=0\n"


def test_round_trip_keeps_meaning() -> None:
    first = parse_message(INVITE)
    second = parse_message(first.to_bytes())
    assert isinstance(second, Request)
    assert list(second.headers.items()) == list(first.headers.items())
    assert second.body == first.body


def test_udp_body_longer_than_content_length_is_trimmed() -> None:
    msg = parse_message(INVITE + b"extra garbage")
    assert msg.body == b"v=0\n"


def test_stream_transport_requires_content_length() -> None:
    data = INVITE.replace(b"Content-Length: 4\r\n", b"")
    with pytest.raises(SipParseError):
        parse_message(data, datagram=False)


def test_response_parse_and_make_response_copies_headers() -> None:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    resp = make_response(req, 180, to_tag="abc")
    parsed = parse_message(resp.to_bytes())
    assert isinstance(parsed, Response)
    assert parsed.status == 180
    assert parsed.reason == "Ringing"
    assert parsed.to.tag == "abc"
    assert parsed.call_id == req.call_id
    assert parsed.headers.get_all("Via") == req.headers.get_all("Via")
    # 100 Trying never carries a To tag
    assert make_response(req, 100, to_tag="abc").to.tag is None


def test_uri_parsing_and_escapes() -> None:
    uri = SipUri.parse("sips:%7Ealice%40x:secret@[2001:db8::1]:5061;transport=tcp;lr?h=v")
    assert uri.scheme == "sips"
    assert uri.user_unescaped == "~alice@x"
    assert uri.password == "secret"
    assert uri.host == "[2001:db8::1]"
    assert uri.port == 5061
    assert uri.transport == "TCP"
    assert "lr" in uri.params
    assert str(uri) == "sips:%7Ealice%40x:secret@[2001:db8::1]:5061;transport=tcp;lr?h=v"
    tel = SipUri.parse("tel:+371-6000-0000;phone-context=example.test")
    assert tel.user == "+371-6000-0000"


@pytest.mark.parametrize(
    "text",
    ["sip:", "sip:user@", "sip:a@host:0", "sip:a@host:70000", "noscheme", "sip:a b@c", "sip:[::1"],
)
def test_bad_uris_raise_parse_error(text: str) -> None:
    with pytest.raises(SipParseError):
        SipUri.parse(text)


def test_name_addr_forms() -> None:
    addr = NameAddr.parse('"Doe, \\"J\\"" <sip:doe@example.test;transport=udp>;tag=9;x')
    assert addr.display == 'Doe, "J"'
    assert addr.tag == "9"
    assert addr.uri.params == {"transport": "udp"}
    bare = NameAddr.parse("sip:doe@example.test;tag=7")
    assert bare.tag == "7"  # addr-spec: parameters belong to the header
    assert bare.uri.params == {}
    assert NameAddr.parse(str(addr)).display == addr.display


def test_via_with_spaces_around_slashes() -> None:
    via = Via.parse("SIP / 2.0 / tcp host.example.test:5070 ; branch=z9hG4bKx ;rport")
    assert via.transport == "TCP"
    assert via.port == 5070
    assert via.branch == "z9hG4bKx"
    assert via.params["rport"] is None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_torture_case_outcome_from_parser(case: Case) -> None:
    """Parser side of the torture corpus: parse errors carry the right status/stub.

    Statuses that come from the stack's routing (501, 420, 481...) need a parsed request.
    """
    data = render(case)
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        if case.expect is None:
            assert exc.stub is None
        else:
            assert exc.stub is not None, f"{case.name}: no stub to answer with"
            assert exc.status == case.expect
        return
    assert case.expect is not None and case.expect not in (400, 413, 416, 505), case.name
    assert isinstance(msg, Request)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_escape_as_other_exceptions(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse_message(data)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_messages_never_escape_as_other_exceptions(data: st.DataObject) -> None:
    raw = bytearray(INVITE)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if action == "flip":
            raw[pos] = data.draw(st.integers(0, 255))
        elif action == "delete":
            del raw[pos]
        else:
            raw[pos:pos] = data.draw(
                st.sampled_from([b":", b"<", b'"', b"\r\n", b";", b"%", b"\x00", b","])
            )
    try:
        msg = parse_message(bytes(raw))
    except SipParseError:
        return
    # whatever parsed must serialise and re-parse
    parse_message(msg.to_bytes())
