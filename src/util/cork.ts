import type { Writable } from 'node:stream';

/** Streams held during this turn; one setImmediate lets them all go. */
let held = new Set<Writable>();

function releaseHeld(): void {
  const streams = held;
  held = new Set();
  for (const stream of streams) stream.uncork();
}

/**
 * Holds the stream's writes until the current turn of the event loop ends, so that
 * everything written during the turn leaves in one write syscall. On a busy node a syscall
 * per frame or command is most of what a socket costs (on loopback the sender even pays for
 * the receiver's TCP work). Calling it again in the same turn does nothing; a stream that
 * ends or is destroyed meanwhile is not harmed (`end()` flushes corked data).
 */
export function holdWritesForTurn(stream: Writable): void {
  if (held.has(stream) || stream.destroyed) return;
  if (held.size === 0) setImmediate(releaseHeld);
  held.add(stream);
  stream.cork();
}

/** Every write to `stream` from now on is held for the rest of its turn (see `holdWritesForTurn`). */
export function coalesceWritesPerTurn(stream: Writable): void {
  const write = stream.write;
  stream.write = function (this: Writable, ...args: Parameters<Writable['write']>) {
    holdWritesForTurn(stream);
    return write.apply(this, args);
  } as Writable['write'];
}
