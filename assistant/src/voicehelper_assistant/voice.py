"""One answer's voice: sentences synthesized as they come and spoken as one live audio stream.

Frames go out in real time (each 20 ms frame is sent at most LEAD seconds before it plays,
and a listener plays on arrival), so the worker knows which frame the user was hearing
when they cut in: that is the `heardIndex` of the barge-in, and the sentence it belongs to
tells how much of the text was heard (`heardChars`). Sending in real time also keeps a long
answer within the server's `audio:chunk` rate limit (50 chunks a second).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import uuid
from dataclasses import dataclass, field

from voicehelper import AudioSpeaker, Client, Message, StreamInterrupted, VoiceHelperError

from .speech import FRAME_SECONDS, SAMPLE_RATE, frames, speakable, synthesize
from .timings import Timings

log = logging.getLogger("voicehelper_assistant")

#: How far (seconds) the frames sent may run ahead of what the listener is hearing.
LEAD = 0.1
#: espeak-ng processes one voice runs at once (the next sentence is made while one plays).
SYNTHESIS_AHEAD = 2


@dataclass
class _Sentence:
    start: int
    end: int
    spoken: str
    pcm: asyncio.Task[bytes]
    first_frame: int = -1
    frames: int = 0


class _Silent(Exception):
    """Cut before a frame went out: the stream is aborted, nothing is stored."""


@dataclass
class Voice:
    """Speaks one answer's sentences, in order, on one `audio/l16` stream opened at the first frame."""

    client: Client
    session_id: str
    voice: str
    binary: str = "espeak-ng"
    stream_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: The answer's clock: synthesis, the stream's opening and the first frame are marked on it.
    timings: Timings | None = None
    #: The stored audio message, once the stream has ended (interrupted or not).
    message: Message | None = None
    #: What the stored audio says: the spoken text, or what was heard of it when cut.
    transcript: str = ""

    def __post_init__(self) -> None:
        self._sentences: list[_Sentence] = []
        self._more = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._starts: list[float] = []
        self._playhead = 0.0
        self._cut_at: float | None = None
        self._limit = asyncio.Semaphore(SYNTHESIS_AHEAD)
        self._abandoned = False
        #: Loop time at which frames stopped going out after a cut.
        self.stopped_at: float | None = None

    # -- what the turn calls ---------------------------------------------------------------

    def say(self, start: int, end: int, text: str) -> None:
        """Queues a sentence (its span in the answer's text) and starts synthesizing it."""
        spoken = speakable(text)
        if not spoken or self._closed:
            return
        pcm = asyncio.create_task(self._synthesize(spoken))
        self._sentences.append(_Sentence(start, end, spoken, pcm))
        self._more.set()
        if self._task is None:
            self._task = asyncio.create_task(self._play())

    def close(self) -> None:
        """No more sentences: the stream ends once the queued ones are spoken."""
        self._closed = True
        self._more.set()

    async def finished(self) -> None:
        """Waits until everything is spoken and stored."""
        if self._task is not None:
            await asyncio.shield(self._task)

    @property
    def speaking(self) -> bool:
        return self._task is not None and not self._task.done()

    def heard_frames(self, at: float) -> int:
        """Frames that had started playing at loop time `at`."""
        return bisect.bisect_right(self._starts, at)

    def heard(self, at: float) -> tuple[int, str] | None:
        """What had been heard at `at`: the answer's characters and the spoken words, or None before the first frame."""
        played = self.heard_frames(at)
        if played == 0:
            return None
        chars, words = 0, []
        for sentence in self._sentences:
            if sentence.first_frame < 0 or sentence.first_frame >= played:
                break
            if sentence.first_frame + sentence.frames <= played:
                chars = sentence.end
                words.append(sentence.spoken)
                continue
            share = (played - sentence.first_frame) / max(1, sentence.frames)
            text_cut = _word_cut(sentence.end - sentence.start, share)
            chars = sentence.start + text_cut
            spoken = sentence.spoken[: _word_cut(len(sentence.spoken), share, sentence.spoken)]
            if spoken:
                words.append(spoken)
            break
        return chars, " ".join(words)

    async def cut(self, at: float) -> None:
        """Stops speaking at once and stores what was heard at `at` (`turn:interrupt` with `heardIndex`)."""
        for sentence in self._sentences:
            sentence.pcm.cancel()
        self._closed = True
        task = self._task
        if task is None or task.done():
            return
        if self._cut_at is None:
            self._cut_at = at
            task.cancel()
        try:
            await asyncio.shield(task)
        except (asyncio.CancelledError, VoiceHelperError, _Silent):
            pass

    async def abandon(self) -> None:
        """Stops without storing anything more (the connection or the session went away)."""
        for sentence in self._sentences:
            sentence.pcm.cancel()
        self._closed = True
        self._abandoned = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task})

    # -- the stream ------------------------------------------------------------------------

    async def _synthesize(self, text: str) -> bytes:
        async with self._limit:
            return await synthesize(text, self.voice, self.binary)

    async def _play(self) -> None:
        try:
            # Started with the first sentence, whose synthesis runs meanwhile: the stream opens
            # at once, so audio:start's round trip is not added to the wait for the first frame.
            speaker = self.client.speak(self.session_id, "audio/l16", SAMPLE_RATE, stream_id=self.stream_id)
            try:
                async with speaker as audio:
                    await self._speak(audio)
            except _Silent:
                return
            except asyncio.CancelledError:
                # Cut while the stream was opening: free its slot at once rather than in 60 s.
                if speaker.message is None:
                    asyncio.get_running_loop().create_task(self._abort_quietly())
                raise
            self.message = speaker.message
            if self.message is not None and self._cut_at is not None and self.transcript:
                await self.client.set_transcript(self.message.id, self.transcript)
        except asyncio.CancelledError:
            if self._cut_at is None or self._abandoned:
                raise
        except VoiceHelperError as error:
            log.warning("voice: session %s: the answer's audio failed: %s", self.session_id, error)

    async def _abort_quietly(self) -> None:
        try:
            await asyncio.wait_for(self.client.request("audio:abort", {"streamId": self.stream_id}), 5)
        except (VoiceHelperError, TimeoutError):
            pass

    async def _next_pcm(self, index: int) -> bytes | None:
        while index >= len(self._sentences):
            if self._closed:
                return None
            self._more.clear()
            await self._more.wait()
        try:
            return await self._sentences[index].pcm
        except (RuntimeError, OSError) as error:
            log.warning("voice: espeak-ng failed on %r: %s", self._sentences[index].spoken[:60], error)
            return b""

    async def _speak(self, audio: AudioSpeaker) -> None:
        loop = asyncio.get_running_loop()
        index = 0
        self._mark("stream_opened")
        try:
            while (pcm := await self._next_pcm(index)) is not None:
                if index == 0:
                    self._mark("synthesized")
                sentence = self._sentences[index]
                sentence.first_frame = len(self._starts)
                for frame in frames(pcm):
                    ahead = self._playhead - loop.time()
                    if ahead > LEAD:
                        await asyncio.sleep(ahead - LEAD)
                    start = max(self._playhead, loop.time())
                    self._starts.append(start)
                    self._playhead = start + FRAME_SECONDS
                    sentence.frames += 1
                    await audio.frame(frame)
                    if self.timings is not None and "first_frame" not in self.timings.at:
                        self.timings.mark("first_frame")
                        self.timings.report()
                index += 1
            self.transcript = " ".join(s.spoken for s in self._sentences if s.frames > 0)
            audio.transcript = self.transcript
            # Still answering until the listener has heard the end: a barge-in now is one too.
            await asyncio.sleep(max(0.0, self._playhead - loop.time()))
        except (asyncio.CancelledError, StreamInterrupted):
            if self._abandoned:
                raise
            self.stopped_at = loop.time()
            at = self._cut_at if self._cut_at is not None else loop.time()
            if self._cut_at is None:
                self._cut_at = at
            played = self.heard_frames(at)
            if played == 0:
                raise _Silent() from None
            heard = self.heard(at)
            self.transcript = heard[1] if heard else ""
            if not audio.interrupted:
                try:
                    self.message = await self.client.interrupt(self.session_id, self.stream_id, heard_index=played - 1)
                except VoiceHelperError as error:
                    log.warning("voice: could not store the cut answer %s: %s", self.stream_id, error)
            audio.interrupted = True
            raise StreamInterrupted("CONFLICT", "the answer was cut") from None

    def _mark(self, step: str) -> None:
        if self.timings is not None:
            self.timings.mark(step)


def _word_cut(length: int, share: float, text: str | None = None) -> int:
    """`share` of `length` characters, back to the start of the word it falls in when `text` is given."""
    cut = min(length, max(0, round(length * share)))
    if text is not None and 0 < cut < length and not text[cut].isspace():
        space = text.rfind(" ", 0, cut)
        cut = space if space > 0 else 0
    return cut
