"""VoiceHelper worker SDK: asyncio, on python-socketio; protocol v7."""

from . import models
from .client import (
    AUDIO_CHUNK_BYTES,
    EVENTS,
    AudioSpeaker,
    Backoff,
    Client,
    ConnectionState,
    Event,
    Registered,
    Subscription,
    TurnStream,
)
from .errors import AuthenticationError, StreamInterrupted, VoiceHelperError
from .models import Message, RetrieveResult, Session

__all__ = [
    "AUDIO_CHUNK_BYTES",
    "EVENTS",
    "AudioSpeaker",
    "AuthenticationError",
    "Backoff",
    "Client",
    "ConnectionState",
    "Event",
    "Message",
    "Registered",
    "RetrieveResult",
    "Session",
    "StreamInterrupted",
    "Subscription",
    "TurnStream",
    "VoiceHelperError",
    "models",
]
