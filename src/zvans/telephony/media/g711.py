"""G.711 A-law and µ-law codecs as numpy lookup tables (ITU-T G.711, 8 kHz, 16-bit PCM).

The tables are computed once at import from the segment definitions of G.711 (the same
arithmetic as the CCITT reference code): a 65 536-entry encode table indexed by the 16-bit
sample, and a 256-entry decode table. Encoding and decoding a frame is then one numpy take.
``ALAW_TO_ULAW``/``ULAW_TO_ALAW`` are 256-byte ``bytes.translate`` tables, so a relay between
legs that negotiated different laws transcodes without decoding to PCM.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt

Codec = Literal["PCMA", "PCMU"]

#: Payload types of RFC 3551's static table.
PAYLOAD_TYPE: Final[dict[str, int]] = {"PCMU": 0, "PCMA": 8}
CODEC_OF_PT: Final[dict[int, Codec]] = {0: "PCMU", 8: "PCMA"}
#: Encoded value of digital silence (0 in linear PCM) in each law.
SILENCE_BYTE: Final[dict[str, int]] = {"PCMA": 0xD5, "PCMU": 0xFF}

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    mant = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, mant + 8, (mant + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _segment(value: npt.NDArray[np.int32], ends: list[int]) -> npt.NDArray[np.int32]:
    """Index of the first segment end >= value (8 when above the last)."""
    return np.searchsorted(np.array(ends, dtype=np.int32), value, side="left").astype(np.int32)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    v = pcm >> 3
    negative = v < 0
    mask = np.where(negative, 0x55, 0xD5)
    v = np.where(negative, -v - 1, v)
    seg = _segment(v, [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    shift = np.where(seg < 2, 1, seg)
    aval = (np.minimum(seg, 7) << 4) | ((v >> shift) & 0x0F)
    aval = np.where(seg >= 8, 0x7F, aval)
    return ((aval ^ mask) & 0xFF).astype(np.uint8)


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    v = pcm >> 2
    negative = v < 0
    mask = np.where(negative, 0x7F, 0xFF)
    v = np.where(negative, -v, v)
    v = np.minimum(v, _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = _segment(v, [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    uval = (np.minimum(seg, 7) << 4) | ((v >> (np.minimum(seg, 7) + 1)) & 0x0F)
    uval = np.where(seg >= 8, 0x7F, uval)
    return ((uval ^ mask) & 0xFF).astype(np.uint8)


ALAW_DECODE: Final = _alaw_decode_table()
ULAW_DECODE: Final = _ulaw_decode_table()
ALAW_ENCODE: Final = _alaw_encode_table()
ULAW_ENCODE: Final = _ulaw_encode_table()
ALAW_TO_ULAW: Final[bytes] = ULAW_ENCODE[ALAW_DECODE.astype(np.uint16)].tobytes()
ULAW_TO_ALAW: Final[bytes] = ALAW_ENCODE[ULAW_DECODE.astype(np.uint16)].tobytes()

DECODE_TABLE: Final[dict[str, npt.NDArray[np.int16]]] = {"PCMA": ALAW_DECODE, "PCMU": ULAW_DECODE}
ENCODE_TABLE: Final[dict[str, npt.NDArray[np.uint8]]] = {"PCMA": ALAW_ENCODE, "PCMU": ULAW_ENCODE}


def encode(pcm: npt.ArrayLike, codec: Codec) -> bytes:
    """16-bit linear PCM samples → G.711 bytes."""
    samples = np.asarray(pcm, dtype=np.int16)
    return ENCODE_TABLE[codec][samples.view(np.uint16)].tobytes()


def decode(data: bytes | bytearray | memoryview, codec: Codec) -> npt.NDArray[np.int16]:
    """G.711 bytes → 16-bit linear PCM samples."""
    return DECODE_TABLE[codec][np.frombuffer(data, dtype=np.uint8)]


def transcode_table(src: Codec, dst: Codec) -> bytes | None:
    """``bytes.translate`` table from one law to the other, None when they are the same."""
    if src == dst:
        return None
    return ALAW_TO_ULAW if src == "PCMA" else ULAW_TO_ALAW
