import type { Socket } from 'socket.io';
import type { z } from 'zod';
import type { Ack, WireError } from '../../protocol/errors.js';
import type {
  AckData,
  ClientToServerEvents,
  InterServerEvents,
  ServerToClientEvents,
  SocketData,
} from '../../protocol/events.js';
import { type ClientEventName, type PayloadOf, payloadSchemas } from '../../protocol/schemas.js';
import { AppError, isServerFault, toWireError } from '../errors/app-error.js';
import { validationError } from '../errors/validation.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { activeFailed, SpanKind, startSpan, traced, tracingOn } from '../tracing.js';

export type AppSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** Runs one event for one socket and returns the ack's `data`; throws AppError to fail it. */
export type EventHandler<E extends ClientEventName> = (payload: PayloadOf<E>, socket: AppSocket) => Promise<AckData[E]>;

export type EventHandlers = { [E in ClientEventName]: EventHandler<E> };

/** Options of the dispatcher. */
export interface DispatcherOptions {
  /** Events of one socket handled at once; more are refused with RATE_LIMITED (`SOCKET_MAX_IN_FLIGHT`). */
  maxInFlightPerSocket: number;
  /** Runs before the payload is validated (cheap checks first); throws to refuse (rate limits). */
  guard?: (event: ClientEventName, socket: AppSocket) => Promise<void>;
}

/** How long a client refused by a draining node should wait (it reconnects elsewhere meanwhile). */
const DRAIN_RETRY_MS = 1_000;

/** How often a drain looks whether the sockets it waits for have gone quiet. */
const QUIET_POLL_MS = 25;

/** How long a client refused for having too many events in flight should wait. */
const IN_FLIGHT_RETRY_MS = 100;

/**
 * Routes every incoming event of a socket: refuses it when the socket has too many events
 * in flight or the guard (rate limits) says no, validates the payload against its schema
 * in `protocol/`, runs the handler, and acknowledges exactly once with the envelope of
 * PROTOCOL section 2. The cheap checks come first, so a flood costs little. Nothing a
 * client sends can throw out of here.
 */
export class Dispatcher {
  private inFlight = 0;
  private readonly perSocket = new WeakMap<AppSocket, number>();
  /** When each socket's last event started or finished during a drain (performance.now()). */
  private readonly lastActivity = new WeakMap<AppSocket, number>();
  private idleWaiters: Array<() => void> = [];
  private readonly maxPerSocket: number;
  private draining = false;

  constructor(
    private readonly handlers: EventHandlers,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly options: DispatcherOptions,
  ) {
    this.maxPerSocket = options.maxInFlightPerSocket;
  }

  attach(socket: AppSocket): void {
    socket.onAny((event: unknown, ...args: unknown[]) => {
      void this.dispatch(socket, event, args);
    });
  }

  /**
   * The node drains: events of sockets that are still connected are handled as before (the
   * drain closes each socket once it is quiet, see `quiet`); an event that reaches a socket
   * already ended is refused with UNAVAILABLE and `retryAfterMs` (its client never reads
   * the answer, and resends on the node it reconnects to).
   */
  drain(): void {
    this.draining = true;
  }

  /**
   * Resolves once `socket` has had no event running, and none started or finished, for
   * `quietMs` since `since` (a client told to move at `since` has stopped sending, and what
   * it sent before it was told has been answered), or once `deadline` has passed (both
   * performance.now() times).
   */
  async quiet(socket: AppSocket, quietMs: number, since: number, deadline: number): Promise<void> {
    const quietNow = (): boolean => {
      const now = performance.now();
      const busy = (this.perSocket.get(socket) ?? 0) > 0;
      return !busy && now - Math.max(since, this.lastActivity.get(socket) ?? 0) >= quietMs;
    };
    for (;;) {
      if (performance.now() >= deadline) return;
      if (quietNow()) {
        // Timers run before the loop reads sockets: after a busy stretch an event may be
        // waiting unread. setImmediate runs after this turn's reads; then look again.
        await new Promise((resolve) => setImmediate(resolve));
        if (quietNow()) return;
      }
      await new Promise((resolve) => setTimeout(resolve, QUIET_POLL_MS));
    }
  }

