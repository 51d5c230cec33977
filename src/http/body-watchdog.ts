import type { IncomingMessage } from 'node:http';
import { AppError } from '../errors/app-error.js';

/** How fast a request body must arrive. */
export interface BodyPace {
  /** A body that brings nothing for this long is cut; also the window `minBytesPerSecond` is averaged over. */
  idleTimeoutMs: number;
  /** Least rate over each `idleTimeoutMs` (0: none). */
  minBytesPerSecond: number;
}

/** A running watch over one request's body. */
export interface BodyWatch {
  /** Rejects with a 408 AppError (`body_idle` or `body_too_slow`) when the body falls behind; never resolves. */
  readonly tripped: Promise<never>;
  /** Ends the watch (the body arrived, or the request ended otherwise). */
  stop(): void;
}

/** Checks per window: how soon after falling behind a body is cut. */
const CHECKS_PER_WINDOW = 10;

/**
 * Watches a request body arrive, so that a client trickling it (or sending nothing after
 * the headers) cannot hold an upload slot, a connection and a spool file for the whole
 * HTTP_REQUEST_TIMEOUT_MS. Bytes are counted on the socket (`bytesRead`), which adds no
 * reader to the body, and time the server itself holds the body back (backpressure: the
 * request paused) does not count against the client. Once the body is complete the watch
 * ends: what the server does with it after is not the client's time.
 */
export function watchBody(request: IncomingMessage, pace: BodyPace): BodyWatch {
  const socket = request.socket;
  const windowMs = pace.idleTimeoutMs;
  let trip: (error: AppError) => void = () => undefined;
  const tripped = new Promise<never>((_resolve, reject) => {
    trip = reject;
  });
  // Unobserved until the route races it; a rejection nobody awaits is not an error here.
  tripped.catch(() => undefined);
  /** Bytes read at moments within the last window, oldest first. */
  let samples = [{ at: performance.now(), bytes: socket.bytesRead }];
  let lastProgress = samples[0] as { at: number; bytes: number };

  const check = () => {
    if (request.complete || request.destroyed) {
      stop();
      return;
    }
    const now = performance.now();
    const bytes = socket.bytesRead;
    if (request.readableFlowing === false) {
      // Held back by the server: the window starts again once it reads on.
      samples = [{ at: now, bytes }];
      lastProgress = { at: now, bytes };
      return;
    }
    if (bytes > lastProgress.bytes) lastProgress = { at: now, bytes };
    samples.push({ at: now, bytes });
    while (samples.length > 1 && (samples[1] as { at: number }).at <= now - windowMs) samples.shift();
    const oldest = samples[0] as { at: number; bytes: number };
    if (now - lastProgress.at >= windowMs) {
      stop();
      trip(
        AppError.because('body_idle', {
          message: `the request body sent nothing for ${windowMs} ms and was cut`,
          details: { idleTimeoutMs: windowMs },
        }),
      );
    } else if (
      pace.minBytesPerSecond > 0 &&
      now - oldest.at >= windowMs &&
      bytes - oldest.bytes < (pace.minBytesPerSecond * (now - oldest.at)) / 1000
    ) {
      stop();
      trip(
        AppError.because('body_too_slow', {
          message: `the request body arrived slower than ${pace.minBytesPerSecond} bytes per second and was cut`,
          details: { minBytesPerSecond: pace.minBytesPerSecond, windowMs },
        }),
      );
    }
  };
  const timer = setInterval(check, Math.max(20, Math.floor(windowMs / CHECKS_PER_WINDOW)));
  timer.unref();
  const stop = () => clearInterval(timer);
  return { tripped, stop };
}
