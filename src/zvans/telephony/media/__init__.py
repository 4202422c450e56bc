"""Media for the B2BUA: SDP offer/answer, RTP relay, G.711, DTMF, prompts, MOH, recording.

The B2BUA uses :class:`MediaEngine`; the modules below it are usable on their own.
"""

from .audio import AudioClip, default_moh, load_prompt, read_wav, tone
from .dtmf import DtmfDigit, info_digit, parse_info
from .errors import (
    AudioFormatError,
    DtmfError,
    MediaError,
    NoCommonCodec,
    PortsExhausted,
    PromptError,
    SdpError,
)
from .mixer import Mixer
from .player import Playback
from .prompts import PHRASES, PromptCache, position_phrase
from .recorder import Recorder
from .session import LegMode, MediaEngine, MediaLeg

__all__ = [
    "PHRASES",
    "AudioClip",
    "AudioFormatError",
    "DtmfDigit",
    "DtmfError",
    "LegMode",
    "MediaEngine",
    "MediaError",
    "MediaLeg",
    "Mixer",
    "NoCommonCodec",
    "Playback",
    "PortsExhausted",
    "PromptCache",
    "PromptError",
    "Recorder",
    "SdpError",
    "default_moh",
    "info_digit",
    "load_prompt",
    "parse_info",
    "position_phrase",
    "read_wav",
    "tone",
]
