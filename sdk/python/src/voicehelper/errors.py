"""The SDK's one exception type, carrying the protocol's stable error codes."""

from __future__ import annotations

from typing import Any


class VoiceHelperError(Exception):
    """A refusal by the server (the ack's `error`), or a failure of the client itself.

    `code` is one of the protocol's codes (`VALIDATION`, `UNAUTHORIZED`, `FORBIDDEN`,
    `NOT_FOUND`, `CONFLICT`, `RATE_LIMITED`, `PAYLOAD_TOO_LARGE`, `UNAVAILABLE`,
    `INTERNAL`); the client's own failures (a lost connection, a closed client) are
    `UNAVAILABLE`, and a payload the client refuses before sending is `VALIDATION`.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retry_after_ms: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms
        self.details = details

    @classmethod
    def from_wire(cls, error: Any) -> VoiceHelperError:
        """Builds the exception from an ack's `error` object (or an HTTP error body's)."""
        if not isinstance(error, dict):
            return cls("INTERNAL", f"malformed error from the server: {error!r}")
        kind = AuthenticationError if error.get("code") in ("UNAUTHORIZED", "INVALID_CREDENTIALS") else cls
        retry = error.get("retryAfterMs")
        return kind(
            str(error.get("code", "INTERNAL")),
            str(error.get("message", "")),
            retry_after_ms=retry if isinstance(retry, int) else None,
            details=error.get("details"),
        )


class AuthenticationError(VoiceHelperError):
    """The server refused the credentials: a wrong, revoked or expired API key or token."""


class StreamInterrupted(VoiceHelperError):
    """The turn or audio stream was cut by a barge-in (`turn:interrupt`): stop producing it.

    Raised by `TurnStream.delta` and `AudioSpeaker.frame`; the `async with` block of the
    stream swallows it and stores nothing more than the server's interrupted turn, which
    becomes the stream's `message`.
    """


def unavailable(message: str) -> VoiceHelperError:
    return VoiceHelperError("UNAVAILABLE", message)
