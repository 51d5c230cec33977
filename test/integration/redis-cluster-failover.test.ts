import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import { request } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';
import { tempDir } from '../helpers/env.js';
import { type PrivateRedis, redisCli, startPrivateRedis } from '../helpers/redis-server.js';

// A Redis Cluster of three masters with a replica each, of its own (the shared test cluster
// has no replicas), and two nodes on it. A master is killed under load: its replica takes
// over, and the nodes carry on through ioredis' redirections.
const PASSWORD = 'failover-test-only';

const cli = (port: number, ...args: string[]) => redisCli(port, PASSWORD, ...args);

describe('a Redis Cluster master fails over under load (two nodes)', () => {
  const servers: PrivateRedis[] = [];
  let cluster: TestCluster;

  beforeAll(async () => {
    const dir = tempDir('vh-redis-failover-');
    for (let i = 0; i < 6; i++) {
      const home = path.join(dir, String(i));
      mkdirSync(home);
      servers.push(await startPrivateRedis({ password: PASSWORD, clusterHome: home }));
    }
    const created = spawnSync(
      'redis-cli',
      [
        '-a',
        PASSWORD,
        '--no-auth-warning',
        '--cluster',
        'create',
        ...servers.map((s) => `127.0.0.1:${s.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { encoding: 'utf8' },
    );
    expect(created.status, created.stdout + created.stderr).toBe(0);
    await eventually(
      () => servers.forEach((s) => expect(cli(s.port, 'cluster', 'info')).toContain('cluster_state:ok')),
      20_000,
    );
    const nodes = servers
      .slice(0, 3)
      .map((s) => `redis://:${PASSWORD}@127.0.0.1:${s.port}`)
      .join(',');
    process.env['REDIS_CLUSTER_NODES'] = nodes;
    try {
      cluster = await TestCluster.start(2);
    } finally {
      delete process.env['REDIS_CLUSTER_NODES'];
    }
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    for (const s of servers) s.stop();
  });

  it('loses no acked message and delivers in order once a replica has taken over', async () => {
    const owner = await cluster.user();
    const sender = await cluster.connect(0, owner);
    const sessionId = await cluster.session(sender);
    const watcher = await cluster.connect(1, owner);
    expect((await request(watcher, 'session:join', { sessionId })).ok).toBe(true);
    const seen = collect<{ message: Message }>(watcher, 'message:new');

    // A good client: every message is sent until acked, with its clientMsgId.
    const acked = new Map<string, number>();
    const send = async (clientMsgId: string): Promise<void> => {
      for (;;) {
        const answer = await request<{ message: Message }>(sender, 'message:send', {
          sessionId,
          clientMsgId,
          content: clientMsgId,
        });
        if (answer.ok) {
          acked.set(clientMsgId, answer.data.message.seq);
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    for (let i = 0; i < 20; i++) await send(`before-${i}`);

    // Kill the master that owns the slot of the session's ordered channel (sharded pub/sub).
    const slot = Number(cli(servers[0]!.port, 'cluster', 'keyslot', `vh:msg:${sessionId}`).trim());
    const slotOwner = cli(servers[0]!.port, 'cluster', 'nodes')
      .split('\n')
      .find(
        (line) =>
          line.includes('master') &&
          line
            .split(' ')
            .slice(8)
            .some((range) => {
              const [from, to = from] = range.split('-').map(Number);
              return from !== undefined && slot >= from && slot <= (to ?? from);
            }),
      );
    const victimPort = Number(/127\.0\.0\.1:(\d+)@/.exec(slotOwner ?? '')?.[1]);
    const victim = servers.find((s) => s.port === victimPort)!;
    const survivor = servers.find((s) => s !== victim)!;
    victim.stop();
    // Messages keep going while the cluster notices and promotes the replica.
    // Settled either way, so that a failover that never comes fails the test here rather than
    // leaving the loop below running and the rejection unhandled.
    let settled = false;
    const failover = eventually(() => {
      const lines = cli(survivor.port, 'cluster', 'nodes').split('\n');
      expect(lines.find((line) => line.includes(`:${victimPort}@`))).toContain('fail');
      expect(lines.filter((line) => line.includes('master') && !line.includes('fail'))).toHaveLength(3);
      expect(cli(survivor.port, 'cluster', 'info')).toContain('cluster_state:ok');
    }, 20_000).finally(() => {
      settled = true;
    });
    failover.catch(() => {});
    let during = 0;
    while (!settled) {
      await send(`during-${during++}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await failover;
    for (let i = 0; i < 20; i++) await send(`after-${i}`);

    // Every acked message is stored once, under its acked seq, with no gap.
    const total = 40 + during;
    const { rows: stored } = await cluster
      .sql()
      .query<{ seq: string; client_msg_id: string }>(
        'select seq, client_msg_id from messages where session_id = $1 order by seq',
        [sessionId],
      );
    expect(during).toBeGreaterThan(0);
    expect(stored.map((m) => Number(m.seq))).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    for (const m of stored) expect(acked.get(m.client_msg_id)).toBe(Number(m.seq));
    // The watcher on the other node hears the messages after the failover, in order.
    await eventually(() => expect(seen.map((s) => s.message.clientMsgId)).toContain('after-19'), 20_000);
    const seqs = seen.map((s) => s.message.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
  }, 90_000);
});
