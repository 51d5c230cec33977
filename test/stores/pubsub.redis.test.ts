import { afterAll, describe, expect, it } from 'vitest';
import { RedisPubSub } from '../../src/stores/pubsub/redis-pubsub.js';
import { createRedis } from '../../src/stores/redis/connection.js';
import { pubSubContract } from '../contract/pubsub.contract.js';
import { eventually } from '../helpers/cluster.js';
import { serviceEnv, testLogger, uniqueName } from '../helpers/env.js';

const node = (name: string, channelPrefix?: string) => {
  const url = serviceEnv().REDIS_URL;
  return new RedisPubSub(
    {
      publisher: createRedis(url, testLogger(), `${name}-pub`, { offlineQueue: true }),
      subscriber: createRedis(url, testLogger(), `${name}-sub`, { offlineQueue: true }),
      ...(channelPrefix === undefined ? {} : { channelPrefix }),
    },
    { timeoutMs: 2_000, sharded: false },
  );
};

pubSubContract({
  name: 'Redis (two connections pairs, as two nodes)',
  create: async () => [node('a'), node('b')],
});

pubSubContract({
  name: 'Redis in a namespace (two connection pairs, as two nodes of one deployment)',
  create: async () => {
    const prefix = `${uniqueName('ns')}:`;
    return [node('a', prefix), node('b', prefix)];
  },
});

describe('Redis pub/sub namespaces', () => {
  const nodes: RedisPubSub[] = [];
  afterAll(() => Promise.all(nodes.map((n) => n.close())));

  it('keeps deployments on one Redis apart: a channel of one namespace is not heard in another or in none', async () => {
    const [first, other, none] = [node('first', 'first-ns:'), node('other', 'other-ns:'), node('none')];
    const sameDeployment = node('first-2', 'first-ns:');
    nodes.push(first, other, none, sameDeployment);
    const channel = uniqueName('channel');
    const heard: Record<string, string[]> = { same: [], other: [], none: [] };
    await sameDeployment.subscribe(channel, (m) => heard['same']?.push(m));
    await other.subscribe(channel, (m) => heard['other']?.push(m));
    await none.subscribe(channel, (m) => heard['none']?.push(m));
    await first.publish(channel, 'hello');
    await eventually(() => expect(heard['same']).toEqual(['hello']));
    // Redis sends a subscriber connection its messages in the order they were published: a
    // marker published in each namespace after the first message arrives after it would have.
    await other.publish(channel, 'marker');
    await none.publish(channel, 'marker');
    await eventually(() => expect(heard['other']).toEqual(['marker']));
    await eventually(() => expect(heard['none']).toEqual(['marker']));
    expect(heard['same']).toEqual(['hello']);
  });
});
