"""Speech out: espeak-ng, one subprocess per sentence, as big-endian 16-bit PCM (`audio/l16`).

The voice keeps espeak-ng's own rate, 22050 Hz, and announces it in `audio:start`: the
protocol and the browser app play `audio/l16` at any announced rate, so resampling to
16 kHz would only cost CPU and a resampler (Python 3.13 has no `audioop`) for 27% less
bandwidth on a stream that is 44 KB/s either way.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import sys
from array import array
from collections.abc import Iterator

log = logging.getLogger("voicehelper_assistant")

#: espeak-ng's output rate (Hz), announced as the stream's `sampleRate`.
SAMPLE_RATE = 22050
#: One 20 ms frame of 16-bit mono samples at SAMPLE_RATE: 441 samples.
FRAME_BYTES = SAMPLE_RATE // 50 * 2
#: Seconds of audio in one frame.
FRAME_SECONDS = 0.02
#: What speaks answers when the environment does not name another voice.
DEFAULT_VOICE = "en-us"

# Characters of Markdown that an LLM may write and that should not be read out.
_MARKUP = re.compile(r"[*_`#>|~]+|\[(?P<label>[^\]]*)\]\([^)]*\)")


def espeak_binary() -> str | None:
    return shutil.which("espeak-ng")


def speakable(text: str) -> str:
    """The text as it is read out: Markdown marks and link targets dropped, spaces folded."""
    spoken = _MARKUP.sub(lambda match: match.group("label") or " ", text)
    return " ".join(spoken.split())


def pcm_from_wav(wav: bytes) -> bytes:
    """The samples of espeak-ng's WAV, big-endian. It writes to a pipe, so the sizes in its
    header are placeholders: everything after the `data` header is taken."""
    at = wav.find(b"data", 12)
    if wav[:4] != b"RIFF" or at < 0:
        raise ValueError("espeak-ng did not write a WAV")
    samples = array("h")
    body = wav[at + 8 :]
    samples.frombytes(body[: len(body) - len(body) % 2])
    if sys.byteorder == "little":
        samples.byteswap()
    return samples.tobytes()


def frames(pcm: bytes) -> Iterator[bytes]:
    """20 ms frames of PCM, the last one padded with silence: every frame plays for 20 ms."""
    for offset in range(0, len(pcm), FRAME_BYTES):
        yield pcm[offset : offset + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")


async def synthesize(text: str, voice: str = DEFAULT_VOICE, binary: str = "espeak-ng") -> bytes:
    """Speaks `text` with espeak-ng and returns big-endian PCM at SAMPLE_RATE.

    The text goes in on stdin (never as an argument, so no text reads as an option). The
    process is killed when the caller is cancelled: a barge-in must not wait for it.
    """
    process = await asyncio.create_subprocess_exec(
        binary,
        "--stdout",
        "-v",
        voice,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        wav, error = await process.communicate(text.encode())
    except BaseException:
        if process.returncode is None:
            process.kill()
            await asyncio.shield(process.wait())
        raise
    if process.returncode != 0:
        raise RuntimeError(f"espeak-ng exited with {process.returncode}: {error.decode(errors='replace').strip()}")
    return pcm_from_wav(wav)


# A sentence ends at . ! ? (or their CJK forms) and the space after them, or at a line break.
_END = re.compile(r"[.!?][\"')\]]*\s+|[。！？]|\n+")
#: A sentence longer than this is spoken in parts, cut at a comma or space, so speech starts soon.
LONGEST_SENTENCE = 240


class SentenceSplitter:
    """Cuts streamed text into sentences as soon as each is complete.

    Each sentence comes with its span in the whole text (code points, as `heardChars`
    counts them), so the speaker can tell how much of the text has been heard.
    """

    def __init__(self) -> None:
        self._text = ""
        self._start = 0

    def feed(self, piece: str) -> list[tuple[int, int, str]]:
        self._text += piece
        out: list[tuple[int, int, str]] = []
        while True:
            rest = self._text[self._start :]
            match = _END.search(rest)
            if match is not None and match.end() > 0:
                cut = self._start + match.end()
            elif len(rest) > LONGEST_SENTENCE:
                window = rest[:LONGEST_SENTENCE]
                at = max(window.rfind(", "), window.rfind("; "))
                at = at + 2 if at > LONGEST_SENTENCE // 3 else window.rfind(" ") + 1
                cut = self._start + (at if at > 0 else LONGEST_SENTENCE)
            else:
                return out
            out.extend(self._take(cut))

    def flush(self) -> list[tuple[int, int, str]]:
        return self._take(len(self._text))

    def _take(self, cut: int) -> list[tuple[int, int, str]]:
        start, self._start = self._start, cut
        sentence = self._text[start:cut]
        if sentence.strip() == "":
            return []
        # The span covers the sentence without its surrounding spaces.
        lead = len(sentence) - len(sentence.lstrip())
        trail = len(sentence.rstrip())
        return [(start + lead, start + trail, sentence.strip())]
