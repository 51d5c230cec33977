export type { Ack, ErrorCode, WireError } from '../../protocol/errors.js';
export type {
  AckData,
  DocumentStatusEvent,
  PresenceEntry,
  PushOf,
  RetrieveResult,
  ServerPushName,
} from '../../protocol/events.js';
export type { Message, MessageRole, Session } from '../../protocol/models.js';
export type { ClientEventName, PayloadOf } from '../../protocol/schemas.js';
export {
  type ClientEvents,
  type ConnectionState,
  TurnStream,
  VoiceHelperClient,
  type VoiceHelperClientOptions,
} from './client.js';
export { SessionLog } from './session-log.js';
export {
  type BackoffOptions,
  backoffDelay,
  type TokenRefreshReason,
  tokenExpiry,
  VoiceHelperError,
} from './support.js';
