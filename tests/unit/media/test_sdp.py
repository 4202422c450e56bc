from __future__ import annotations

import pytest

from zvans.telephony.media import sdp
from zvans.telephony.media.errors import NoCommonCodec, SdpError

OFFER = (
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 198.51.100.7\r\n"
    "s=call\r\n"
    "c=IN IP4 198.51.100.7\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8 96 18\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:96 telephone-event/8000\r\n"
    "a=fmtp:96 0-15\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=ptime:30\r\n"
    "a=sendrecv\r\n"
    "m=video 51372 RTP/AVP 31\r\n"
)


def local(**kw: object) -> sdp.LocalMedia:
    return sdp.LocalMedia("192.0.2.10", 20000, **kw)  # type: ignore[arg-type]


def test_answer_keeps_offered_telephone_event_pt_and_ptime() -> None:
    text, neg = sdp.answer(OFFER, local())
    assert neg.telephone_event_pt == 96
    assert "a=rtpmap:96 telephone-event/8000" in text
    assert "a=fmtp:96 0-15" in text  # the events the offerer named
    assert "101" not in text
    assert neg.ptime == 30 and "a=ptime:30" in text
    assert (neg.remote_address, neg.remote_port) == ("198.51.100.7", 49170)
    # the offerer listed PCMU first: its preference wins among codecs we support
    assert neg.codec == "PCMU" and neg.payload_type == 0
    assert "m=audio 20000 RTP/AVP 0 96\r\n" in text
    assert "c=IN IP4 192.0.2.10" in text
    # video is refused with port 0, and the m-line count stays the same
    assert "m=video 0 RTP/AVP 31" in text
    assert sdp.parse(text).media[0].port == 20000


def test_codec_choice_respects_our_list() -> None:
    _, neg = sdp.answer(OFFER, local(codecs=("PCMA",)))
    assert neg.codec == "PCMA" and neg.payload_type == 8


def test_static_payload_types_without_rtpmap() -> None:
    offer = OFFER.replace("a=rtpmap:0 PCMU/8000\r\n", "").replace("m=audio 49170 RTP/AVP 0 8",
                                                                  "m=audio 49170 RTP/AVP 8 0")
    _, neg = sdp.answer(offer, local())
    assert neg.codec == "PCMA"


@pytest.mark.parametrize(
    ("offered", "answered"),
    [("sendonly", "recvonly"), ("recvonly", "sendonly"), ("inactive", "inactive"),
     ("sendrecv", "sendrecv")],
)
def test_direction_is_mirrored(offered: str, answered: str) -> None:
    text, neg = sdp.answer(OFFER.replace("a=sendrecv", f"a={offered}"), local())
    assert f"a={answered}\r\n" in text
    assert neg.direction == answered
    assert neg.we_send == (answered in ("sendrecv", "sendonly"))


def test_old_style_hold_with_zero_address() -> None:
    offer = OFFER.replace("c=IN IP4 198.51.100.7", "c=IN IP4 0.0.0.0")
    text, neg = sdp.answer(offer, local())
    assert neg.remote is None and not neg.we_send
    assert "a=recvonly" in text


def test_media_level_connection_and_session_direction() -> None:
    offer = OFFER.replace("a=ptime:30\r\n", "a=ptime:30\r\nc=IN IP4 203.0.113.5\r\n")
    offer = offer.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n").replace("a=sendrecv\r\n", "")
    _, neg = sdp.answer(offer, local())
    assert neg.remote_address == "203.0.113.5"
    assert neg.direction == "recvonly"


def test_no_common_codec() -> None:
    offer = OFFER.replace("m=audio 49170 RTP/AVP 0 8 96 18", "m=audio 49170 RTP/AVP 18 96")
    with pytest.raises(NoCommonCodec) as err:
        sdp.answer(offer, local())
    assert err.value.status == 488


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "hello",
        "v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n",
        "v=0\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\n",  # no o=
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\n",  # no m=
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 nowhere\r\nm=audio 4 RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n",  # no c=
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nbogus\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nm=audio 4 RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU\r\n",
    ],
)
def test_bad_sdp_is_a_typed_error(bad: str) -> None:
    with pytest.raises(SdpError):
        sdp.answer(bad, local())


def test_bytes_that_are_not_utf8() -> None:
    with pytest.raises(SdpError):
        sdp.parse(b"v=0\r\n\xff\xfe")


def test_offer_and_answer_round_trip() -> None:
    ours = local(telephone_event_pt=101)
    offer = sdp.offer(ours)
    assert "m=audio 20000 RTP/AVP 8 0 101" in offer
    peer_text, peer_neg = sdp.answer(offer, sdp.LocalMedia("198.51.100.9", 30000,
                                                           codecs=("PCMU",)))
    assert peer_neg.codec == "PCMU" and peer_neg.telephone_event_pt == 101
    neg = sdp.accept_answer(peer_text, ours)
    assert neg.codec == "PCMU" and neg.remote == ("198.51.100.9", 30000)
    assert neg.telephone_event_pt == 101
    # the origin version grows with each SDP we send in the session
    again = sdp.offer(ours)
    assert sdp.parse(again).session_version != sdp.parse(offer).session_version
    assert sdp.parse(again).session_id == sdp.parse(offer).session_id


def test_hold_offer() -> None:
    text = sdp.offer(local(direction="sendonly"))
    assert "a=sendonly" in text
