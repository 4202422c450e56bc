"""SDP (RFC 4566) parsing and offer/answer (RFC 3264) for one audio stream of G.711.

Only what a contact center needs: PCMA/PCMU, RFC 4733 telephone-event, ptime and the four
direction attributes used for hold. The answer copies the offer's telephone-event payload
type (a fixed 101 breaks peers that offered another number), rejects every other media
line with port 0 as RFC 3264 §6 requires, and echoes the offer's ptime.
"""

from __future__ import annotations

import ipaddress
import itertools
import time
from dataclasses import dataclass, field
from typing import Literal

from .errors import NoCommonCodec, SdpError
from .g711 import CODEC_OF_PT, PAYLOAD_TYPE, Codec

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
DIRECTIONS: tuple[Direction, ...] = ("sendrecv", "sendonly", "recvonly", "inactive")
_REVERSE: dict[Direction, Direction] = {
    "sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive",
}
DEFAULT_CODECS: tuple[Codec, ...] = ("PCMA", "PCMU")
MAX_SDP_BYTES = 16_384
_session_ids = itertools.count(int(time.time()))


@dataclass(slots=True)
class MediaDescription:
    media: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)
    fmtp: dict[int, str] = field(default_factory=dict)
    ptime: int | None = None
    direction: Direction | None = None
    attributes: list[str] = field(default_factory=list)

    def encoding(self, pt: int) -> tuple[str, int] | None:
        """(encoding name upper-cased, clock rate) of a payload type, static types included."""
        if pt in self.rtpmap:
            name, rate = self.rtpmap[pt]
            return name.upper(), rate
        if pt in CODEC_OF_PT:
            return CODEC_OF_PT[pt], 8000
        return None


@dataclass(slots=True)
class SessionDescription:
    origin_user: str = "-"
    session_id: str = "0"
    session_version: str = "0"
    origin_address: str = "0.0.0.0"
    name: str = "-"
    connection: str | None = None
    direction: Direction | None = None
    media: list[MediaDescription] = field(default_factory=list)


@dataclass(slots=True, frozen=True)
class Negotiated:
    """What one leg agreed on: what the relay, player and DTMF code need."""

    codec: Codec
    payload_type: int
    telephone_event_pt: int | None
    remote_address: str
    remote_port: int
    ptime: int
    #: our direction as stated in our SDP: whether we may send / expect to receive
    direction: Direction

    @property
    def remote(self) -> tuple[str, int] | None:
        if self.remote_port == 0 or self.remote_address in ("0.0.0.0", "::"):
            return None
        return (self.remote_address, self.remote_port)

    @property
    def we_send(self) -> bool:
        return self.direction in ("sendrecv", "sendonly") and self.remote is not None

    @property
    def we_receive(self) -> bool:
        return self.direction in ("sendrecv", "recvonly")


def _int(value: str, what: str, low: int = 0, high: int = 65535) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SdpError(f"SDP {what} is not a number: {value!r}") from None
    if not low <= number <= high:
        raise SdpError(f"SDP {what} out of range: {number}")
    return number


def _address(value: str) -> str:
    parts = value.split()
    if len(parts) < 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"SDP connection line not understood: {value!r}")
    address = parts[2].split("/")[0]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise SdpError(f"SDP connection address is not an IP address: {address!r}") from None
    return address


