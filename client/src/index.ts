export type { Ack, ErrorCode, WireError } from '../../protocol/errors.js';
export type {
  AckData,
  AgentRevokeReason,
  AudioDiscardReason,
  AudioEndedEvent,
  AudioStartedEvent,
  DocumentStatusEvent,
  PresenceEntry,
  PushOf,
  RetrieveResult,
  ServerPushName,
} from '../../protocol/events.js';
export type { AgentStatus, Message, MessageRole, Session } from '../../protocol/models.js';
export type { ClientEventName, PayloadOf } from '../../protocol/schemas.js';
export { AUDIO_CHUNK_BYTES, AudioStream, type AudioStreamOptions } from './audio-stream.js';
export {
  type AudioFrame,
  type ClientEvents,
  type ConnectionState,
  type DispatchedSession,
  type JoinOptions,
  type RevokedSession,
  TurnStream,
  VoiceHelperClient,
  type VoiceHelperClientOptions,
  type WorkerOptions,
  type WorkerRevokeReason,
} from './client.js';
export { decodeL16, encodeL16, L16_FRAME_MS, L16_SAMPLE_RATE, L16Framer, wavFromL16 } from './l16.js';
export { SessionLog } from './session-log.js';
export {
  type BackoffOptions,
  backoffDelay,
  type TokenRefreshReason,
  tokenExpiry,
  VoiceHelperError,
} from './support.js';