  /** Resolves when no handler is running (used by the SIGTERM drain). */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async dispatch(socket: AppSocket, event: unknown, args: unknown[]): Promise<void> {
    this.inFlight++;
    const mine = (this.perSocket.get(socket) ?? 0) + 1;
    this.perSocket.set(socket, mine);
    // Only a drain reads it (events before the drain count from the drain's start).
    if (this.draining) this.lastActivity.set(socket, performance.now());
    try {
      const overloaded = mine > this.maxPerSocket;
      if (!tracingOn()) await this.run(socket, event, args, overloaded);
      else {
        // One trace per event: the limit check, the validation and the handler's own steps
        // (commit, relay) are its children; the delivery on other nodes continues it.
        const name = typeof event === 'string' && Object.hasOwn(this.handlers, event) ? event : 'unknown';
        await traced(
          name,
          { 'voicehelper.socket': socket.id, 'enduser.id': socket.data.userId },
          () => this.run(socket, event, args, overloaded),
          SpanKind.SERVER,
        );
      }
    } finally {
      this.perSocket.set(socket, (this.perSocket.get(socket) ?? 1) - 1);
      if (this.draining) this.lastActivity.set(socket, performance.now());
      this.inFlight--;
      if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async run(socket: AppSocket, event: unknown, args: unknown[], overloaded: boolean): Promise<void> {
    const last = args[args.length - 1];
    const callback = typeof last === 'function' ? (last as (response: Ack<unknown>) => void) : undefined;
    const payload = callback === undefined ? args[0] : args.length > 1 ? args[0] : undefined;
    const name = typeof event === 'string' ? event : String(event);
    const label = Object.hasOwn(this.handlers, name) ? name : 'unknown';
    const stopTimer = this.metrics.socketEventSeconds.startTimer({ event: label });
    let acked = false;
    const respond = (response: Ack<unknown>): void => {
      if (acked) return;
      acked = true;
      stopTimer();
      this.metrics.socketEvents.inc({ event: label, outcome: response.ok ? 'ok' : response.error.code });
      if (!response.ok) activeFailed(response.error.code);
      if (callback !== undefined) {
        try {
          callback(response);
        } catch (error) {
          this.logger.warn({ err: error, event: label }, 'ack callback failed');
        }
      } else if (!response.ok) {
        socket.emit('error', { event: name.slice(0, 100), error: response.error });
      }
    };

    try {
      if (label === 'unknown') {
        throw new AppError('VALIDATION', { message: 'unknown event', details: { event: name.slice(0, 100) } });
      }
      const eventName = label as ClientEventName;
      if (this.draining && !socket.connected) {
        this.metrics.refusedEvents.inc({ event: label, reason: 'draining' });
        throw new AppError('UNAVAILABLE', {
          message: 'this node is shutting down; retry after reconnecting',
          retryAfterMs: DRAIN_RETRY_MS,
        });
      }
      if (overloaded) {
        this.metrics.refusedEvents.inc({ event: label, reason: 'in_flight' });
        throw new AppError('RATE_LIMITED', {
          message: `at most ${this.maxPerSocket} events of one connection are handled at once; wait for their acks`,
          retryAfterMs: IN_FLIGHT_RETRY_MS,
          details: { reason: 'in_flight', limit: this.maxPerSocket },
        });
      }
      const guard = this.options.guard;
      if (guard !== undefined) {
        if (tracingOn()) await traced('limit check', {}, () => guard(eventName, socket));
        else await guard(eventName, socket);
      }
      const schema: z.ZodTypeAny = payloadSchemas[eventName];
      const validating = startSpan('validate', {});
      const parsed = schema.safeParse(payload);
      validating?.end();
      if (!parsed.success) {
        throw validationError('payload does not match the schema', parsed.error.issues);
      }
      const handler = this.handlers[eventName] as EventHandler<ClientEventName>;
      const data = await handler(parsed.data as PayloadOf<ClientEventName>, socket);
      respond({ ok: true, data });
    } catch (error) {
      const wire: WireError = toWireError(error);
      if (isServerFault(error)) {
        this.logger.error({ err: error, event: label, socket: socket.id }, 'event handler failed');
      }
      respond({ ok: false, error: wire });
    }
  }
}
