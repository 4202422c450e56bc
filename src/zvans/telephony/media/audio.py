"""PCM audio for prompts and music on hold: WAV loading/validation, tones, the default MOH.

Everything played to a leg is 8 kHz mono 16-bit PCM held as a numpy ``int16`` array and
encoded to G.711 once per law (see :class:`AudioClip`), so a looping MOH costs a slice per
frame, not an encode.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from . import g711
from .errors import AudioFormatError

RATE = 8000


class AudioClip:
    """Immutable mono 8 kHz PCM with its G.711 encodings cached."""

    def __init__(self, pcm: npt.ArrayLike, name: str = "clip") -> None:
        self.pcm = np.ascontiguousarray(np.asarray(pcm, dtype=np.int16))
        self.pcm.setflags(write=False)
        self.name = name
        self._encoded: dict[str, bytes] = {}
        self._frames: dict[tuple[str, int], list[bytes]] = {}

    @property
    def duration(self) -> float:
        return len(self.pcm) / RATE

    def encoded(self, codec: g711.Codec) -> bytes:
        data = self._encoded.get(codec)
        if data is None:
            data = self._encoded[codec] = g711.encode(self.pcm, codec)
        return data

    def frames(self, codec: g711.Codec, ptime: int) -> list[bytes]:
        """The encoding cut into ``ptime`` ms RTP payloads, the last one padded with silence.

        Built once per codec and packet time: every caller on hold shares the same music's
        frames instead of cutting a fresh copy per call. Treat the list as read-only."""
        key = (codec, ptime)
        frames = self._frames.get(key)
        if frames is None:
            frames = self._frames[key] = frames_of(self.encoded(codec), codec, ptime)
        return frames

    def __repr__(self) -> str:
        return f"AudioClip({self.name!r}, {self.duration:.2f}s)"


def frames_of(data: bytes, codec: g711.Codec, ptime: int) -> list[bytes]:
    """G.711 bytes cut into ``ptime`` ms payloads, the last one padded with silence."""
    size = 8 * ptime
    if len(data) % size:
        data += bytes([g711.SILENCE_BYTE[codec]]) * (size - len(data) % size)
    return [data[i:i + size] for i in range(0, len(data), size)]


def read_wav(path: str | Path) -> AudioClip:
    """Load an 8 kHz mono 16-bit PCM WAV; anything else is refused with the reason."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"{path.name} is not a PCM WAV file ({exc})", file=str(path)) \
            from None
    except OSError as exc:
        raise AudioFormatError(f"cannot read {path.name}: {exc.strerror}", file=str(path)) \
            from None
    problems = []
    if rate != RATE:
        problems.append(f"sample rate {rate} Hz (need 8000)")
    if channels != 1:
        problems.append(f"{channels} channels (need mono)")
    if width != 2:
        problems.append(f"{8 * width}-bit samples (need 16-bit)")
    if problems:
        raise AudioFormatError(
            f"{path.name} must be 8 kHz mono 16-bit PCM WAV: " + ", ".join(problems),
            file=str(path), rate=rate, channels=channels, bits=8 * width,
        )
    if not frames:
        raise AudioFormatError(f"{path.name} holds no audio", file=str(path))
    return AudioClip(np.frombuffer(frames, dtype="<i2").astype(np.int16), path.stem)


def write_wav(path: str | Path, pcm: npt.ArrayLike, rate: int = RATE) -> Path:
    path = Path(path)
    samples = np.asarray(pcm, dtype=np.int16)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    tmp.replace(path)
    return path


def convert_to_prompt_wav(src: str | Path, dst: str | Path) -> Path:
    """Convert any audio file sox understands to 8 kHz mono 16-bit WAV (uploads)."""
    sox = shutil.which("sox")
    if sox is None:
        raise AudioFormatError("sox is not installed; upload an 8 kHz mono 16-bit WAV")
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.stem + ".part.wav")
    result = subprocess.run(
        [sox, "-V1", str(src), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
         str(tmp)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "unknown"
        raise AudioFormatError(f"{Path(src).name} is not an audio file sox can read: {reason}",
                               file=str(src))
    tmp.replace(dst)
    read_wav(dst)  # proves the result
    return dst


def load_prompt(path: str | Path, convert_dir: str | Path | None = None) -> AudioClip:
    """Read a prompt; convert with sox when it is audio in another format and a dir is given."""
    try:
        return read_wav(path)
    except AudioFormatError:
        if convert_dir is None:
            raise
        dst = Path(convert_dir) / (Path(path).stem + ".8k.wav")
        return read_wav(convert_to_prompt_wav(path, dst))


def tone(freqs: float | list[float], seconds: float, amplitude: float = 0.3,
         fade: float = 0.01) -> npt.NDArray[np.int16]:
    """A sine (or a sum of sines) with short fades so that joins do not click."""
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    freq_list = [freqs] if isinstance(freqs, int | float) else list(freqs)
    wave_ = sum(np.sin(2 * np.pi * f * t) for f in freq_list) / max(1, len(freq_list))
    env = np.ones(n)
    k = min(n // 2, int(fade * RATE))
    if k:
        ramp = np.linspace(0.0, 1.0, k)
        env[:k] = ramp
        env[-k:] = ramp[::-1]
    return (np.asarray(wave_) * env * amplitude * 32767).astype(np.int16)


def silence(seconds: float) -> npt.NDArray[np.int16]:
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def default_moh() -> AudioClip:
    """A calm, royalty-free loop: a slow arpeggio over C–Am–F–G with soft bell-like notes.

    Each note is a fundamental plus two quiet harmonics under an exponential decay; the loop
    is 16 s long and ends where it starts, so looping is seamless.
    """
    notes = {
        "C4": 261.63, "D4": 293.66, "E4": 329.63, "F4": 349.23, "G4": 392.00, "A4": 440.00,
        "B4": 493.88, "C5": 523.25, "A3": 220.00, "F3": 174.61, "G3": 196.00, "C3": 130.81,
    }
    bars = [
        ("C3", ["C4", "E4", "G4", "C5", "G4", "E4", "C4", "E4"]),
        ("A3", ["A3", "C4", "E4", "A4", "E4", "C4", "A3", "C4"]),
        ("F3", ["F3", "A3", "C4", "F4", "C4", "A3", "F3", "A3"]),
        ("G3", ["G3", "B4", "D4", "G4", "D4", "B4", "G3", "D4"]),
    ]
    step = 0.5
    bar_len = int(step * 8 * RATE)
    total = np.zeros(bar_len * len(bars))
    note_len = int(1.5 * RATE)
    t = np.arange(note_len) / RATE
    env = np.exp(-t * 3.0) * np.minimum(1.0, t / 0.01)
    for b, (bass, arpeggio) in enumerate(bars):
        start = b * bar_len
        bass_t = np.arange(bar_len) / RATE
        total[start:start + bar_len] += 0.25 * np.sin(2 * np.pi * notes[bass] * bass_t) * \
            np.exp(-bass_t * 0.8)
        for i, name in enumerate(arpeggio):
            f = notes[name]
            note = (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)
                    + 0.1 * np.sin(6 * np.pi * f * t)) * env
            s = start + int(i * step * RATE)
            end = min(len(total), s + note_len)
            total[s:end] += 0.35 * note[: end - s]
    fade = int(0.05 * RATE)
    total[:fade] *= np.linspace(0, 1, fade)
    total[-fade:] *= np.linspace(1, 0, fade)
    peak = float(np.max(np.abs(total))) or 1.0
    return AudioClip((total / peak * 0.4 * 32767).astype(np.int16), "default-moh")
