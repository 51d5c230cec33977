"""The VoiceHelper worker client: one Socket.IO connection at a time, kept whole across reconnects."""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

import socketio
from pydantic import BaseModel, ValidationError

from . import models as m
from ._log import SessionLog
from ._tokens import TokenKeeper, TokenProvider, api_key_provider, static_provider
from .errors import AuthenticationError, StreamInterrupted, VoiceHelperError, unavailable

log = logging.getLogger("voicehelper")

ModelT = TypeVar("ModelT", bound=BaseModel)
Handler = Callable[[Any], Awaitable[None] | None]

#: Pushes handed to the app as the generated model of their payload.
PUSH_MODELS: dict[str, type[BaseModel]] = {
    "message:delta": m.MessageDeltaEvent,
    "message:transcript": m.MessageTranscriptEvent,
    "presence": m.PresenceEvent,
    "session:updated": m.SessionUpdatedEvent,
    "session:deleted": m.SessionDeletedEvent,
    "turn:interrupted": m.TurnInterruptedEvent,
    "document:status": m.DocumentStatusEvent,
    "audio:started": m.AudioStartedEvent,
    "audio:frame": m.AudioFrameEvent,
    "audio:ended": m.AudioEndedEvent,
    "agent:dispatch": m.AgentDispatchEvent,
    "agent:status": m.AgentStatusEvent,
    "agent:revoked": m.AgentRevokedEvent,
    "sys:hello": m.SysHelloEvent,
    "sys:disconnect": m.SysDisconnectEvent,
    "error": m.ErrorEvent,
}

#: What the app can listen to: every push above, plus the client's own events.
#: `message:new` hands on a `Message` (each seq of a joined session once, in order),
#: `registered` a `Registered`, `state` a `ConnectionState`, `client:error` an exception.
EVENTS = frozenset({*PUSH_MODELS, "message:new", "registered", "state", "client:error"})

#: Refusals worth retrying with the same clientMsgId: the server did not take the message.
RETRIABLE = frozenset({"UNAVAILABLE", "RATE_LIMITED"})

#: The largest audio chunk the server takes (64 KiB): larger frames go out in pieces.
AUDIO_CHUNK_BYTES = 64 * 1024

#: How long a later message may wait for an earlier one before the client asks the server.
GAP_WAIT = 0.5


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: exponential from `initial` up to `maximum` seconds, each cut by up to `jitter` (0-1)."""

    initial: float = 0.25
    maximum: float = 10.0
    jitter: float = 0.5

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * 2 ** min(attempt, 30))
        return base * (1 - self.jitter * random.random())


@dataclass(frozen=True)
class Event:
    """One event as a subscription yields it: `name` and the payload `data` (a model)."""

    name: str
    data: Any


@dataclass(frozen=True)
class Registered:
    """The client serves `agent` as `worker_id` (again after each reconnect, under a new id)."""

    agent: str
    worker_id: str


@dataclass(frozen=True)
class ConnectionState:
    """`connecting`, `connected` (after each (re)connection and resume), `disconnected`, `ended`."""

    state: str
    reason: str | None = None
    node_id: str | None = None


class Subscription:
    """An async iterator over some of the client's events, in the order they happened."""

    def __init__(self, client: Client, names: frozenset[str]) -> None:
        self._client = client
        self.names = names
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._closed = False

    def _put(self, event: Event | None) -> None:
        if not self._closed:
            self._queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> Event:
        """The next event; `TimeoutError` after `timeout` seconds, `StopAsyncIteration` once closed."""
        event = await asyncio.wait_for(self._queue.get(), timeout)
        if event is None:
            self._closed = True
            raise StopAsyncIteration
        return event

    def close(self) -> None:
        self._client._subscriptions.discard(self)
        self._put(None)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.get()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Outgoing:
    payload: dict[str, Any]
    future: asyncio.Future[m.Message]


@dataclass
class _Connection:
    """One Socket.IO connection; a new one (and a new AsyncClient) for every reconnect."""

    sio: socketio.AsyncClient
    url: str
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    # python-socketio sends a binary event as several packets: one emit at a time.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    notice: m.SysDisconnectEvent | None = None
    refusal: Any = None
    hello: asyncio.Event = field(default_factory=asyncio.Event)


def _random_id() -> str:
    return str(uuid.uuid4())


def payload(model: type[BaseModel], **fields: Any) -> dict[str, Any]:
    """A client event's payload, checked against the protocol's schema before it goes out."""
    try:
        built = model.model_validate({key: value for key, value in fields.items() if value is not None})
    except ValidationError as error:
        issues = [{"path": list(issue["loc"]), "message": issue["msg"]} for issue in error.errors()]
        raise VoiceHelperError("VALIDATION", f"invalid {model.__name__}: {error}", details={"issues": issues}) from None
    return built.model_dump(by_alias=True, exclude_none=True)


def _parse(model: type[ModelT], data: Any) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise VoiceHelperError("INTERNAL", f"the server's answer does not fit {model.__name__}: {error}") from None


