"""The protocol's payloads as pydantic models: generated, do not edit.

Regenerate with `python sdk/python/tools/generate_models.py` after `npm run protocol:generate`;
tests/test_models.py fails while this file differs from what the protocol gives.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel


class Protocol(RootModel[Any]):
    root: Annotated[
        Any, Field(title='VoiceHelper session protocol v7: client payloads')
    ]


class AgentDispatchEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session_id: Annotated[str, Field(alias='sessionId')]
    agent: str
    epoch: Annotated[
        int,
        Field(
            description='Grows with every assignment of the session: a later dispatch of it supersedes this one.',
            ge=1,
            le=9007199254740991,
        ),
    ]


class AgentRegisterPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    agent: Annotated[str, Field(pattern='^[a-z0-9][a-z0-9_.-]{0,63}$')]
    capacity: Annotated[
        int | None,
        Field(
            description='Sessions this worker takes at once; default 10.',
            ge=1,
            le=10000,
        ),
    ] = None


class AgentRegisterResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    worker_id: Annotated[
        str,
        Field(
            alias='workerId', description='This registration: agent:status names it.'
        ),
    ]


class AgentReleasePayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    session_id: Annotated[
        str,
        Field(
            alias='sessionId',
            pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        ),
    ]


class AgentReleaseResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )


class Reason(StrEnum):
    archived = 'archived'
    deleted = 'deleted'
    lease_lost = 'lease_lost'


class AgentRevokedEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session_id: Annotated[str, Field(alias='sessionId')]
    agent: str
    reason: Reason


class State(StrEnum):
    waiting = 'waiting'
    assigned = 'assigned'


class AgentStatusEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session_id: Annotated[str, Field(alias='sessionId')]
    agent: str
    state: Annotated[
        State,
        Field(
            description="'waiting': no live worker of the agent has room for it yet."
        ),
    ]
    worker_id: Annotated[
        str | None,
        Field(alias='workerId', description='The worker that has it, when assigned.'),
    ] = None


class AudioAbortPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    stream_id: Annotated[str, Field(alias='streamId', pattern='^[A-Za-z0-9_-]{1,64}$')]


class AudioAbortResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )


class AudioChunkPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    stream_id: Annotated[str, Field(alias='streamId', pattern='^[A-Za-z0-9_-]{1,64}$')]
    index: Annotated[int, Field(ge=0, le=1000000)]
    data: Annotated[
        bytes, Field(description='binary (a Buffer / Uint8Array attachment)')
    ]


class AudioChunkResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    received: Annotated[int, Field(ge=-9007199254740991, le=9007199254740991)]


class AudioEndPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    stream_id: Annotated[str, Field(alias='streamId', pattern='^[A-Za-z0-9_-]{1,64}$')]
    client_msg_id: Annotated[
        str, Field(alias='clientMsgId', max_length=64, min_length=1)
    ]
    transcript: Annotated[str | None, Field(min_length=0)] = None


class Reason1(StrEnum):
    timeout = 'timeout'
    socket_gone = 'socket_gone'
    too_large = 'too_large'
    aborted = 'aborted'
    interrupted = 'interrupted'


class AudioEndedEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session_id: Annotated[str, Field(alias='sessionId')]
    stream_id: Annotated[str, Field(alias='streamId')]
    message_id: Annotated[
        str | None,
        Field(
            alias='messageId',
            description='The message that stores the stream (and, with reason interrupted, the turn a barge-in stored).',
        ),
    ] = None
    discarded: Annotated[
        Literal[True] | None,
        Field(description='The stream ended without being stored as sent.'),
    ] = None
    reason: Annotated[Reason1 | None, Field(description='Why it was discarded.')] = None
    dropped: Annotated[
        int | None,
        Field(
            description='Frames of this stream dropped for this socket after its last frame.',
            ge=1,
            le=9007199254740991,
        ),
    ] = None


class AudioFrameEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session_id: Annotated[str, Field(alias='sessionId')]
    stream_id: Annotated[str, Field(alias='streamId')]
    index: Annotated[int, Field(ge=0, le=9007199254740991)]
    data: Annotated[
        bytes,
        Field(
            description='binary (a Buffer in Node.js, an ArrayBuffer in browsers): the chunk as sent'
        ),
    ]
    dropped: Annotated[
        int | None,
        Field(
            description='Frames of this stream dropped for this socket since its previous frame: it did not read fast enough.',
            ge=1,
            le=9007199254740991,
        ),
    ] = None


class MimeType(StrEnum):
    audio_webm = 'audio/webm'
    audio_ogg = 'audio/ogg'
    audio_opus = 'audio/opus'
    audio_wav = 'audio/wav'
    audio_mpeg = 'audio/mpeg'
    audio_mp4 = 'audio/mp4'
    audio_aac = 'audio/aac'
    audio_flac = 'audio/flac'
    audio_l16 = 'audio/l16'


class AudioStartPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    session_id: Annotated[
        str,
        Field(
            alias='sessionId',
            pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        ),
    ]
    stream_id: Annotated[str, Field(alias='streamId', pattern='^[A-Za-z0-9_-]{1,64}$')]
    mime_type: Annotated[MimeType, Field(alias='mimeType')]
    sample_rate: Annotated[
        int | None, Field(alias='sampleRate', ge=8000, le=192000)
    ] = None


class AudioStartResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )


class Role(StrEnum):
    user = 'user'
    assistant = 'assistant'


class AudioStartedEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session_id: Annotated[str, Field(alias='sessionId')]
    stream_id: Annotated[
        str,
        Field(
            alias='streamId',
            description='Unique among the open audio streams of the session: frames are keyed by it.',
        ),
    ]
    sender_id: Annotated[
        str,
        Field(alias='senderId', description='The user (or service) who streams it.'),
    ]
    role: Annotated[Role, Field(description="'assistant' for a service's speech.")]
    mime_type: Annotated[str, Field(alias='mimeType')]
    sample_rate: Annotated[
        int | None, Field(alias='sampleRate', ge=-9007199254740991, le=9007199254740991)
    ] = None


class AudioUrlPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    message_id: Annotated[
        str,
        Field(
            alias='messageId',
            pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        ),
    ]


class AudioUrlResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    url: str
    expires_at: Annotated[str, Field(alias='expiresAt')]


class Status(StrEnum):
    processing = 'processing'
    ready = 'ready'
    failed = 'failed'


class Stage(StrEnum):
    parsing = 'parsing'
    embedding = 'embedding'
    graph = 'graph'
    ready = 'ready'
    failed = 'failed'


class Reason2(StrEnum):
    the_file_could_not_be_read_as_a_document_of_its_type__or_it_holds_no_text = 'the file could not be read as a document of its type, or it holds no text'
    the_file_could_not_be_processed__it_may_be_damaged__too_large_or_too_complex = 'the file could not be processed: it may be damaged, too large or too complex'
    the_document_could_not_be_stored__upload_it_again_later = 'the document could not be stored; upload it again later'
    the_document_could_not_be_indexed_for_search__upload_it_again_later = 'the document could not be indexed for search; upload it again later'
    the_knowledge_graph_could_not_be_updated_with_the_document__upload_it_again_later = 'the knowledge graph could not be updated with the document; upload it again later'
    the_document_could_not_be_processed__upload_it_again_later = 'the document could not be processed; upload it again later'


class DocumentStatusEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    document_id: Annotated[str, Field(alias='documentId')]
    status: Status
    stage: Stage
    percent: Annotated[
        float,
        Field(
            description='0-100, never going back within one ingestion run (a retried run starts again).',
            ge=0.0,
            le=100.0,
        ),
    ]
    reason: Annotated[
        Reason2 | None,
        Field(
            description='Why it failed (stage `failed` only): one of a fixed set of sentences (v5).'
        ),
    ] = None


class GraphAlgorithmBody(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    owner_id: Annotated[
        str | None, Field(alias='ownerId', max_length=200, min_length=1)
    ] = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 20


class GraphEntityBody(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    name: Annotated[str, Field(max_length=200, min_length=1)]
    type: Annotated[str, Field(max_length=50, min_length=1)]
    description: Annotated[str | None, Field(max_length=2000, min_length=0)] = None
    properties: Annotated[
        Any | None,
        Field(
            description='a JSON object: at most 16 levels deep, 200 keys per object, no __proto__/constructor/prototype keys, no NUL or lone surrogates, at most 16 KiB'
        ),
    ] = None


class GraphRelationBody(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    from_: Annotated[str, Field(alias='from', max_length=200, min_length=1)]
    to: Annotated[str, Field(max_length=200, min_length=1)]
    relation_type: Annotated[Literal['RELATED_TO'], Field(alias='relationType')] = (
        'RELATED_TO'
    )
    type: Annotated[str, Field(max_length=100, min_length=0)] = ''
    weight: Annotated[float, Field(ge=0.0, le=1.0)] = 1


class HistoryGetPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    session_id: Annotated[
        str,
        Field(
            alias='sessionId',
            pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        ),
    ]
    before_seq: Annotated[
        int | None, Field(alias='beforeSeq', ge=1, le=9007199254740991)
    ] = None
    limit: Annotated[int | None, Field(ge=1, le=200)] = None


class LoginBody(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    email: Annotated[
        str,
        Field(
            max_length=255,
            pattern="^(?:[A-Za-z0-9_'+\\-]+\\.)*[A-Za-z0-9_'+\\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9\\-]*\\.)+[A-Za-z]{2,}$",
        ),
    ]
    password: Annotated[str, Field(max_length=256, min_length=1)]


class Role1(StrEnum):
    user = 'user'
    assistant = 'assistant'
    system = 'system'
    tool = 'tool'


class ContentType(StrEnum):
    text = 'text'
    transcript = 'transcript'
    audio = 'audio'


class Message(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    id: Annotated[str, Field(description='UUID')]
    session_id: Annotated[str, Field(alias='sessionId', description='UUID')]
    seq: Annotated[
        int,
        Field(
            description='1, 2, 3, ... per session, gap-free across all nodes.',
            ge=1,
            le=9007199254740991,
        ),
    ]
    role: Role1
    content: str
    content_type: Annotated[ContentType, Field(alias='contentType')]
    metadata: dict[str, Any]
    client_msg_id: Annotated[str | None, Field(alias='clientMsgId')]
    sender_id: Annotated[
        str | None,
        Field(
            alias='senderId',
            description="The user who sent it (for an interrupted turn, the stream's owner); null for messages stored before protocol v2. Idempotency keys are per (session, sender).",
        ),
    ]
    created_at: Annotated[str, Field(alias='createdAt', description='ISO-8601 time')]
    tokens_used: Annotated[
        int | None, Field(alias='tokensUsed', ge=-9007199254740991, le=9007199254740991)
    ] = None
    processing_time_ms: Annotated[
        int | None,
        Field(alias='processingTimeMs', ge=-9007199254740991, le=9007199254740991),
    ] = None


class MessageDeltaEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session_id: Annotated[str, Field(alias='sessionId')]
    stream_id: Annotated[str, Field(alias='streamId')]
    index: Annotated[int, Field(ge=0, le=9007199254740991)]
    delta: str
    role: Role1
    user_id: Annotated[str, Field(alias='userId')]


class MessageDeltaPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    session_id: Annotated[
        str,
        Field(
            alias='sessionId',
            pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        ),
    ]
    stream_id: Annotated[str, Field(alias='streamId', pattern='^[A-Za-z0-9_-]{1,64}$')]
    index: Annotated[int, Field(ge=0, le=1000000)]
    delta: Annotated[str, Field(max_length=8192, min_length=0)]
    role: Role1 | None = None


class MessageDeltaResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )


class MessageNewEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    message: Message


class ContentType1(StrEnum):
    text = 'text'
    transcript = 'transcript'


class MessageSendPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    session_id: Annotated[
        str,
        Field(
            alias='sessionId',
            pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        ),
    ]
    client_msg_id: Annotated[
        str, Field(alias='clientMsgId', max_length=64, min_length=1)
    ]
    content: Annotated[str, Field(min_length=0)]
    role: Role1 | None = None
    content_type: Annotated[ContentType1 | None, Field(alias='contentType')] = None
    metadata: Annotated[
        Any | None,
        Field(
            description="a JSON object: at most 16 levels deep, 200 keys per object, no __proto__/constructor/prototype keys, no NUL or lone surrogates, at most 16 KiB; without the server's keys objectKey, mimeType, bytes, sha256, sampleRate, interrupted, interruptedBy, heard"
        ),
    ] = None
    tokens_used: Annotated[
        int | None, Field(alias='tokensUsed', ge=0, le=2147483647)
    ] = None
    processing_time_ms: Annotated[
        int | None, Field(alias='processingTimeMs', ge=0, le=2147483647)
    ] = None


class MessageSendResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    message: Message


class MessageTranscriptEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session_id: Annotated[str, Field(alias='sessionId')]
    message_id: Annotated[str, Field(alias='messageId')]
    transcript: str


class MessageTranscriptPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    message_id: Annotated[
        str,
        Field(
            alias='messageId',
            pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        ),
    ]
    transcript: Annotated[
        str,
        Field(description='What was said; becomes the message content.', min_length=0),
    ]


class MessageTranscriptResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    message: Message


class Role5(StrEnum):
    user = 'user'
    service = 'service'
    admin = 'admin'


class PresenceEntry(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    user_id: Annotated[str, Field(alias='userId')]
    role: Role5
    connections: Annotated[int, Field(ge=0, le=9007199254740991)]


class PresenceEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    user_id: Annotated[str, Field(alias='userId')]
    role: Role5
    connections: Annotated[int, Field(ge=0, le=9007199254740991)]
    session_id: Annotated[str, Field(alias='sessionId')]


class RefreshBody(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    refresh_token: Annotated[
        str, Field(alias='refreshToken', max_length=200, min_length=1)
    ]


class RegisterBody(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    email: Annotated[
        str,
        Field(
            max_length=255,
            pattern="^(?:[A-Za-z0-9_'+\\-]+\\.)*[A-Za-z0-9_'+\\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9\\-]*\\.)+[A-Za-z]{2,}$",
        ),
    ]
    username: Annotated[str, Field(max_length=100, min_length=1)]
    password: Annotated[str, Field(max_length=256, min_length=8)]


class DocumentId(RootModel[str]):
    root: Annotated[
        str,
        Field(pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    ]


class RetrievePayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    query: Annotated[str, Field(max_length=2000, min_length=1)]
    top_k: Annotated[int | None, Field(alias='topK', ge=1, le=50)] = None
    document_ids: Annotated[
        list[DocumentId] | None, Field(alias='documentIds', max_length=100)
    ] = None
    graph_depth: Annotated[int | None, Field(alias='graphDepth', ge=0, le=3)] = None
    session_id: Annotated[
        str | None,
        Field(
            alias='sessionId',
            pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        ),
    ] = None


class Chunk(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    chunk_id: Annotated[str, Field(alias='chunkId')]
    document_id: Annotated[str, Field(alias='documentId')]
    content: str
    score: float
    metadata: dict[str, Any]


class Entity(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    id: str
    name: str
    type: str
    distance: float
    relevance: float


class Timings(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    embed_ms: Annotated[float, Field(alias='embedMs')]
    vector_ms: Annotated[float, Field(alias='vectorMs')]
    graph_ms: Annotated[float, Field(alias='graphMs')]
    total_ms: Annotated[float, Field(alias='totalMs')]


class DegradedEnum(StrEnum):
    vector = 'vector'
    graph = 'graph'


class RetrieveResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    chunks: list[Chunk]
    entities: list[Entity]
    timings: Timings
    degraded: Annotated[
        list[DegradedEnum] | None,
        Field(description='Stores that were down: their part is empty.'),
    ] = None


class Status1(StrEnum):
    active = 'active'
    archived = 'archived'


class AgentStatus(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    state: Annotated[
        State,
        Field(
            description="'waiting': no live worker of the agent has room for it yet."
        ),
    ]
    worker_id: Annotated[
        str | None,
        Field(alias='workerId', description='The worker that has it, when assigned.'),
    ] = None


class Session(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    id: Annotated[str, Field(description='UUID')]
    user_id: Annotated[str, Field(alias='userId', description='UUID')]
    title: str
    status: Status1
    context: dict[str, Any]
    metadata: dict[str, Any]
    last_seq: Annotated[
        int,
        Field(
            alias='lastSeq',
            description='Seq of the newest committed message; 0 when empty.',
            ge=0,
            le=9007199254740991,
        ),
    ]
    created_at: Annotated[str, Field(alias='createdAt', description='ISO-8601 time')]
    updated_at: Annotated[str, Field(alias='updatedAt', description='ISO-8601 time')]
    agent: Annotated[
        str | None,
        Field(
            description='The agent whose worker answers the session (protocol v7); absent when it names none.'
        ),
    ] = None
    agent_status: Annotated[
        AgentStatus | None,
        Field(
            alias='agentStatus',
            description='Whether a worker of the agent has the session now (protocol v7): in session:create, session:join and GET /v1/sessions/:id.',
        ),
    ] = None


class SessionCreatePayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    title: Annotated[str | None, Field(max_length=255, min_length=0)] = None
    context: Annotated[
        Any | None,
        Field(
            description='a JSON object: at most 16 levels deep, 200 keys per object, no __proto__/constructor/prototype keys, no NUL or lone surrogates, at most 16 KiB'
        ),
    ] = None
    metadata: Annotated[
        Any | None,
        Field(
            description='a JSON object: at most 16 levels deep, 200 keys per object, no __proto__/constructor/prototype keys, no NUL or lone surrogates, at most 16 KiB'
        ),
    ] = None
    agent: Annotated[
        str | None,
        Field(
            description='The agent whose worker answers the session (protocol v7); default DEFAULT_AGENT.',
            pattern='^[a-z0-9][a-z0-9_.-]{0,63}$',
        ),
    ] = None


class SessionCreateResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session: Session


class SessionDeletePayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    session_id: Annotated[
        str,
        Field(
            alias='sessionId',
            pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        ),
    ]


class SessionDeleteResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session_id: Annotated[str, Field(alias='sessionId')]
    messages: Annotated[int, Field(ge=-9007199254740991, le=9007199254740991)]
    audio_objects: Annotated[
        int, Field(alias='audioObjects', ge=-9007199254740991, le=9007199254740991)
    ]


class SessionDeletedEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session_id: Annotated[str, Field(alias='sessionId')]


class SessionJoinPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    session_id: Annotated[
        str,
        Field(
            alias='sessionId',
            pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        ),
    ]
    since_seq: Annotated[
        int | None, Field(alias='sinceSeq', ge=0, le=9007199254740991)
    ] = None
    live_audio: Annotated[
        bool | None,
        Field(
            alias='liveAudio',
            description="Receive the session's audio streams live (audio:started, audio:frame, audio:ended; protocol v6); a join without it stops them.",
        ),
    ] = None


class SessionJoinResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session: Session
    messages: list[Message]
    has_more: Annotated[bool, Field(alias='hasMore')]
    presence: list[PresenceEntry]


class SessionLeavePayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    session_id: Annotated[
        str,
        Field(
            alias='sessionId',
            pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        ),
    ]


class SessionLeaveResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )


class SessionListPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    limit: Annotated[int | None, Field(ge=1, le=100)] = None
    cursor: Annotated[str | None, Field(max_length=200, min_length=0)] = None
    status: Status1 | None = None


class SessionListResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    sessions: list[Session]
    next_cursor: Annotated[str | None, Field(alias='nextCursor')]


class SessionUpdatePayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    session_id: Annotated[
        str,
        Field(
            alias='sessionId',
            pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        ),
    ]
    title: Annotated[str | None, Field(max_length=255, min_length=0)] = None
    context: Annotated[
        Any | None,
        Field(
            description='a JSON object: at most 16 levels deep, 200 keys per object, no __proto__/constructor/prototype keys, no NUL or lone surrogates, at most 16 KiB'
        ),
    ] = None
    metadata: Annotated[
        Any | None,
        Field(
            description='a JSON object: at most 16 levels deep, 200 keys per object, no __proto__/constructor/prototype keys, no NUL or lone surrogates, at most 16 KiB'
        ),
    ] = None
    status: Status1 | None = None


class SessionUpdateResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session: Session


class SessionUpdatedEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session: Session


class Reason3(StrEnum):
    draining = 'draining'
    slow_consumer = 'slow_consumer'
    disabled = 'disabled'
    role_changed = 'role_changed'
    logged_out = 'logged_out'
    token_expired = 'token_expired'


class SysDisconnectEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    reason: Reason3
    reconnect: bool
    retry_after_ms: Annotated[
        int | None,
        Field(alias='retryAfterMs', ge=-9007199254740991, le=9007199254740991),
    ] = None


class SysHelloEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    protocol_version: Annotated[
        int,
        Field(
            alias='protocolVersion',
            description='The version of the wire contract (`PROTOCOL_VERSION`).',
            ge=-9007199254740991,
            le=9007199254740991,
        ),
    ]
    node_id: Annotated[
        str, Field(alias='nodeId', description='The node this socket is connected to.')
    ]


class SysPingPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )


class SysPingResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    node_id: Annotated[str, Field(alias='nodeId')]
    server_time: Annotated[str, Field(alias='serverTime')]
    protocol_version: Annotated[
        int, Field(alias='protocolVersion', ge=-9007199254740991, le=9007199254740991)
    ]


class TurnInterruptPayload(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
        populate_by_name=True,
    )
    session_id: Annotated[
        str,
        Field(
            alias='sessionId',
            pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        ),
    ]
    stream_id: Annotated[str, Field(alias='streamId', pattern='^[A-Za-z0-9_-]{1,64}$')]
    heard_chars: Annotated[int | None, Field(alias='heardChars', ge=0, le=1000000)] = (
        None
    )
    heard_index: Annotated[int | None, Field(alias='heardIndex', ge=0, le=1000000)] = (
        None
    )


class TurnInterruptResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    message: Message


class TurnInterruptedEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    session_id: Annotated[str, Field(alias='sessionId')]
    stream_id: Annotated[str, Field(alias='streamId')]
    message_id: Annotated[str, Field(alias='messageId')]


class Code(StrEnum):
    validation = 'VALIDATION'
    unauthorized = 'UNAUTHORIZED'
    invalid_credentials = 'INVALID_CREDENTIALS'
    forbidden = 'FORBIDDEN'
    not_found = 'NOT_FOUND'
    conflict = 'CONFLICT'
    rate_limited = 'RATE_LIMITED'
    payload_too_large = 'PAYLOAD_TOO_LARGE'
    unavailable = 'UNAVAILABLE'
    internal = 'INTERNAL'


class WireError(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    code: Annotated[Code, Field(description='Stable code from `errorCodes`.')]
    message: Annotated[
        str,
        Field(
            description='Human-readable text; never contains secrets or stack traces.'
        ),
    ]
    retry_after_ms: Annotated[
        int | None,
        Field(
            alias='retryAfterMs',
            description='Milliseconds until a retry may succeed; always present with `RATE_LIMITED`.',
            ge=-9007199254740991,
            le=9007199254740991,
        ),
    ] = None
    details: Annotated[
        Any | None,
        Field(
            description='Structured detail, for example the failing field of a `VALIDATION` error.'
        ),
    ] = None


class AudioEndResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    message: Message


class ErrorEvent(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    event: str
    error: WireError


class HistoryGetResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    messages: list[Message]
    has_more: Annotated[bool, Field(alias='hasMore')]
