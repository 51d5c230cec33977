"""Ordered, exactly-once delivery of one joined session's messages."""

from __future__ import annotations

from collections.abc import Callable

from .models import Message


class SessionLog:
    """The messages of one joined session as the app sees them: each seq once, in order.

    Messages arrive from three places (a join's catch-up, `message:new` pushes, the acks of
    the client's own sends) and, around a reconnect, in any order and more than once; the
    log hands on the next seq only, keeps later ones until the gap closes, and drops what it
    has already handed on.
    """

    def __init__(self, session_id: str, last_seq: int, deliver: Callable[[Message], None]) -> None:
        self.session_id = session_id
        #: The highest seq handed to the app (0: none yet).
        self.last_seq = last_seq
        self._deliver = deliver
        self._waiting: dict[int, Message] = {}

    def accept(self, message: Message) -> bool:
        """Takes a message from anywhere; returns True while a gap before it is still open."""
        if message.seq > self.last_seq and message.seq not in self._waiting:
            self._waiting[message.seq] = message
        while (following := self._waiting.pop(self.last_seq + 1, None)) is not None:
            self.last_seq = following.seq
            self._deliver(following)
        return bool(self._waiting)

    @property
    def has_gap(self) -> bool:
        return bool(self._waiting)

    def start_at(self, seq: int) -> None:
        """Skips to `seq`: the server has nothing before it for this client."""
        if seq <= self.last_seq:
            return
        self.last_seq = seq
        for key in [key for key in self._waiting if key <= seq]:
            del self._waiting[key]
