"""One dispatched session: its history, its user's voice, and its one answer at a time."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import aiohttp

from voicehelper import Client, Message, VoiceHelperError, models

from .timings import Timings
from .turn import Settings, Turn, retrieve

if TYPE_CHECKING:
    from .hearing import Listener, Recognizer, Vocabulary

log = logging.getLogger("voicehelper_assistant")

#: Messages kept for the LLM's context (and to find the question waiting at dispatch).
HISTORY = 40
#: A vocabulary older than this (seconds) is built again before the user's next audio stream.
VOCABULARY_MAX_AGE = 15.0
#: The answer when the user's audio held no words the recognizer knew.
NOT_HEARD = "Sorry, I did not catch that. Could you say it again?"


class Hearing:
    """One user audio stream: frames fed to a listener as they come; the transcript at the end."""

    def __init__(self, conversation: Conversation, event: models.AudioStartedEvent, generation: int) -> None:
        self.conversation = conversation
        self.event = event
        self.generation = generation
        self._frames: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._ended: asyncio.Future[models.AudioEndedEvent] = asyncio.get_running_loop().create_future()
        self._timings: Timings | None = None
        self.task = asyncio.create_task(self._run())

    def frame(self, data: bytes) -> None:
        self._frames.put_nowait(data)

    def end(self, event: models.AudioEndedEvent) -> None:
        # The user stopped talking: the answer's clock starts.
        self._timings = Timings(self.conversation.session_id, voice=True)
        self._frames.put_nowait(None)
        if not self._ended.done():
            self._ended.set_result(event)

    async def _run(self) -> None:
        conversation = self.conversation
        recognizer = conversation.recognizer
        assert recognizer is not None
        vocabulary = await conversation.vocabulary()
        listener: Listener | None = None
        try:
            listener = recognizer.listener(self.event.mime_type, self.event.sample_rate, vocabulary)
            while (data := await self._frames.get()) is not None:
                await listener.feed(data)
            transcript = (await listener.finish()).strip()
        except ValueError as error:
            log.warning("session %s: cannot hear %s audio: %s", conversation.session_id, self.event.mime_type, error)
            return
        finally:
            if listener is not None:
                listener.close()
        ended = await self._ended
        if ended.discarded or ended.message_id is None:
            return
        if self._timings is not None:
            self._timings.mark("heard")
        log.info("session %s: heard %r", conversation.session_id, transcript)
        # The answer starts first; the transcript is stored meanwhile.
        conversation.heard(transcript, self.generation, ended.message_id, self._timings)
        if transcript:
            try:
                conversation._remember(await conversation.client.set_transcript(ended.message_id, transcript))
            except VoiceHelperError as error:
                log.warning("session %s: could not store the transcript: %s", conversation.session_id, error)


class Conversation:
    """A session this worker was given: one turn at a time, the newest input wins.

    A user's text message or the start of their speech cuts the answer being given (a
    barge-in), and the new question is answered once the cut turn is stored.
    """

    def __init__(
        self,
        client: Client,
        session_id: str,
        settings: Settings,
        http: aiohttp.ClientSession,
        recognizer: Recognizer | None,
    ) -> None:
        self.client = client
        self.session_id = session_id
        self.settings = settings
        self.http = http
        self.recognizer = recognizer
        self.title = ""
        self.history: deque[Message] = deque()
        self.turn: Turn | None = None
        self._chain: asyncio.Task[None] | None = None
        self._hearings: dict[str, Hearing] = {}
        self._generation = 0
        self._baseline: int | None = None
        self._vocabulary: Vocabulary | None = None
        self._vocabulary_at = float("-inf")
        self._vocabulary_task: asyncio.Task[Vocabulary | None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    async def start(self) -> None:
        """Joins with live audio; answers a question that waited for the worker."""
        joined = await self.client.join(self.session_id, live_audio=True)
        self.title = joined.session.title or ""
        self._baseline = joined.session.last_seq
        if self.recognizer is not None:
            self._spawn(self.vocabulary())
        waiting = self.history[-1] if self.history else None
        if waiting is not None and waiting.role == "user" and waiting.content.strip():
            self._generation += 1
            self.ask(waiting.content, self._generation, waiting.id)

    async def close(self, abandon: bool = True) -> None:
        """Stops everything; with `abandon`, nothing more is stored (the session is not ours now),
        else the answer being given is cut as a barge-in would (a shutdown)."""
        self.closed = True
        if not abandon and self._chain is not None:
            self.barge_in()
            await asyncio.wait({self._chain}, timeout=5)
        for task in [*self._tasks, *(h.task for h in self._hearings.values())]:
            task.cancel()
        if self._chain is not None:
            self._chain.cancel()
            await asyncio.wait({self._chain})

    # -- events ----------------------------------------------------------------------------

    def on_message(self, message: Message) -> None:
        self._remember(message)
        if self._baseline is None or message.seq <= self._baseline or self.closed:
            return
        if message.role != "user" or message.content_type == "audio":
            return
        self._generation += 1
        self.barge_in()
        self.ask(message.content, self._generation, message.id, timings=Timings(self.session_id))

    def on_transcript(self, event: models.MessageTranscriptEvent) -> None:
        for index, message in enumerate(self.history):
            if message.id == event.message_id:
                self.history[index] = message.model_copy(update={"content": event.transcript})

    def on_audio_started(self, event: models.AudioStartedEvent) -> None:
        if event.role != "user" or self.closed:
            return
        self._generation += 1
        self.barge_in()
        if self.recognizer is None:
            log.warning("session %s: the user speaks, but this worker has no recognizer", self.session_id)
            return
        self._hearings[event.stream_id] = Hearing(self, event, self._generation)

    def on_audio_frame(self, event: models.AudioFrameEvent) -> None:
        hearing = self._hearings.get(event.stream_id)
        if hearing is not None:
            hearing.frame(event.data)

    def on_audio_ended(self, event: models.AudioEndedEvent) -> None:
        hearing = self._hearings.pop(event.stream_id, None)
        if hearing is not None:
            hearing.end(event)

    def on_turn_interrupted(self, event: models.TurnInterruptedEvent) -> None:
        turn = self.turn
        if turn is not None and event.stream_id in turn.stream_ids:
            turn.cancel()

    # -- turns -----------------------------------------------------------------------------

    def barge_in(self) -> None:
        """The user cut in: the answer being given stops now, at what they had heard."""
        if self.turn is not None:
            self.turn.cancel(asyncio.get_running_loop().time())

    def heard(self, transcript: str, generation: int, message_id: str, timings: Timings | None = None) -> None:
        """A user audio stream was transcribed: answered unless a newer input came meanwhile."""
        if generation != self._generation or self.closed:
            return
        if transcript:
            self.ask(transcript, generation, message_id, timings=timings)
        else:
            self.ask(NOT_HEARD, generation, message_id, reply=NOT_HEARD, timings=timings)

    def ask(
        self,
        question: str,
        generation: int,
        message_id: str | None,
        reply: str | None = None,
        timings: Timings | None = None,
    ) -> None:
        previous = self._chain

        async def answer() -> None:
            await _after(previous)
            if generation != self._generation or self.closed:
                return
            # The history as it stands once the earlier turn is stored (as cut, if it was).
            history = [m for m in self.history if m.id != message_id]
            turn = Turn(
                self.client, self.session_id, question, history, self.settings, self.http, reply=reply, timings=timings
            )
            self.turn = turn
            try:
                await turn.start()
            finally:
                if self.turn is turn:
                    self.turn = None
                for stored in turn.stored():
                    self._remember(stored)
            if self.recognizer is not None:
                self._spawn(self.vocabulary())

        self._chain = asyncio.create_task(answer())
        self._chain.add_done_callback(self._report)

    def _report(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("session %s: the answer failed", self.session_id, exc_info=task.exception())

    # -- vocabulary ------------------------------------------------------------------------

    async def vocabulary(self) -> Vocabulary | None:
        """The session's vocabulary, built again from the owner's documents when older than VOCABULARY_MAX_AGE."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._vocabulary_at <= VOCABULARY_MAX_AGE:
            return self._vocabulary
        if self._vocabulary_task is None or self._vocabulary_task.done():
            self._vocabulary_task = asyncio.create_task(self._build_vocabulary())
        return await asyncio.shield(self._vocabulary_task)

    async def _build_vocabulary(self) -> Vocabulary | None:
        from .hearing import Vocabulary

        started = asyncio.get_running_loop().time()
        chunks = await retrieve(self.client, self.title or "document", 50, self.session_id)
        texts = [chunk.content for chunk in chunks]
        if self.title:
            texts.append(self.title)
        self._vocabulary = await asyncio.to_thread(Vocabulary.build, texts)
        self._vocabulary_at = started
        return self._vocabulary

    # -- helpers ---------------------------------------------------------------------------

    def _remember(self, message: Message) -> None:
        """Keeps a message in the history, in seq order (a turn this worker cut comes back in
        the ack of `turn:interrupt`, not as `message:new`)."""
        for index, known in enumerate(self.history):
            if known.id == message.id:
                self.history[index] = message
                return
        at = len(self.history)
        while at > 0 and self.history[at - 1].seq > message.seq:
            at -= 1
        self.history.insert(at, message)
        if len(self.history) > HISTORY:
            self.history.popleft()

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        async def guarded() -> None:
            try:
                await awaitable
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("session %s: a background task failed", self.session_id)

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _after(previous: asyncio.Task[None] | None) -> None:
    """Waits for the earlier turn to be stored, even when this one is cancelled meanwhile."""
    if previous is None:
        return
    cancelled = False
    while not previous.done():
        try:
            await asyncio.wait({previous})
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError

