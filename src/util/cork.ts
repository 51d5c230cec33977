import type { Writable } from 'node:stream';

const held = new WeakSet<Writable>();

/**
 * Holds the stream's writes until the current turn of the event loop ends, so that
 * everything written during the turn leaves in one write syscall. On a busy node a syscall
 * per frame or command is most of what a socket costs (on loopback the sender even pays for
 * the receiver's TCP work). Calling it again in the same turn does nothing; a stream that
 * ends or is destroyed meanwhile is not harmed (`end()` flushes corked data).
 */
export function holdWritesForTurn(stream: Writable): void {
  if (held.has(stream) || stream.destroyed) return;
  held.add(stream);
  stream.cork();
  setImmediate(() => {
    held.delete(stream);
    stream.uncork();
  });
}

/** Every write to `stream` from now on is held for the rest of its turn (see `holdWritesForTurn`). */
export function coalesceWritesPerTurn(stream: Writable): void {
  const write = stream.write;
  stream.write = function (this: Writable, ...args: Parameters<Writable['write']>) {
    holdWritesForTurn(stream);
    return write.apply(this, args);
  } as Writable['write'];
}
