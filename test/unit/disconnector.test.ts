import { describe, expect, it } from 'vitest';
import { Disconnector, type SocketOwner } from '../../src/services/disconnector.js';
import { channels } from '../../src/stores/names.js';
import { MemoryPubSub } from '../../src/stores/pubsub/memory-pubsub.js';
import { testLogger } from '../helpers/env.js';

describe('the disconnector on the bus', () => {
  it('ends sockets for requests of this release and of the previous one, and drops what it cannot read', async () => {
    const pubsub = new MemoryPubSub();
    const ended: SocketOwner[] = [];
    const stop = await new Disconnector(pubsub, testLogger()).listen((owner) => ended.push(owner));
    const notice = { reason: 'logged_out', reconnect: false };
    // Malformed for this version: dropped, and the node goes on (a throw here would be uncaught).
    await pubsub.publish(channels.disconnect, JSON.stringify({ notice }));
    await pubsub.publish(channels.disconnect, 'not json');
    await pubsub.publish(channels.disconnect, JSON.stringify({ room: 'user:u1', notice }));
    await pubsub.publish(channels.disconnect, JSON.stringify({ room: 'family:f1', notice }));
    await pubsub.publish(channels.disconnect, JSON.stringify({ owner: { userId: 'u2' }, notice }));
    await expect.poll(() => ended.length).toBe(3);
    expect(ended).toEqual([{ userId: 'u1' }, { familyId: 'f1' }, { userId: 'u2' }]);
    await stop();
  });

  it('tells nodes of the previous release by room too', async () => {
    const pubsub = new MemoryPubSub();
    const heard: unknown[] = [];
    await pubsub.subscribe(channels.disconnect, (raw) => heard.push(JSON.parse(raw)));
    await new Disconnector(pubsub, testLogger()).family('f9');
    await expect.poll(() => heard.length).toBe(1);
    expect(heard[0]).toMatchObject({ owner: { familyId: 'f9' }, room: 'family:f9', notice: { reason: 'logged_out' } });
  });
});
