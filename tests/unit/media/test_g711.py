"""G.711 tables against the definition (ITU-T G.711 segment arithmetic, written per sample)
and against published code points."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from zvans.telephony.media import g711


def ref_alaw_encode(sample: int) -> int:
    """Scalar A-law per G.711 table 1: 13-bit magnitude, segment by leading bit."""
    value = sample >> 3
    sign = 0x80 if value >= 0 else 0x00
    if value < 0:
        value = -value - 1
    if value > 0xFFF:
        value = 0xFFF
    if value < 32:
        code = value >> 1
    else:
        exponent = value.bit_length() - 5  # 32..63 → 1, …, 2048..4095 → 7
        code = (exponent << 4) | ((value >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


def ref_alaw_decode(code: int) -> int:
    code ^= 0x55
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (2 * mantissa + 1) if exponent == 0 else (2 * mantissa + 33) << (exponent - 1)
    magnitude <<= 3
    return magnitude if code & 0x80 else -magnitude


def ref_ulaw_encode(sample: int) -> int:
    value = sample >> 2
    sign = 0x00 if value >= 0 else 0x80
    magnitude = min(abs(value), 8159) + 33
    exponent = max(0, magnitude.bit_length() - 6)
    mantissa = (magnitude >> (exponent + 1)) & 0x0F
    if exponent > 7:  # 8159 + 33 = 8192 is past the last segment: the top code
        exponent, mantissa = 7, 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ref_ulaw_decode(code: int) -> int:
    code = ~code & 0xFF
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -magnitude if code & 0x80 else magnitude


CODECS: tuple[g711.Codec, ...] = ("PCMA", "PCMU")

PUBLISHED = [
    # (linear, A-law code, µ-law code) — zero, full scale, and the largest negative
    (0, 0xD5, 0xFF),
    (32767, 0xAA, 0x80),
    (-32768, 0x2A, 0x00),
]


@pytest.mark.parametrize(("linear", "alaw", "ulaw"), PUBLISHED)
def test_published_code_points(linear: int, alaw: int, ulaw: int) -> None:
    assert g711.encode([linear], "PCMA") == bytes([alaw])
    assert g711.encode([linear], "PCMU") == bytes([ulaw])


def test_decode_published_values() -> None:
    assert g711.decode(b"\xd5\x55\xaa\x2a", "PCMA").tolist() == [8, -8, 32256, -32256]
    assert g711.decode(b"\xff\x7f\x80\x00", "PCMU").tolist() == [0, 0, 32124, -32124]


def test_tables_match_definition_for_every_value() -> None:
    samples = np.arange(-32768, 32768, dtype=np.int16)
    alaw = np.frombuffer(g711.encode(samples, "PCMA"), dtype=np.uint8)
    ulaw = np.frombuffer(g711.encode(samples, "PCMU"), dtype=np.uint8)
    for s in range(-32768, 32768, 7):
        assert alaw[s + 32768] == ref_alaw_encode(s), s
        assert ulaw[s + 32768] == ref_ulaw_encode(s), s
    codes = bytes(range(256))
    assert g711.decode(codes, "PCMA").tolist() == [ref_alaw_decode(c) for c in codes]
    assert g711.decode(codes, "PCMU").tolist() == [ref_ulaw_decode(c) for c in codes]


def test_round_trip_is_stable_and_close() -> None:
    codes = bytes(range(256))
    for codec in CODECS:
        # every code decodes to a value that encodes back to the same code (bar µ-law's -0)
        again = g711.encode(g711.decode(codes, codec), codec)
        same = [a == b for a, b in zip(again, codes, strict=True)]
        assert sum(same) >= 255, codec
    samples = np.linspace(-30000, 30000, 5001).astype(np.int16)
    for codec in CODECS:
        back = g711.decode(g711.encode(samples, codec), codec).astype(np.int32)
        error = np.abs(back - samples)
        # logarithmic quantiser: the error stays within half a step, ~3.2 % of the value
        assert np.all(error <= np.maximum(16, np.abs(samples.astype(np.int32)) // 31)), codec


def test_matches_audioop_when_available() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    samples = np.arange(-32768, 32768, dtype=np.int16)
    assert g711.encode(samples, "PCMA") == audioop.lin2alaw(samples.tobytes(), 2)
    assert g711.encode(samples, "PCMU") == audioop.lin2ulaw(samples.tobytes(), 2)


def test_transcoding_tables_go_through_linear() -> None:
    codes = bytes(range(256))
    as_ulaw = codes.translate(g711.ALAW_TO_ULAW)
    assert as_ulaw == g711.encode(g711.decode(codes, "PCMA"), "PCMU")
    assert g711.transcode_table("PCMA", "PCMA") is None
    assert g711.transcode_table("PCMU", "PCMA") == g711.ULAW_TO_ALAW