def parse(text: str | bytes) -> SessionDescription:
    """Parse SDP text; raise :class:`SdpError` for anything malformed."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise SdpError("SDP is not UTF-8") from None
    if len(text) > MAX_SDP_BYTES:
        raise SdpError("SDP too large")
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or not lines[0].startswith("v="):
        raise SdpError("SDP must start with v=")
    if lines[0].strip() != "v=0":
        raise SdpError(f"unsupported SDP version {lines[0]!r}")
    sdp = SessionDescription()
    current: MediaDescription | None = None
    seen_origin = False
    for raw in lines[1:]:
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"malformed SDP line: {line[:60]!r}")
        kind, value = line[0], line[2:]
        if kind == "o":
            parts = value.split()
            if len(parts) != 6:
                raise SdpError(f"malformed SDP origin: {value!r}")
            sdp.origin_user, sdp.session_id, sdp.session_version = parts[0], parts[1], parts[2]
            sdp.origin_address = parts[5]
            seen_origin = True
        elif kind == "s":
            sdp.name = value or "-"
        elif kind == "c":
            address = _address(value)
            if current is None:
                sdp.connection = address
            else:
                current.connection = address
        elif kind == "m":
            parts = value.split()
            if len(parts) < 4:
                raise SdpError(f"malformed SDP media line: {value!r}")
            port = _int(parts[1].split("/")[0], "media port")
            current = MediaDescription(parts[0], port, parts[2], parts[3:])
            sdp.media.append(current)
        elif kind == "a":
            name, _, arg = value.partition(":")
            if name in DIRECTIONS:
                if current is None:
                    sdp.direction = name
                else:
                    current.direction = name
            elif current is None:
                continue
            elif name == "rtpmap":
                pt_text, _, enc = arg.partition(" ")
                pt = _int(pt_text, "rtpmap payload type", 0, 127)
                enc_parts = enc.strip().split("/")
                if len(enc_parts) < 2:
                    raise SdpError(f"malformed rtpmap: {arg!r}")
                current.rtpmap[pt] = (enc_parts[0], _int(enc_parts[1], "clock rate", 1, 10**6))
            elif name == "fmtp":
                pt_text, _, params = arg.partition(" ")
                if pt_text.isdigit():
                    current.fmtp[int(pt_text)] = params.strip()
            elif name == "ptime":
                current.ptime = _int(arg.strip(), "ptime", 1, 1000)
            else:
                current.attributes.append(value)
    if not seen_origin:
        raise SdpError("SDP has no o= line")
    if not sdp.media:
        raise SdpError("SDP has no m= line")
    return sdp


def _audio_stream(sdp: SessionDescription) -> tuple[int, MediaDescription]:
    for index, media in enumerate(sdp.media):
        if media.media == "audio" and media.port != 0 and media.proto.upper() in ("RTP/AVP",
                                                                                  "RTP/AVPF"):
            return index, media
    raise NoCommonCodec("the SDP offers no RTP/AVP audio stream")


def _effective(sdp: SessionDescription, media: MediaDescription) -> tuple[str, Direction]:
    address = media.connection or sdp.connection
    if address is None:
        raise SdpError("SDP has no c= line for the audio stream")
    direction: Direction = media.direction or sdp.direction or "sendrecv"
    if address in ("0.0.0.0", "::") and direction == "sendrecv":
        direction = "sendonly"  # RFC 2543 hold: the peer no longer wants to receive
    return address, direction


def _telephone_event(media: MediaDescription) -> int | None:
    for fmt in media.formats:
        if fmt.isdigit():
            enc = media.encoding(int(fmt))
            if enc is not None and enc[0] == "TELEPHONE-EVENT" and enc[1] == 8000:
                return int(fmt)
    return None


@dataclass(slots=True)
class LocalMedia:
    """Our side of one stream: where we receive and what we are willing to do."""

    address: str
    port: int
    codecs: tuple[Codec, ...] = DEFAULT_CODECS
    telephone_event_pt: int = 101
    ptime: int = 20
    direction: Direction = "sendrecv"
    session_id: str = field(default_factory=lambda: str(next(_session_ids)))
    version: int = 0

    def next_version(self) -> str:
        self.version += 1
        return str(self.version)


def _render(
    local: LocalMedia,
    lines_for_media: list[str],
) -> str:
    family = "IP6" if ":" in local.address else "IP4"
    head = [
        "v=0",
        f"o=zvans {local.session_id} {local.next_version()} IN {family} {local.address}",
        "s=zvans",
        f"c=IN {family} {local.address}",
        "t=0 0",
    ]
    return "\r\n".join(head + lines_for_media) + "\r\n"


def _audio_lines(
    port: int, codec_pts: list[tuple[int, str]], te_pt: int | None, ptime: int,
    direction: Direction, te_events: str = "0-16",
) -> list[str]:
    formats = [str(pt) for pt, _ in codec_pts] + ([str(te_pt)] if te_pt is not None else [])
    lines = [f"m=audio {port} RTP/AVP {' '.join(formats)}"]
    for pt, name in codec_pts:
        lines.append(f"a=rtpmap:{pt} {name}/8000")
    if te_pt is not None:
        lines.append(f"a=rtpmap:{te_pt} telephone-event/8000")
        lines.append(f"a=fmtp:{te_pt} {te_events}")
    lines.append(f"a=ptime:{ptime}")
    lines.append(f"a={direction}")
    return lines


def answer(offer: str | bytes | SessionDescription, local: LocalMedia) -> tuple[str, Negotiated]:
    """Answer an offer (RFC 3264 §6): the SDP text to send back and what was agreed."""
    sdp = offer if isinstance(offer, SessionDescription) else parse(offer)
    index, media = _audio_stream(sdp)
    remote_address, remote_direction = _effective(sdp, media)
    chosen: tuple[int, Codec] | None = None
    for fmt in media.formats:
        if not fmt.isdigit():
            continue
        enc = media.encoding(int(fmt))
        if enc and enc[1] == 8000 and enc[0] in local.codecs:
            chosen = (int(fmt), enc[0])
            break  # the offerer's order is its preference (RFC 3264 §6.1)
    if chosen is None:
        offered = ", ".join(media.formats)
        raise NoCommonCodec(f"no common codec: offered {offered}, we support "
                            f"{', '.join(local.codecs)}")
    te_pt = _telephone_event(media)
    ptime = media.ptime or 20
    direction = _REVERSE[remote_direction]
    if local.direction != "sendrecv":
        direction = _intersect(direction, local.direction)
    body: list[str] = []
    for i, other in enumerate(sdp.media):
        if i == index:
            events = media.fmtp.get(te_pt, "0-15") if te_pt is not None else ""
            body += _audio_lines(local.port, [chosen], te_pt, ptime, direction, events or "0-15")
        else:
            fmt = other.formats[0] if other.formats else "0"
            body.append(f"m={other.media} 0 {other.proto} {fmt}")
    negotiated = Negotiated(
        codec=chosen[1], payload_type=chosen[0], telephone_event_pt=te_pt,
        remote_address=remote_address, remote_port=media.port, ptime=ptime, direction=direction,
    )
    return _render(local, body), negotiated


def _intersect(a: Direction, b: Direction) -> Direction:
    send = a in ("sendrecv", "sendonly") and b in ("sendrecv", "sendonly")
    recv = a in ("sendrecv", "recvonly") and b in ("sendrecv", "recvonly")
    if send and recv:
        return "sendrecv"
    return "sendonly" if send else "recvonly" if recv else "inactive"


def offer(local: LocalMedia) -> str:
    """An offer for an outgoing leg, listing our codecs in preference order."""
    codec_pts = [(PAYLOAD_TYPE[c], c) for c in local.codecs]
    return _render(local, _audio_lines(local.port, list(codec_pts), local.telephone_event_pt,
                                       local.ptime, local.direction))


def accept_answer(answer_sdp: str | bytes | SessionDescription, local: LocalMedia) -> Negotiated:
    """Read the answer to our offer: which of our codecs the peer took and where it listens."""
    sdp = answer_sdp if isinstance(answer_sdp, SessionDescription) else parse(answer_sdp)
    _, media = _audio_stream(sdp)
    remote_address, remote_direction = _effective(sdp, media)
    for fmt in media.formats:
        if not fmt.isdigit():
            continue
        enc = media.encoding(int(fmt))
        if enc and enc[1] == 8000 and enc[0] in local.codecs:
            codec: Codec = enc[0]
            te_pt = _telephone_event(media)
            return Negotiated(
                codec=codec, payload_type=int(fmt), telephone_event_pt=te_pt,
                remote_address=remote_address, remote_port=media.port,
                ptime=media.ptime or local.ptime,
                direction=_intersect(_REVERSE[remote_direction], local.direction),
            )
    raise NoCommonCodec(f"answer accepted none of our codecs: {' '.join(media.formats)}")
