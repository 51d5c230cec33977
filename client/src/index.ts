export { VoiceHelperClient, TurnStream, type ClientEvents, type ConnectionState, type VoiceHelperClientOptions } from './client.js';
export { SessionLog } from './session-log.js';
export { VoiceHelperError, backoffDelay, tokenExpiry, type BackoffOptions, type TokenRefreshReason } from './support.js';
export type { Ack, ErrorCode, WireError } from '../../protocol/errors.js';
export type { AckData, DocumentStatusEvent, PresenceEntry, PushOf, RetrieveResult, ServerPushName } from '../../protocol/events.js';
export type { Message, MessageRole, Session } from '../../protocol/models.js';
export type { ClientEventName, PayloadOf } from '../../protocol/schemas.js';
