import type { ErrorCode, WireError } from '../../protocol/errors.js';

/** A failed ack, or a failure of the client itself (`code` is then UNAVAILABLE). */
export class VoiceHelperError extends Error {
  readonly code: ErrorCode;
  readonly retryAfterMs: number | undefined;
  readonly details: unknown;

  constructor(error: WireError) {
    super(error.message);
    this.name = 'VoiceHelperError';
    this.code = error.code;
    this.retryAfterMs = error.retryAfterMs;
    this.details = error.details;
  }
}

/** Reconnect delays: exponential from `initialMs` up to `maxMs`, each cut by up to `jitter` (0-1) at random. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 10_000, jitter: 0.5 };

/** The delay before reconnect attempt `attempt` (0 for the first). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const base = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (1 - options.jitter * Math.random()));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** When a JWT expires (ms since the epoch), read from its payload without verifying it; undefined if it does not say. */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const json = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown };
    return typeof json.exp === 'number' ? json.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** A listener map that works the same in browsers and Node. */
export class Emitter<Events extends { [K in keyof Events]: (...args: never[]) => void }> {
  private readonly listeners = new Map<keyof Events, Set<Events[keyof Events]>>();

  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    const set = this.listeners.get(event) ?? new Set();
    this.listeners.set(event, set);
    set.add(listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Events[K]): void {
    this.listeners.get(event)?.delete(listener);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        (listener as (...a: Parameters<Events[K]>) => void)(...args);
      } catch (error) {
        // A throwing listener must not stop delivery to the others, nor the client.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/**
 * The access token the client connects with: asked of the app's provider on first use,
 * again shortly before it expires (read from the JWT's `exp`), and again when the server
 * refused it.
 */
export class TokenKeeper {
  private token: string | undefined;
  private pending: Promise<string> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly provider: (reason: TokenRefreshReason) => string | Promise<string>,
    private readonly marginMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** A token that is not about to expire. */
  async current(): Promise<string> {
    if (this.token !== undefined && !this.expiresWithin(this.marginMs)) return this.token;
    return this.refresh(this.token === undefined ? 'initial' : 'expiring');
  }

  /** Forgets the token (the server refused it): the next `current()` asks for a new one. */
  invalidate(): void {
    this.token = undefined;
  }

  refresh(reason: TokenRefreshReason): Promise<string> {
    this.pending ??= (async () => {
      try {
        const token = await this.provider(reason);
        this.token = token;
        this.schedule(token);
        return token;
      } finally {
        this.pending = undefined;
      }
    })();
    return this.pending;
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private expiresWithin(ms: number): boolean {
    const expiry = this.token === undefined ? undefined : tokenExpiry(this.token);
    return expiry !== undefined && expiry - Date.now() < ms;
  }

  // Refreshed ahead of time, so that a reconnect never waits for the provider.
  private schedule(token: string): void {
    clearTimeout(this.timer);
    const expiry = tokenExpiry(token);
    if (expiry === undefined) return;
    const delay = Math.max(1_000, expiry - Date.now() - this.marginMs);
    this.timer = setTimeout(() => this.refresh('expiring').catch(this.onError), Math.min(delay, 2 ** 31 - 1));
    (this.timer as { unref?: () => void }).unref?.();
  }
}

export type TokenRefreshReason = 'initial' | 'expiring' | 'unauthorized';
