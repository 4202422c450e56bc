"""Moving a bridged pair of legs (and its recorder) between processes.

A leg is an RTP socket plus a few dozen plain fields (latched address, payload types,
outgoing sequence/timestamp/SSRC, counters). The socket and the recording's file descriptor
travel as SCM_RIGHTS ancillary data over a local ``SOCK_SEQPACKET`` socket pair (one message
per datagram, so no framing of our own); the fields travel as JSON in the same message.
Both processes then hold the same open socket; only the one that owns the pair reads it.

This module is the wire format shared by :mod:`.workers` (the B2BUA side) and
:mod:`.worker` (the child process).
"""

from __future__ import annotations

import array
import base64
import json
import os
import socket
from typing import Any

from .recorder import Recorder, _Channel
from .relay import RtpEndpoint

#: the fields of an RtpEndpoint that make up its state (everything but the socket and the
#: relay wiring, which the receiving side rebuilds)
LEG_FIELDS = (
    "remote", "latched", "_candidate", "_candidate_count", "payload_type", "te_pt", "codec",
    "send_enabled", "tx_ssrc", "tx_seq", "tx_ts", "tx_own_used", "tx_own_time", "relay_tx",
    "tap_channel", "rx_packets", "rx_bytes", "rx_malformed", "rx_foreign", "rx_rtcp",
    "tx_packets", "tx_bytes", "tx_dropped", "_ssrc", "_base_seq", "_ext_seq", "_received",
    "_lost_before",
)
_ADDRESS_FIELDS = ("remote", "_candidate")
MAX_FDS = 3
#: a recorder's unwritten audio is at most MAX_JUMP (10 s) per channel: 2 × 107 kB base64
MAX_MESSAGE = 600_000


#: what the periodic counters carry (compact: a list in this order)
COUNTER_FIELDS = (
    "rx_packets", "rx_bytes", "rx_malformed", "rx_foreign", "rx_rtcp", "tx_packets",
    "tx_bytes", "tx_dropped", "_ssrc", "_base_seq", "_ext_seq", "_received", "_lost_before",
    "tx_seq", "tx_ts", "remote", "latched",
)


def export_counters(leg: RtpEndpoint) -> list[Any]:
    return [getattr(leg, name) for name in COUNTER_FIELDS]


def import_counters(leg: RtpEndpoint, values: list[Any]) -> None:
    import_leg(leg, dict(zip(COUNTER_FIELDS, values, strict=True)))


def export_leg(leg: RtpEndpoint) -> dict[str, Any]:
    state = {name: getattr(leg, name) for name in LEG_FIELDS}
    state["port"] = leg.port
    return state


def import_leg(leg: RtpEndpoint, state: dict[str, Any]) -> None:
    for name in LEG_FIELDS:
        if name not in state:
            continue
        value = state[name]
        if name in _ADDRESS_FIELDS and value is not None:
            value = tuple(value)  # JSON lists; datagram_received compares with tuples
        setattr(leg, name, value)


def export_recorder(recorder: Recorder) -> dict[str, Any]:
    """Position and unwritten audio (flush first to keep it small)."""
    return {
        "path": str(recorder.path), "channels": recorder.channels, "start": recorder._start,
        "margin": recorder._margin, "frames": recorder.frames,
        "ch": [{"buf": base64.b64encode(c.buf).decode("ascii"), "ssrc": c.ssrc,
                "anchor_ts": c.anchor_ts, "anchor_pos": c.anchor_pos, "codec_pt": c.codec_pt,
                "late": c.late, "packets": c.packets} for c in recorder._ch],
    }


def import_recorder(recorder: Recorder, state: dict[str, Any]) -> None:
    """Overwrite ``recorder``'s position and buffers (its file descriptor stays its own)."""
    recorder._start = state["start"]
    recorder._margin = state["margin"]
    recorder.frames = state["frames"]
    channels = []
    for c_state in state["ch"]:
        c = _Channel()
        c.buf = bytearray(base64.b64decode(c_state["buf"]))
        c.ssrc = c_state["ssrc"]
        c.anchor_ts = c_state["anchor_ts"]
        c.anchor_pos = c_state["anchor_pos"]
        c.codec_pt = c_state["codec_pt"]
        c.late = c_state["late"]
        c.packets = c_state["packets"]
        channels.append(c)
    recorder._ch = channels


def recorder_from(state: dict[str, Any], fd: int, clock: Any) -> Recorder:
    """A recorder writing to an already open file (received over the control socket)."""
    recorder = Recorder.__new__(Recorder)
    recorder.path = _path(state["path"])
    recorder.channels = state["channels"]
    recorder._clock = clock
    recorder._fd = fd
    recorder.closed = False
    import_recorder(recorder, state)
    return recorder


def recover_recorder(recorder: Recorder) -> None:
    """After the process writing ``recorder`` died: continue from what is on disk.

    Every flush writes the samples and then the sizes in the header, so the file's length
    is the truth; buffered, unwritten audio is gone (at most one flush interval).
    """
    size = os.fstat(recorder._fd).st_size
    block = 2 * recorder.channels
    recorder.frames = max(0, (size - 44) // block)
    for c in recorder._ch:
        c.buf.clear()
        c.ssrc = -1  # re-anchor on the next packet


def _path(text: str) -> Any:
    from pathlib import Path

    return Path(text)


# -- the wire ------------------------------------------------------------------------------
def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | tuple[int, ...] = ()) \
        -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"control message of {len(data)} bytes is too large")
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    sock.sendmsg([data], ancillary)


def receive(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """One message and the descriptors that came with it; None at end of stream."""
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(
        MAX_MESSAGE + 1024, socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % fds.itemsize
            fds.frombytes(payload[:usable])
    if not data:
        for fd in fds:
            os.close(fd)
        return None
    return json.loads(data), list(fds)
