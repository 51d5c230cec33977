import { afterEach, describe, expect, it, vi } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import { AudioStreams } from '../../src/realtime/audio-streams.js';
import { MemoryCache } from '../../src/stores/cache/memory-cache.js';

const limits = {
  chunkMaxBytes: 1_000,
  streamMaxBytes: 1_000_000,
  streamTimeoutMs: 60_000,
  streamsPerSocket: 4,
  streamsPerUser: 8,
  nodeMaxBytes: 10_000_000,
};
const observer = { started: () => undefined, frame: () => undefined, ended: () => undefined };
const input = { sessionId: 'session', streamId: 'long', mimeType: 'audio/ogg' };

describe('audio stream ids', () => {
  afterEach(() => vi.useRealTimers());

  it('stay claimed in their session for as long as chunks keep the stream open, past the claim lifetime', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const claims = new MemoryCache();
    const streams = new AudioStreams(limits, { claims, nodeId: 'n', observer });
    await streams.open('speaker', 'user', 'user', input);
    // A chunk every 20 minutes, for longer than a claim lives (an hour). Only the clock moves:
    // the timeout sweep, a timer, does not run.
    for (let index = 0; index < 5; index++) {
      vi.setSystemTime(Date.now() + 20 * 60_000);
      streams.chunk('speaker', 'long', index, new Uint8Array([index]));
    }
    const refused = await streams.open('other', 'user', 'user', input).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('CONFLICT');
    streams.close();
  });
});
