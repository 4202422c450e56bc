"""Typed media errors, so the B2BUA can map each to a SIP response without string matching."""

from __future__ import annotations

from zvans.errors import ZvansError


class MediaError(ZvansError):
    code = "media-error"
    status = 500


class SdpError(MediaError):
    """The peer's SDP could not be parsed or holds nothing we can talk (SIP 488)."""

    code = "bad-sdp"
    status = 488


class NoCommonCodec(SdpError):
    code = "no-common-codec"


class PortsExhausted(MediaError):
    """Every port of the configured RTP range is bound (SIP 503)."""

    code = "rtp-ports-exhausted"
    status = 503


class AudioFormatError(MediaError):
    """An uploaded or configured audio file is not a WAV we can play."""

    code = "bad-audio-file"
    status = 422


class PromptError(MediaError):
    """Text-to-speech or audio conversion failed."""

    code = "prompt-failed"
    status = 500


class DtmfError(MediaError):
    code = "bad-dtmf"
    status = 400
