import type { AckData } from '../../../protocol/events.js';
import type { Message, Session } from '../../../protocol/models.js';
import { AppError } from '../../errors/app-error.js';
import { deleteSession } from '../../services/delete-session.js';
import { callerOf, changePresence, type RealtimeContext } from '../context.js';
import type { AppSocket, EventHandler } from '../dispatcher.js';
import { sessionRoom } from '../rooms.js';

/** Largest catch-up page of `session:join` (PROTOCOL section 3). */
const CATCH_UP_LIMIT = 500;
/** Messages returned by a join without `sinceSeq`: the newest ones. */
const RECENT_LIMIT = 50;
/**
 * Most bytes of messages in a join's answer: what is past it (`hasMore`) follows as
 * `message:new` at the pace the client reads (the relay's catch-up has backpressure).
 */
const JOIN_PAGE_BYTES = 1024 * 1024;

/** The longest prefix of `messages` within `maxBytes` as JSON (at least one message), and whether it was cut. */
function cutToBytes(messages: Message[], maxBytes: number): { messages: Message[]; cut: boolean } {
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    bytes += JSON.stringify(messages[i]).length;
    if (bytes > maxBytes && i > 0) return { messages: messages.slice(0, i), cut: true };
  }
  return { messages, cut: false };
}

type Handlers = {
  'session:create': EventHandler<'session:create'>;
  'session:join': EventHandler<'session:join'>;
  'session:leave': EventHandler<'session:leave'>;
  'session:list': EventHandler<'session:list'>;
  'session:update': EventHandler<'session:update'>;
  'session:delete': EventHandler<'session:delete'>;
};

/** Joins a socket to a session's deliveries and presence; returns the join snapshot. */
async function joinSocket(
  context: RealtimeContext,
  socket: AppSocket,
  sessionId: string,
  sinceSeq: number | undefined,
  liveAudio = false,
): Promise<AckData['session:join']> {
  const caller = callerOf(socket);
  const cached = await context.sessions.authorize(caller, sessionId);
  if (sinceSeq !== undefined && sinceSeq > Math.max(cached.lastSeq, context.relay.lastSeqOf(sessionId) ?? 0)) {
    // Cached values only ever lag: the committed last_seq decides a refusal.
    const { lastSeq } = await context.sessions.getFresh(caller, sessionId);
    if (sinceSeq > lastSeq) {
      // Joined with it, the socket would get nothing until the session passed sinceSeq.
      throw new AppError('VALIDATION', {
        message: 'sinceSeq is past the last message of the session',
        details: { field: 'sinceSeq', lastSeq },
      });
    }
  }
  const alreadyJoined = context.relay.isJoined(socket, sessionId);
  const snapshot = await context.relay.join(socket, sessionId, async () => {
    // The session as cached (access never depends on what may lag in it); its lastSeq is
    // raised to what this join learns. PostgreSQL is read only for messages the client
    // lacks: a node that follows the session knows when there are none.
    const known = context.relay.lastSeqOf(sessionId);
    const upToDate = known !== undefined && (sinceSeq === undefined ? known === 0 : sinceSeq >= known);
    const fetched = upToDate
      ? { messages: [], hasMore: false }
      : sinceSeq === undefined
        ? await context.messages.pageBefore(sessionId, undefined, RECENT_LIMIT)
        : await context.messages.since(sessionId, sinceSeq, CATCH_UP_LIMIT);
    const session: Session = {
      ...cached,
      lastSeq: Math.max(cached.lastSeq, known ?? 0, fetched.messages[fetched.messages.length - 1]?.seq ?? 0),
    };
    const { messages, cut } =
      sinceSeq === undefined
        ? { messages: fetched.messages, cut: false }
        : cutToBytes(fetched.messages, JOIN_PAGE_BYTES);
    const page = { messages, hasMore: fetched.hasMore || cut };
    const lastReturned = page.messages[page.messages.length - 1]?.seq ?? 0;
    // After the ack, every message past what it returned arrives as message:new.
    const delivered =
      sinceSeq === undefined ? Math.max(session.lastSeq, lastReturned) : Math.max(sinceSeq, lastReturned);
    return {
      result: { session, messages: page.messages, hasMore: page.hasMore },
      delivered,
      lastSeq: Math.max(session.lastSeq, lastReturned),
    };
  });
  // A first join counts the socket in and learns who is present in the same round trip (before
  // the live audio subscription, whose failure a retried join, counted already, repeats).
  const present = alreadyJoined ? undefined : await changePresence(context, socket, sessionId, 1);
  // Live audio only for sockets that ask each time they join: text-only clients pay nothing.
  if (liveAudio) await context.liveAudio.listen(socket, sessionId);
  else context.liveAudio.unlisten(socket, sessionId);
  return {
    ...snapshot,
    session: await context.agents.withStatus(snapshot.session),
    presence: present === undefined ? await context.presence.list(sessionId) : await present(),
  };
}

/** Leaves a session: no more deliveries, one connection less in presence. */
export async function leaveSocket(context: RealtimeContext, socket: AppSocket, sessionId: string): Promise<void> {
  context.liveAudio.unlisten(socket, sessionId);
  if (!context.relay.isJoined(socket, sessionId)) return;
  context.relay.leave(socket, sessionId);
  await changePresence(context, socket, sessionId, -1);
}

/** `session:*` events of PROTOCOL section 3. */
export function sessionHandlers(context: RealtimeContext): Handlers {
  return {
    'session:create': async (payload, socket) => {
      const { agent, ...input } = payload ?? {};
      const created = await context.sessions.create(callerOf(socket), {
        ...input,
        agent: context.agents.agentFor(agent),
      });
      const session = await context.agents.created(created);
      await joinSocket(context, socket, session.id, 0);
      return { session };
    },

    'session:join': async ({ sessionId, sinceSeq, liveAudio }, socket) => {
      return joinSocket(context, socket, sessionId, sinceSeq, liveAudio);
    },

    'session:leave': async ({ sessionId }, socket) => {
      await leaveSocket(context, socket, sessionId);
      return {};
    },

    'session:list': async (payload, socket) => {
      return context.sessions.list(callerOf(socket), {
        limit: payload?.limit ?? 20,
        ...(payload?.cursor === undefined ? {} : { cursor: payload.cursor }),
        ...(payload?.status === undefined ? {} : { status: payload.status }),
      });
    },

    'session:update': async ({ sessionId, ...changes }, socket) => {
      const session = await context.sessions.update(callerOf(socket), sessionId, changes);
      if (changes.status !== undefined) await context.agents.statusChanged(session);
      context.io.to(sessionRoom(sessionId)).emit('session:updated', { session });
      return { session };
    },

    'session:delete': async ({ sessionId }, socket) => {
      return deleteSession(context, callerOf(socket), sessionId);
    },
  };
}
