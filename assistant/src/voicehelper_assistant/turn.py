"""One answer: retrieved, generated, streamed as text and spoken; cut short by a barge-in."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import aiohttp

from voicehelper import Client, Message, StreamInterrupted, VoiceHelperError, models

from .answer import DONT_KNOW, extract
from .llm import LlmConfig, LlmError, build_messages, stream_chat
from .speech import SentenceSplitter
from .timings import Timings
from .voice import Voice

log = logging.getLogger("voicehelper_assistant")

#: Chunks retrieved for a question.
TOP_K = 5
#: Earlier messages the LLM sees.
HISTORY_TURNS = 12
#: Longest wait (seconds) for the server to store a cut turn.
CUT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Settings:
    """How the assistant answers; one for the whole worker."""

    voice: str = "en-us"
    espeak: str | None = "espeak-ng"
    llm: LlmConfig | None = None


class Turn:
    """Answers one question in one session: `run()` once; `cancel(at)` cuts it (a barge-in).

    The text goes out as `message:delta`s and a final message as soon as it is complete;
    each sentence is spoken as soon as it is complete. A cut stops both at once and stores
    what had been heard at `at`: the audio up to the frame playing (`heardIndex`), and, if
    the text was still streaming, the text up to the word being spoken (`heardChars`; all
    of it when nothing had been spoken yet, since it was on screen).
    """

    def __init__(
        self,
        client: Client,
        session_id: str,
        question: str,
        history: Sequence[Message],
        settings: Settings,
        http: aiohttp.ClientSession,
        reply: str | None = None,
        timings: Timings | None = None,
    ) -> None:
        self.client = client
        self.session_id = session_id
        self.question = question
        self.history = list(history)
        self.settings = settings
        self.http = http
        self.reply = reply
        self.text = client.stream(session_id, stream_id=str(uuid.uuid4()))
        #: When each step happened, from the moment the question was complete.
        self.timings = timings if timings is not None else Timings(session_id)
        self.voice = (
            Voice(client, session_id, settings.voice, settings.espeak, timings=self.timings)
            if settings.espeak is not None
            else None
        )
        #: The stored text answer (whole, or as cut).
        self.message: Message | None = None
        #: Set once cut.
        self.cut_at: float | None = None
        #: What the answer was made from: the chunks and the chat sent to the LLM.
        self.chunks: list[models.Chunk] = []
        self._task: asyncio.Task[None] | None = None
        self._text_done = False

    @property
    def stream_ids(self) -> set[str]:
        ids = {self.text.stream_id}
        if self.voice is not None:
            ids.add(self.voice.stream_id)
        return ids

    def stored(self) -> list[Message]:
        """The messages this turn stored: its text, and its audio (with what was heard as content)."""
        found = [m for m in (self.message, self.voice.message if self.voice is not None else None) if m is not None]
        if self.voice is not None and self.voice.message is not None and self.voice.transcript:
            found[-1] = self.voice.message.model_copy(update={"content": self.voice.transcript})
        return found

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run())
        return self._task

    def cancel(self, at: float | None = None) -> None:
        """Cuts the turn (once; later calls change nothing)."""
        if self.cut_at is not None or self._task is None or self._task.done():
            return
        self.cut_at = at if at is not None else asyncio.get_running_loop().time()
        self._task.cancel()

    async def run(self) -> None:
        try:
            await self._answer()
            self.timings.report()
        except asyncio.CancelledError:
            if self.cut_at is None:
                await self._abandon()
                raise
            await self._cut()
        except StreamInterrupted:
            # Someone else cut the text (a user client's turn:interrupt): stop speaking too.
            self.cut_at = asyncio.get_running_loop().time()
            await self._cut()
        except Exception:
            await self._abandon()
            raise

    async def _answer(self) -> None:
        splitter = SentenceSplitter()
        started = time.monotonic()
        async for piece in self._pieces():
            if self.voice is None:
                self.timings.mark("first_text")
            await self.text.delta(piece)
            self.timings.mark("first_delta")
            if self.voice is not None:
                for start, end, sentence in splitter.feed(piece):
                    self.timings.mark("first_text")
                    self.voice.say(start, end, sentence)
        if self.voice is not None:
            for start, end, sentence in splitter.flush():
                self.timings.mark("first_text")
                self.voice.say(start, end, sentence)
            self.voice.close()
        if self.text.text:
            self.message = await self.client.send(
                self.session_id,
                self.text.text,
                metadata={"streamId": self.text.stream_id},
                processing_time_ms=round((time.monotonic() - started) * 1000),
            )
        self._text_done = True
        if self.voice is not None:
            await self.voice.finished()

    async def _pieces(self) -> AsyncIterator[str]:
        """The answer's text in the pieces it is streamed in."""
        if self.reply is not None:
            yield self.reply
            return
        self.chunks = await self._retrieve()
        self.timings.mark("retrieved")
        if self.settings.llm is not None:
            produced = False
            try:
                messages = build_messages(self.question, self.chunks, self.history[-HISTORY_TURNS:])
                async for piece in stream_chat(self.settings.llm, messages, self.http):
                    produced = True
                    yield piece
            except LlmError as error:
                if produced:
                    log.warning("session %s: the LLM broke off the answer: %s", self.session_id, error)
                    return
                log.warning("session %s: the LLM failed, answering from the documents: %s", self.session_id, error)
            if produced:
                return
        answer = extract(self.question, self.chunks)
        # Sentence by sentence, each with the space after it, as a model would stream it.
        for piece in re.findall(r"\S.*?(?:[.!?)](?:\s+|$)|$)", answer.text):
            yield piece

    async def _retrieve(self) -> list[models.Chunk]:
        return await retrieve(self.client, self.question, TOP_K, self.session_id)

    async def _cut(self) -> None:
        assert self.cut_at is not None
        heard = self.voice.heard(self.cut_at) if self.voice is not None else None
        jobs = []
        if self.voice is not None:
            jobs.append(self.voice.cut(self.cut_at))
        if self.text.text and not self._text_done:
            jobs.append(self._cut_text(None if heard is None else _word_start(self.text.text, heard[0])))
        results = await asyncio.gather(
            *(asyncio.wait_for(job, CUT_TIMEOUT) for job in jobs), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                log.warning("session %s: storing the cut answer failed: %r", self.session_id, result)
        now = asyncio.get_running_loop().time()
        stopped = self.voice.stopped_at if self.voice is not None else None
        log.info(
            "session %s: answer cut; heard %s; speech stopped %s ms after the barge-in, stored after %d ms",
            self.session_id,
            "nothing" if heard is None else f"{heard[0]} characters",
            "-" if stopped is None else round((stopped - self.cut_at) * 1000),
            round((now - self.cut_at) * 1000),
        )

    async def _cut_text(self, heard_chars: int | None) -> None:
        self.message = await self.client.interrupt(self.session_id, self.text.stream_id, heard_chars=heard_chars)
        self.text.interrupted = True

    async def _abandon(self) -> None:
        if self.voice is not None:
            await self.voice.abandon()


async def retrieve(client: Client, query: str, top_k: int, session_id: str, attempts: int = 3) -> list[models.Chunk]:
    """The session owner's chunks for `query`; none when retrieval fails.

    All of a worker's sessions share its service account's `retrieve` limit (10 per 10 s by
    default, times the capacity the worker registered), so a `RATE_LIMITED` refusal is
    waited out (its `retryAfterMs`, at most 5 s) and tried again rather than answered with
    "I don't know".
    """
    for attempt in range(attempts):
        try:
            result = await client.retrieve(query, top_k=top_k, session_id=session_id)
            return list(result.chunks)
        except VoiceHelperError as error:
            if error.code != "RATE_LIMITED" or attempt == attempts - 1:
                log.warning("session %s: retrieval failed: %s %s", session_id, error.code, error.message)
                return []
            await asyncio.sleep(min(5.0, (error.retry_after_ms or 1000) / 1000))
    return []


def _word_start(text: str, chars: int) -> int:
    """`chars`, moved back to the start of the word it falls in."""
    if chars <= 0 or chars >= len(text) or text[chars].isspace() or text[chars - 1].isspace():
        return max(0, min(chars, len(text)))
    space = max(text.rfind(" ", 0, chars), text.rfind("\n", 0, chars))
    return space if space > 0 else 0
