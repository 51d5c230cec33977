"""The worker: registers the agent, takes dispatched sessions and routes their events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from pydantic import BaseModel

from voicehelper import Client, ConnectionState, VoiceHelperError, models

from .conversation import Conversation
from .turn import Settings

if TYPE_CHECKING:
    from .hearing import Recognizer

log = logging.getLogger("voicehelper_assistant")

EventT = TypeVar("EventT", bound=BaseModel)


async def load_recognizer() -> Recognizer | None:
    """The speech recognizer, loaded once (in a thread: it reads its models); None without one."""
    try:
        from .hearing import Recognizer
    except ImportError as error:
        log.warning("no speech recognizer (%s): voice turns are not transcribed", error)
        return None
    try:
        return await asyncio.to_thread(Recognizer)
    except Exception:
        log.exception("the speech recognizer failed to load: voice turns are not transcribed")
        return None


class Assistant:
    """Serves one agent from one client: a Conversation per dispatched session, up to `capacity`."""

    def __init__(
        self,
        client: Client,
        agent: str,
        capacity: int,
        settings: Settings,
        recognizer: Recognizer | None = None,
    ) -> None:
        self.client = client
        self.agent = agent
        self.capacity = capacity
        self.settings = settings
        self.recognizer = recognizer
        self.conversations: dict[str, Conversation] = {}
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        """Listens, then registers; returns the worker id."""
        self._http = aiohttp.ClientSession()
        on = self.client.on
        on("agent:dispatch", self._dispatched)
        on("agent:revoked", lambda event: self._drop(event.session_id))
        on("session:deleted", lambda event: self._drop(event.session_id))
        on("state", self._state)
        on("message:new", self._route(Conversation.on_message))
        on("message:transcript", self._route(Conversation.on_transcript))
        on("audio:started", self._route(Conversation.on_audio_started))
        on("audio:frame", self._route(Conversation.on_audio_frame))
        on("audio:ended", self._route(Conversation.on_audio_ended))
        on("turn:interrupted", self._route(Conversation.on_turn_interrupted))
        worker_id = await self.client.register(self.agent, capacity=self.capacity)
        log.info("serving agent %r as worker %s (capacity %d)", self.agent, worker_id, self.capacity)
        return worker_id

    async def close(self) -> None:
        """Cuts the answers being given (storing what was heard), then leaves."""
        await asyncio.gather(
            *(conversation.close(abandon=False) for conversation in self.conversations.values()),
            return_exceptions=True,
        )
        self.conversations.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._http is not None:
            await self._http.close()

    def _route(self, handler: Callable[[Conversation, EventT], None]) -> Callable[[EventT], None]:
        """A handler of one session's event, called on that session's Conversation (if it is ours)."""

        def route(event: EventT) -> None:
            session_id = getattr(event, "session_id", None)
            conversation = self.conversations.get(session_id) if isinstance(session_id, str) else None
            if conversation is not None:
                handler(conversation, event)

        return route

    def _dispatched(self, event: models.AgentDispatchEvent) -> None:
        if event.session_id in self.conversations:
            return
        assert self._http is not None
        conversation = Conversation(self.client, event.session_id, self.settings, self._http, self.recognizer)
        self.conversations[event.session_id] = conversation
        log.info("session %s dispatched (epoch %d)", event.session_id, event.epoch)
        self._spawn(self._join(conversation))

    async def _join(self, conversation: Conversation) -> None:
        try:
            await conversation.start()
        except VoiceHelperError as error:
            log.warning("session %s: could not join: %s", conversation.session_id, error)
            if self.conversations.get(conversation.session_id) is conversation:
                del self.conversations[conversation.session_id]
            try:
                await self.client.release(conversation.session_id)
            except VoiceHelperError:
                pass

    def _drop(self, session_id: str) -> None:
        conversation = self.conversations.pop(session_id, None)
        if conversation is not None:
            log.info("session %s is no longer ours", session_id)
            self._spawn(conversation.close())

    def _state(self, state: ConnectionState) -> None:
        # The worker's sessions went with the connection; the server dispatches them again.
        if state.state == "disconnected" and self.conversations:
            log.warning("disconnected (%s): dropping %d sessions until dispatched again", state.reason, len(self.conversations))
            for session_id in list(self.conversations):
                self._drop(session_id)

    def _spawn(self, awaitable: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
