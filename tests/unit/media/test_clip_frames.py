"""A clip's RTP payloads are cut once per codec and packet time and shared."""

from __future__ import annotations

import numpy as np

from zvans.telephony.media import g711
from zvans.telephony.media.audio import AudioClip, frames_of


def test_frames_are_cut_once_and_padded_with_silence() -> None:
    clip = AudioClip(np.full(8 * 20 * 3 + 40, 1000, dtype=np.int16), "music")
    frames = clip.frames("PCMA", 20)
    assert [len(f) for f in frames] == [160, 160, 160, 160]
    assert b"".join(frames)[:520] == clip.encoded("PCMA")
    assert frames[-1][40:] == bytes([g711.SILENCE_BYTE["PCMA"]]) * 120
    assert clip.frames("PCMA", 20) is frames  # the second caller on hold shares them
    assert clip.frames("PCMU", 20) is not frames
    assert [len(f) for f in clip.frames("PCMA", 30)] == [240, 240, 240]


def test_an_exact_multiple_gets_no_padding() -> None:
    assert frames_of(b"\x01" * 320, "PCMU", 20) == [b"\x01" * 160, b"\x01" * 160]