class Client:
    """A VoiceHelper client that keeps a conversation whole across reconnects.

    It reconnects with backoff and jitter (to the next URL when there are several), renews
    its token ahead of expiry, registers its agent again, rejoins every joined session from
    the last seq it handed on, and resends unacked messages with their clientMsgId, so the
    app sees each message once, in order. Make one with `await Client.connect(...)`.
    """

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        api_key: str | None = None,
        token: str | TokenProvider | None = None,
        ack_timeout: float = 10.0,
        backoff: Backoff | None = None,
        token_refresh_margin: float = 60.0,
        transports: Sequence[str] = ("websocket",),
    ) -> None:
        self.urls: list[str] = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise ValueError("Client needs at least one url")
        if (api_key is None) == (token is None):
            raise ValueError("give exactly one of api_key and token")
        if api_key is not None:
            provider = api_key_provider(self.urls, api_key, ack_timeout)
        elif isinstance(token, str):
            provider = static_provider(token)
        else:
            assert token is not None
            provider = token
        self._tokens = TokenKeeper(provider, token_refresh_margin, self._report)
        self.ack_timeout = ack_timeout
        self.backoff = backoff or Backoff()
        self._transports = list(transports)
        self._handlers: dict[str, list[Handler]] = {}
        self._subscriptions: set[Subscription] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._logs: dict[str, SessionLog] = {}
        # Logs of dispatched sessions while the worker is gone: not rejoined by themselves (the
        # server may give them to another worker), kept so a new dispatch resumes from them.
        self._parked: dict[str, SessionLog] = {}
        self._live_audio: set[str] = set()
        self._dispatched: set[str] = set()
        self._outboxes: dict[str, list[_Outgoing]] = {}
        self._pumping: set[str] = set()
        self._catching_up: set[str] = set()
        self._streams: dict[str, TurnStream | AudioSpeaker] = {}
        self._registration: dict[str, Any] | None = None
        self._conn: _Connection | None = None
        self._connected = asyncio.Event()
        self._ended = asyncio.Event()
        self._fatal: BaseException | None = None
        self._url_index = 0
        self._runner: asyncio.Task[None] | None = None
        #: The node of the current connection (from `sys:hello`).
        self.node_id: str | None = None
        #: This worker's id on the current connection; None while not registered.
        self.worker_id: str | None = None
        self.state = "disconnected"

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        urls: str | Sequence[str],
        *,
        api_key: str | None = None,
        token: str | TokenProvider | None = None,
        timeout: float = 30.0,
        **options: Any,
    ) -> Client:
        """Connects (and keeps reconnecting until `close()`); returns once connected the first time.

        Raises `AuthenticationError` when the API key or token is refused, and
        `VoiceHelperError('UNAVAILABLE')` when no node could be reached within `timeout` seconds.
        """
        client = cls(urls, api_key=api_key, token=token, **options)
        await client.start(timeout)
        return client

    async def start(self, timeout: float = 30.0) -> None:
        try:
            await self._tokens.current()
        except BaseException:
            self._tokens.stop()
            raise
        self._runner = asyncio.create_task(self._run())
        connected = asyncio.create_task(self._connected.wait())
        ended = asyncio.create_task(self._ended.wait())
        try:
            await asyncio.wait({connected, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            connected.cancel()
            ended.cancel()
        if self._fatal is not None:
            await self.close()
            raise self._fatal
        if not self._connected.is_set():
            await self.close()
            raise unavailable(f"could not connect to {', '.join(self.urls)} within {timeout} s")

    async def close(self) -> None:
        """Leaves for good: no reconnect; unsent messages fail with UNAVAILABLE."""
        if self._ended.is_set():
            return
        self._ended.set()
        self._tokens.stop()
        for queue in self._outboxes.values():
            for item in queue:
                if not item.future.done():
                    item.future.set_exception(unavailable("the client was closed"))
            queue.clear()
        conn = self._conn
        if self._runner is not None and self._runner is not asyncio.current_task():
            self._runner.cancel()
        if conn is not None:
            await conn.sio.disconnect()
            conn.closed.set()
        self._set_state("ended")
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        for subscription in list(self._subscriptions):
            subscription.close()

    async def wait_closed(self) -> None:
        """Returns once the client has ended (`close()`, or the server said not to come back)."""
        await self._ended.wait()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the app's events -----------------------------------------------------------------

    def on(self, name: str, handler: Handler | None = None) -> Any:
        """Adds a handler of an event, or decorates one: `@client.on("message:new")`.

        A plain function runs at once, in the order of events; a coroutine function runs as a
        task started in that order (use `subscribe` to take events strictly one at a time).
        """
        if name not in EVENTS:
            raise ValueError(f"unknown event {name!r}; one of {sorted(EVENTS)}")

        def add(function: Handler) -> Handler:
            self._handlers.setdefault(name, []).append(function)
            return function

        return add if handler is None else add(handler)

    def off(self, name: str, handler: Handler) -> None:
        handlers = self._handlers.get(name, [])
        if handler in handlers:
            handlers.remove(handler)

    def subscribe(self, *names: str) -> Subscription:
        """An async iterator of these events (all of them when none is named), from now on."""
        unknown = set(names) - EVENTS
        if unknown:
            raise ValueError(f"unknown events {sorted(unknown)}")
        subscription = Subscription(self, frozenset(names or EVENTS))
        self._subscriptions.add(subscription)
        return subscription

    def _emit(self, name: str, data: Any) -> None:
        for subscription in list(self._subscriptions):
            if name in subscription.names:
                subscription._put(Event(name, data))
        for handler in list(self._handlers.get(name, [])):
            try:
                result = handler(data)
                if inspect.isawaitable(result):
                    self._spawn(self._guard(result))
            except Exception as error:  # noqa: BLE001 - a throwing handler must not stop the client
                self._report(error)

    async def _guard(self, awaitable: Awaitable[None]) -> None:
        try:
            await awaitable
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            self._report(error)

    def _report(self, error: BaseException) -> None:
        if self._handlers.get("client:error") or any("client:error" in s.names for s in self._subscriptions):
            self._emit("client:error", error)
        else:
            log.error("voicehelper: %s", error, exc_info=error)

    def _spawn(self, awaitable: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _set_state(self, state: str, reason: str | None = None) -> None:
        if self.state == "ended":
            return
        self.state = state
        self._emit("state", ConnectionState(state, reason, self.node_id))

    # -- sessions -------------------------------------------------------------------------

    async def join(self, session_id: str, live_audio: bool = False, since_seq: int | None = None) -> m.SessionJoinResult:
        """Joins a session and hands its messages on as `message:new` from `since_seq` on.

        Without `since_seq` the newest page the server gives is handed on (and returned). A
        session joined before (or dispatched here before a reconnect) resumes from the last
        seq handed on. After any reconnect the client rejoins by itself; `live_audio` also
        subscribes to the session's audio as it is spoken, and the rejoins keep it.
        """
        payload(m.SessionJoinPayload, session_id=session_id, since_seq=since_seq, live_audio=live_audio)
        fresh = False
        session_log = self._logs.get(session_id) or self._parked.pop(session_id, None)
        if session_log is None:
            fresh = since_seq is None
            session_log = SessionLog(session_id, since_seq or 0, lambda message: self._emit("message:new", message))
        self._logs[session_id] = session_log
        if live_audio:
            self._live_audio.add(session_id)
        else:
            self._live_audio.discard(session_id)
        try:
            return await self._catch_up(await self._connection(), session_log, fresh)
        except BaseException:
            self._forget(session_id)
            raise

    async def leave(self, session_id: str) -> None:
        self._forget(session_id)
        self._dispatched.discard(session_id)
        await self.request("session:leave", payload(m.SessionLeavePayload, session_id=session_id))

    def last_seq(self, session_id: str) -> int | None:
        """The highest seq of a joined session handed to the app."""
        session_log = self._logs.get(session_id)
        return None if session_log is None else session_log.last_seq

    def joined(self) -> list[str]:
        """The sessions the client keeps joined (rejoined after each reconnect)."""
        return list(self._logs)

    async def create_session(self, title: str | None = None, agent: str | None = None, **fields: Any) -> m.Session:
        """Creates a session (and joins this socket to it, as `session:create` does; not handed on)."""
        data = await self.request("session:create", payload(m.SessionCreatePayload, title=title, agent=agent, **fields))
        return _parse(m.SessionCreateResult, data).session

    async def update_session(self, session_id: str, **fields: Any) -> m.Session:
        """`session:update`: `title`, `context`, `metadata` or `status` ('archived' ends a dispatched session)."""
        data = await self.request("session:update", payload(m.SessionUpdatePayload, session_id=session_id, **fields))
        return _parse(m.SessionUpdateResult, data).session

    async def history(self, session_id: str, before_seq: int | None = None, limit: int | None = None) -> m.HistoryGetResult:
        data = await self.request(
            "history:get", payload(m.HistoryGetPayload, session_id=session_id, before_seq=before_seq, limit=limit)
        )
        return _parse(m.HistoryGetResult, data)

    # -- messages -------------------------------------------------------------------------

    async def send(
        self,
        session_id: str,
        content: str,
        role: str = "assistant",
        client_msg_id: str | None = None,
        **fields: Any,
    ) -> m.Message:
        """Sends a message and returns it as stored (`.id`, `.seq`, `.content`).

        Messages of one session go out one at a time, in order. A message not acknowledged
        when the connection drops is sent again with the same `client_msg_id` after the
        reconnect (the server stores it once); `RATE_LIMITED` waits `retryAfterMs` and tries
        again. Other fields of `message:send` (`content_type`, `metadata`, `tokens_used`,
        `processing_time_ms`) pass through.
        """
        if self._ended.is_set():
            raise unavailable("the client was closed")
        body = payload(
            m.MessageSendPayload,
            session_id=session_id,
            content=content,
            role=role,
            client_msg_id=client_msg_id or _random_id(),
            **fields,
        )
        future: asyncio.Future[m.Message] = asyncio.get_running_loop().create_future()
        self._outboxes.setdefault(session_id, []).append(_Outgoing(body, future))
        self._pump(session_id)
        return await future

    def pending(self, session_id: str) -> int:
        """Messages sent and not acknowledged yet."""
        return len(self._outboxes.get(session_id, []))

    def stream(self, session_id: str, role: str = "assistant", stream_id: str | None = None) -> TurnStream:
        """A streamed turn: `async with client.stream(sid) as s: await s.delta(text)`; see `TurnStream`."""
        return TurnStream(self, session_id, stream_id or _random_id(), role)

    def speak(
        self,
        session_id: str,
        mime_type: str,
        sample_rate: int | None = None,
        *,
        stream_id: str | None = None,
        transcript: str | None = None,
        window: int = 8,
    ) -> AudioSpeaker:
        """An audio stream: `async with client.speak(sid, 'audio/l16', 16000) as a: await a.frame(pcm)`."""
        return AudioSpeaker(self, session_id, stream_id or _random_id(), mime_type, sample_rate, transcript, window)

    async def interrupt(
        self,
        session_id: str,
        stream_id: str,
        heard_chars: int | None = None,
        heard_index: int | None = None,
    ) -> m.Message:
        """Cuts an open stream (a barge-in) and returns the interrupted turn as stored."""
        data = await self.request(
            "turn:interrupt",
            payload(
                m.TurnInterruptPayload,
                session_id=session_id,
                stream_id=stream_id,
                heard_chars=heard_chars,
                heard_index=heard_index,
            ),
        )
        message = _parse(m.TurnInterruptResult, data).message
        self._accept_own(message)
        return message

    async def set_transcript(self, message_id: str, transcript: str) -> m.Message:
        """Sets an audio message's transcript as its content (`message:transcript`)."""
        data = await self.request(
            "message:transcript", payload(m.MessageTranscriptPayload, message_id=message_id, transcript=transcript)
        )
        return _parse(m.MessageTranscriptResult, data).message

    async def audio_url(self, message_id: str) -> m.AudioUrlResult:
        data = await self.request("audio:url", payload(m.AudioUrlPayload, message_id=message_id))
        return _parse(m.AudioUrlResult, data)

    async def retrieve(
        self,
        query: str,
        top_k: int | None = None,
        session_id: str | None = None,
        document_ids: list[str] | None = None,
        graph_depth: int | None = None,
    ) -> m.RetrieveResult:
        """Hybrid retrieval over the caller's documents, or (with `session_id`, joined) the session owner's."""
        data = await self.request(
            "retrieve",
            payload(
                m.RetrievePayload,
                query=query,
                top_k=top_k,
                session_id=session_id,
                document_ids=document_ids,
                graph_depth=graph_depth,
            ),
        )
        return _parse(m.RetrieveResult, data)

    # -- dispatch -------------------------------------------------------------------------

    async def register(self, agent: str, capacity: int | None = None) -> str:
        """Serves `agent` from this client (a service; one agent per client) and returns the worker id.

        The server pushes `agent:dispatch` for each session it gives this worker; join it
        (`live_audio=True` to hear the user). The registration is kept: after a reconnect the
        client registers again, before it rejoins any session, under a new worker id
        (`registered`). On `agent:revoked` the client leaves the session by itself.
        """
        if self._registration is not None:
            raise VoiceHelperError("CONFLICT", "this client already serves an agent")
        body = payload(m.AgentRegisterPayload, agent=agent, capacity=capacity)
        # Set before the ack: the server pushes what waits for the agent right behind it.
        registration: dict[str, Any] = {"payload": body, "confirmed": False}
        self._registration = registration
        try:
            data = await self.request("agent:register", body)
        except BaseException:
            if self._registration is registration:
                self._registration = None
            raise
        registration["confirmed"] = True
        worker = _parse(m.AgentRegisterResult, data).worker_id
        self.worker_id = worker
        self._emit("registered", Registered(agent, worker))
        return worker

    async def release(self, session_id: str) -> None:
        """Hands a dispatched session back (to another worker, or it waits) and leaves it."""
        await self.request("agent:release", payload(m.AgentReleasePayload, session_id=session_id))
        if session_id in self._dispatched:
            await self.leave(session_id)

    # -- the wire -------------------------------------------------------------------------

    async def request(self, event: str, body: dict[str, Any]) -> Any:
        """Any client event, once connected: its ack's data, or a VoiceHelperError. Not retried."""
        return await self._call(await self._connection(), event, body)

    async def _connection(self) -> _Connection:
        while True:
            if self._ended.is_set():
                raise unavailable("the client was closed")
            conn = self._conn
            if self._connected.is_set() and conn is not None and not conn.closed.is_set():
                return conn
            connected = asyncio.ensure_future(self._connected.wait())
            ended = asyncio.ensure_future(self._ended.wait())
            try:
                await asyncio.wait({connected, ended}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                connected.cancel()
                ended.cancel()

    async def _call(self, conn: _Connection, event: str, body: dict[str, Any]) -> Any:
        if conn.closed.is_set():
            raise unavailable("the connection was lost")
        loop = asyncio.get_running_loop()
        ack: asyncio.Future[Any] = loop.create_future()

        def settle(*args: Any) -> None:
            if not ack.done():
                ack.set_result(args[0] if args else None)

        try:
            async with conn.lock:
                await conn.sio.emit(event, body, callback=settle)
        except (socketio.exceptions.SocketIOError, ConnectionError) as error:
            raise unavailable(f"the connection was lost: {error}") from None
        # The ack, or the end of the connection, whichever comes first: python-socketio
        # itself would wait out the timeout on a dead connection.
        closed = asyncio.ensure_future(conn.closed.wait())
        try:
            await asyncio.wait({ack, closed}, timeout=self.ack_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if not ack.done():
            ack.cancel()
            lost = conn.closed.is_set()
            raise unavailable("the connection was lost" if lost else f"no ack for {event} within {self.ack_timeout} s")
        result = ack.result()
        if isinstance(result, dict) and result.get("ok") is True:
            return result.get("data")
        raise VoiceHelperError.from_wire(result.get("error") if isinstance(result, dict) else result)

    # -- connection loop ------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        ever_connected = False
        while not self._ended.is_set():
            url = self.urls[self._url_index % len(self.urls)]
            self._set_state("connecting")
            try:
                conn = await self._open(url, await self._tokens.current())
            except AuthenticationError as error:
                # The provider cannot give a token the server takes: nothing to retry with.
                self._fatal = error
                self._report(error)
                await self.close()
                return
            except VoiceHelperError as error:
                if error.code == "UNAUTHORIZED":
                    try:
                        await self._tokens.refresh("unauthorized")
                    except AuthenticationError as refused:
                        self._fatal = refused
                        if ever_connected:
                            self._report(refused)
                        await self.close()
                        return
                    except Exception as failed:  # noqa: BLE001 - retried with backoff
                        self._report(failed)
                self._url_index += 1
                self._set_state("disconnected", error.message)
                await asyncio.sleep(self.backoff.delay(attempt))
                attempt += 1
                continue
            except Exception as error:  # noqa: BLE001 - a token exchange that failed: retried
                self._report(error)
                self._url_index += 1
                await asyncio.sleep(self.backoff.delay(attempt))
                attempt += 1
                continue
            attempt = 0
            ever_connected = True
            notice = await self._serve(conn)
            if self._ended.is_set():
                return
            self._set_state("disconnected", None if notice is None else str(notice.reason))
            if notice is not None and not notice.reconnect:
                await self.close()
                return
            if notice is not None and str(notice.reason) == "token_expired":
                self._tokens.invalidate()
            # A draining node sends its clients elsewhere.
            if notice is not None and str(notice.reason) == "draining" and len(self.urls) > 1:
                self._url_index += 1
            if notice is not None and notice.retry_after_ms is not None:
                await asyncio.sleep(notice.retry_after_ms / 1000)

    async def _open(self, url: str, token: str) -> _Connection:
        sio = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)
        conn = _Connection(sio, url)
        self._listen(conn)
        try:
            await sio.connect(
                url,
                auth={"token": token},
                transports=self._transports,
                wait_timeout=max(2.0, self.ack_timeout / 2),
            )
        except (socketio.exceptions.ConnectionError, OSError, TimeoutError) as error:
            conn.closed.set()
            await sio.disconnect()
            refusal = conn.refusal if isinstance(conn.refusal, dict) else {}
            details = refusal.get("data") if isinstance(refusal.get("data"), dict) else {}
            code = str(details.get("code") or ("UNAUTHORIZED" if refusal.get("message") == "unauthorized" else "UNAVAILABLE"))
            raise VoiceHelperError(code, f"could not connect to {url}: {refusal.get('message') or error}") from None
        # The server greets right behind the handshake; python-socketio may report the
        # connection before it has read the greeting.
        try:
            await asyncio.wait_for(conn.hello.wait(), self.ack_timeout)
        except TimeoutError:
            log.warning("voicehelper: no sys:hello from %s", url)
        return conn

    def _listen(self, conn: _Connection) -> None:
        sio = conn.sio

        def refused(data: Any = None) -> None:
            conn.refusal = data

        def gone(*_reason: Any) -> None:
            conn.closed.set()

        sio.on("connect_error", refused)
        sio.on("disconnect", gone)
        sio.on("message:new", lambda body: self._on_message(conn, body))
        for name in PUSH_MODELS:
            sio.on(name, self._push_handler(conn, name))

    def _push_handler(self, conn: _Connection, name: str) -> Callable[[Any], None]:
        def handle(body: Any) -> None:
            try:
                event = _parse(PUSH_MODELS[name], body)
            except VoiceHelperError as error:
                self._report(error)
                return
            self._on_push(conn, name, event)

        return handle

    def _on_message(self, conn: _Connection, body: Any) -> None:
        try:
            message = _parse(m.MessageNewEvent, body).message
        except VoiceHelperError as error:
            self._report(error)
            return
        self._take(message)

    def _on_push(self, conn: _Connection, name: str, event: BaseModel) -> None:
        if isinstance(event, m.SysHelloEvent):
            self.node_id = event.node_id
            conn.hello.set()
        elif isinstance(event, m.SysDisconnectEvent):
            conn.notice = event
        elif isinstance(event, m.SessionDeletedEvent):
            self._forget(event.session_id)
        elif isinstance(event, m.TurnInterruptedEvent):
            stream = self._streams.get(event.stream_id)
            if stream is not None and stream.session_id == event.session_id:
                stream.interrupted = True
        elif isinstance(event, m.AgentDispatchEvent):
            self._dispatched.add(event.session_id)
        elif isinstance(event, m.AgentRevokedEvent) and event.session_id in self._dispatched:
            self._dispatched.discard(event.session_id)
            self._forget(event.session_id)
            # Stop hearing a session that is no longer this worker's; a deleted one has no membership.
            if str(event.reason) != "deleted":
                self._spawn(self._leave_quietly(conn, event.session_id))
        self._emit(name, event)

    async def _leave_quietly(self, conn: _Connection, session_id: str) -> None:
        try:
            await self._call(conn, "session:leave", {"sessionId": session_id})
        except VoiceHelperError:
            pass

    # Runs one connection: the worker registered again, every joined session caught up, then
    # the outboxes flushed; returns when the connection ends, with the server's notice if any.
    async def _serve(self, conn: _Connection) -> m.SysDisconnectEvent | None:
        self._conn = conn
        resume = self._spawn(self._resume(conn))
        await conn.closed.wait()
        resume.cancel()
        self._connected.clear()
        self._worker_lost()
        return conn.notice

    async def _resume(self, conn: _Connection) -> None:
        registration = self._registration
        if registration is not None and registration["confirmed"]:
            await self._register_again(conn, registration)
        if conn is not self._conn or conn.closed.is_set():
            return
        # Until every joined session has caught up nothing else is sent: no message of the
        # app's can overtake what the client missed.
        results = await asyncio.gather(
            *(self._rejoin(conn, session_log) for session_log in list(self._logs.values())), return_exceptions=True
        )
        if conn is not self._conn or conn.closed.is_set():
            return
        for result in results:
            if isinstance(result, BaseException):
                self._report(result)
        self._set_state("connected")
        self._connected.set()
        for session_id in list(self._outboxes):
            self._pump(session_id)

    async def _register_again(self, conn: _Connection, registration: dict[str, Any]) -> None:
        attempt = 0
        while conn is self._conn and not conn.closed.is_set():
            try:
                data = await self._call(conn, "agent:register", registration["payload"])
            except VoiceHelperError as error:
                if error.code not in RETRIABLE:
                    self._report(error)
                    return
                await asyncio.sleep((error.retry_after_ms or 0) / 1000 or self.backoff.delay(attempt))
                attempt += 1
                continue
            worker = _parse(m.AgentRegisterResult, data).worker_id
            self.worker_id = worker
            self._emit("registered", Registered(str(registration["payload"]["agent"]), worker))
            return

    # The worker went with the connection: the server gives its sessions to other workers,
    # so they are not rejoined until dispatched here again.
    def _worker_lost(self) -> None:
        self.worker_id = None
        for session_id in list(self._dispatched):
            session_log = self._logs.pop(session_id, None)
            if session_log is not None:
                self._parked[session_id] = session_log
        self._dispatched.clear()

    async def _rejoin(self, conn: _Connection, session_log: SessionLog) -> None:
        try:
            await self._catch_up(conn, session_log, False)
        except VoiceHelperError as error:
            if error.code in ("NOT_FOUND", "FORBIDDEN"):
                self._forget(session_log.session_id)
            raise

    # Joins from the log's last seq, and again while the server has more. A fresh first join
    # asks for the newest page, which starts the log.
    async def _catch_up(self, conn: _Connection, session_log: SessionLog, fresh: bool) -> m.SessionJoinResult:
        first = fresh
        while True:
            body: dict[str, Any] = {"sessionId": session_log.session_id}
            if not first:
                body["sinceSeq"] = session_log.last_seq
            if session_log.session_id in self._live_audio:
                body["liveAudio"] = True
            try:
                data = _parse(m.SessionJoinResult, await self._call(conn, "session:join", body))
            except VoiceHelperError as error:
                # The client holds a seq the server does not have: resume from the server's last one.
                last = error.details.get("lastSeq") if isinstance(error.details, dict) else None
                if error.code != "VALIDATION" or not isinstance(last, int):
                    raise
                session_log.start_at(last)
                continue
            if first and data.messages:
                session_log.start_at(data.messages[0].seq - 1)
            for message in data.messages:
                session_log.accept(message)
            if not data.has_more or first:
                return data
            first = False

    def _pump(self, session_id: str) -> None:
        if session_id not in self._pumping:
            self._pumping.add(session_id)
            self._spawn(self._drain_outbox(session_id))

    async def _drain_outbox(self, session_id: str) -> None:
        try:
            queue = self._outboxes.get(session_id, [])
            attempt = 0
            while queue and not self._ended.is_set():
                item = queue[0]
                try:
                    data = await self._call(await self._connection(), "message:send", item.payload)
                    message = _parse(m.MessageSendResult, data).message
                except VoiceHelperError as error:
                    if self._ended.is_set():
                        break
                    if error.code not in RETRIABLE:
                        queue.pop(0)
                        if not item.future.done():
                            item.future.set_exception(error)
                        continue
                    await asyncio.sleep(
                        error.retry_after_ms / 1000 if error.retry_after_ms is not None else self.backoff.delay(attempt)
                    )
                    attempt += 1
                    continue
                queue.pop(0)
                attempt = 0
                self._accept_own(message)
                if not item.future.done():
                    item.future.set_result(message)
        finally:
            self._pumping.discard(session_id)

    def _accept_own(self, message: m.Message) -> None:
        """A message this client stored: the server answers it in the ack and does not push it
        here, so it goes into its session's log (and to the app, in order) from the ack."""
        session_log = self._logs.get(message.session_id) or self._parked.get(message.session_id)
        if session_log is not None:
            session_log.accept(message)

    # A pushed message; a gap that stays open (a push lost with a connection) is filled by a join.
    def _take(self, message: m.Message) -> None:
        session_log = self._logs.get(message.session_id)
        if session_log is None or not session_log.accept(message) or session_log.session_id in self._catching_up:
            return
        self._catching_up.add(session_log.session_id)

        async def fill() -> None:
            try:
                await asyncio.sleep(GAP_WAIT)
                conn = self._conn
                if session_log.has_gap and conn is not None and not conn.closed.is_set():
                    await self._rejoin(conn, session_log)
            except VoiceHelperError as error:
                self._report(error)
            finally:
                self._catching_up.discard(session_log.session_id)

        self._spawn(fill())

    def _forget(self, session_id: str) -> None:
        self._logs.pop(session_id, None)
        self._parked.pop(session_id, None)
        self._live_audio.discard(session_id)


class TurnStream:
    """One streamed turn (`message:delta` fragments, then the final `message:send`).

    Used as `async with client.stream(session_id) as s:`. Each `delta` goes out in order and
    is retried across reconnects with its index (the server acknowledges a resent index
    without relaying it again). Leaving the block commits the final message (`final` if set,
    else the deltas joined) and puts it in `message`. A barge-in makes `delta` raise
    `StreamInterrupted`, which the block swallows: `message` is then the interrupted turn
    the server stored. Any other exception stores what was streamed as an interrupted turn
    (`turn:interrupt`) and propagates.
    """

    def __init__(self, client: Client, session_id: str, stream_id: str, role: str) -> None:
        self.client = client
        self.session_id = session_id
        self.stream_id = stream_id
        self.role = role
        #: The final text; by default the deltas joined.
        self.final: str | None = None
        #: Set once a barge-in cut the stream.
        self.interrupted = False
        #: The stored message, once the block has ended.
        self.message: m.Message | None = None
        self._parts: list[str] = []
        self._lock = asyncio.Lock()

    @property
    def text(self) -> str:
        return "".join(self._parts)

    async def __aenter__(self) -> TurnStream:
        self.client._streams[self.stream_id] = self
        return self

    async def delta(self, text: str) -> None:
        """Sends the next fragment; returns once the server took it."""
        async with self._lock:
            if self.interrupted:
                raise StreamInterrupted("CONFLICT", "the stream was interrupted")
            body = payload(
                m.MessageDeltaPayload,
                session_id=self.session_id,
                stream_id=self.stream_id,
                index=len(self._parts),
                delta=text,
                role=self.role,
            )
            attempt = 0
            while True:
                try:
                    await self.client._call(await self.client._connection(), "message:delta", body)
                    break
                except VoiceHelperError as error:
                    if error.code == "CONFLICT":
                        self.interrupted = True
                        raise StreamInterrupted(
                            error.code, error.message, retry_after_ms=error.retry_after_ms, details=error.details
                        ) from None
                    if error.code not in RETRIABLE:
                        raise
                    await asyncio.sleep(
                        error.retry_after_ms / 1000 if error.retry_after_ms is not None else Backoff().delay(attempt)
                    )
                    attempt += 1
            self._parts.append(text)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> bool:
        self.client._streams.pop(self.stream_id, None)
        if error is None or isinstance(error, StreamInterrupted):
            if self._parts or self.final is not None or self.interrupted:
                # For an interrupted stream the server acks the turn it stored.
                self.message = await self.client.send(
                    self.session_id, self.final if self.final is not None else self.text,
                    role=self.role, metadata={"streamId": self.stream_id},
                )
            return error is not None
        if self._parts and not self.interrupted:
            try:
                self.message = await asyncio.wait_for(
                    self.client.interrupt(self.session_id, self.stream_id), self.client.ack_timeout
                )
            except (VoiceHelperError, TimeoutError) as failed:
                log.warning("voicehelper: could not store the cut turn %s: %s", self.stream_id, failed)
        return False


@dataclass
class _Chunk:
    index: int
    data: bytes
    # Resolved once the chunk is on its way: a producer awaiting each frame is held to the window.
    sent: asyncio.Future[None] | None = None


class AudioSpeaker:
    """One audio stream (`audio:start`, chunks, `audio:end`), spoken as it is produced.

    Used as `async with client.speak(session_id, 'audio/l16', 16000) as a:`. Each `frame`
    becomes the next `audio:chunk` (listeners that joined with live audio hear it at once);
    at most `window` chunks are unacknowledged, and a chunk refused for a rate limit, or for
    overtaking an earlier one, goes out again in index order. Leaving the block stores the
    stream (`message`). A barge-in makes `frame` raise `StreamInterrupted`, which the block
    swallows: `message` is then the interrupted turn. Any other exception aborts the stream
    (nothing stored). The stream lives on one connection: if it drops, the stream fails.
    """

    def __init__(
        self,
        client: Client,
        session_id: str,
        stream_id: str,
        mime_type: str,
        sample_rate: int | None,
        transcript: str | None,
        window: int,
    ) -> None:
        self.client = client
        self.session_id = session_id
        self.stream_id = stream_id
        self.mime_type = mime_type
        self.sample_rate = sample_rate
        self.transcript = transcript
        self.window = max(1, window)
        self.interrupted = False
        #: The stored message, once the block has ended.
        self.message: m.Message | None = None
        #: Why the stream failed, once it has.
        self.error: VoiceHelperError | None = None
        self._conn: _Connection | None = None
        self._waiting: list[_Chunk] = []
        self._sending: set[int] = set()
        self._next = 0
        self._paused_until = 0.0
        self._resume: asyncio.TimerHandle | None = None
        self._idle: list[asyncio.Future[None]] = []

    async def __aenter__(self) -> AudioSpeaker:
        self._conn = await self.client._connection()
        body = payload(
            m.AudioStartPayload,
            session_id=self.session_id,
            stream_id=self.stream_id,
            mime_type=self.mime_type,
            sample_rate=self.sample_rate,
        )
        await self.client._call(self._conn, "audio:start", body)
        self.client._streams[self.stream_id] = self
        return self

    async def frame(self, data: bytes) -> None:
        """Sends the next frame; returns once it is on its way (inside the window)."""
        self._check()
        if not data:
            return
        loop = asyncio.get_running_loop()
        last: _Chunk | None = None
        for offset in range(0, len(data), AUDIO_CHUNK_BYTES):
            last = _Chunk(self._next, bytes(data[offset : offset + AUDIO_CHUNK_BYTES]), loop.create_future())
            self._next += 1
            self._waiting.append(last)
        self._pump()
        assert last is not None and last.sent is not None
        await last.sent

    def _check(self) -> None:
        if self.interrupted and not isinstance(self.error, StreamInterrupted):
            self.error = StreamInterrupted("CONFLICT", "the stream was interrupted")
        if self.error is not None:
            raise self.error

    def _pump(self) -> None:
        if self.error is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._paused_until - loop.time()
        if wait > 0:
            if self._resume is None:
                self._resume = loop.call_later(wait, self._resumed)
            return
        while len(self._sending) < self.window and self._waiting:
            chunk = self._waiting.pop(0)
            self._sending.add(chunk.index)
            if chunk.sent is not None and not chunk.sent.done():
                chunk.sent.set_result(None)
            self.client._spawn(self._send(chunk))
        if not self._waiting and not self._sending:
            for waiter in self._idle:
                if not waiter.done():
                    waiter.set_result(None)
            self._idle.clear()

    def _resumed(self) -> None:
        self._resume = None
        self._pump()

    async def _send(self, chunk: _Chunk) -> None:
        assert self._conn is not None
        body = {"streamId": self.stream_id, "index": chunk.index, "data": chunk.data}
        try:
            await self.client._call(self._conn, "audio:chunk", body)
        except VoiceHelperError as error:
            self._sending.discard(chunk.index)
            self._refused(chunk, error)
            return
        self._sending.discard(chunk.index)
        self._pump()

    def _refused(self, chunk: _Chunk, error: VoiceHelperError) -> None:
        if self.error is not None:
            return
        expected = error.details.get("expectedIndex") if isinstance(error.details, dict) else None
        retriable = error.code == "RATE_LIMITED" or (
            error.code == "VALIDATION"
            and isinstance(expected, int)
            and (any(other < chunk.index for other in self._sending) or any(c.index < chunk.index for c in self._waiting))
        )
        if not retriable:
            if error.code == "CONFLICT":
                self.interrupted = True
                error = StreamInterrupted(error.code, error.message, details=error.details)
            self._fail(error)
            return
        if error.retry_after_ms is not None:
            loop = asyncio.get_running_loop()
            self._paused_until = max(self._paused_until, loop.time() + error.retry_after_ms / 1000)
        at = next((i for i, other in enumerate(self._waiting) if other.index > chunk.index), len(self._waiting))
        chunk.sent = None
        self._waiting.insert(at, chunk)
        self._pump()

    def _fail(self, error: VoiceHelperError) -> None:
        self.error = error
        if self._resume is not None:
            self._resume.cancel()
        for chunk in self._waiting:
            if chunk.sent is not None and not chunk.sent.done():
                chunk.sent.set_exception(error)
        self._waiting.clear()
        for waiter in self._idle:
            if not waiter.done():
                waiter.set_exception(error)
        self._idle.clear()

    async def _wait_idle(self) -> None:
        if self.error is not None:
            raise self.error
        if not self._waiting and not self._sending:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle.append(waiter)
        await waiter

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> bool:
        self.client._streams.pop(self.stream_id, None)
        assert self._conn is not None
        if error is None or isinstance(error, StreamInterrupted):
            if not self.interrupted:
                try:
                    await self._wait_idle()
                except StreamInterrupted:
                    pass
            if self.error is not None and not isinstance(self.error, StreamInterrupted):
                await self._abort()
                raise self.error
            # For an interrupted stream the server acks the turn it stored.
            body = payload(
                m.AudioEndPayload, stream_id=self.stream_id, client_msg_id=_random_id(), transcript=self.transcript
            )
            data = await self.client._call(self._conn, "audio:end", body)
            self.message = _parse(m.AudioEndResult, data).message
            self.client._accept_own(self.message)
            return error is not None
        await self._abort()
        return False

    async def _abort(self) -> None:
        if self._conn is not None and not self._conn.closed.is_set():
            try:
                await self.client._call(self._conn, "audio:abort", {"streamId": self.stream_id})
            except VoiceHelperError:
                pass
