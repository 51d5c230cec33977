import { io as connect } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HelloEvent } from '../../protocol/events.js';
import { PROTOCOL_VERSION } from '../../protocol/models.js';
import { request } from '../helpers/client.js';
import { TestCluster } from '../helpers/cluster.js';

describe('the protocol version (two nodes)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  it('is 7, told in sys:hello right after the handshake and in every sys:ping ack, by every node', async () => {
    expect(PROTOCOL_VERSION).toBe(7);
    const user = await cluster.user();
    for (const [index, url] of cluster.urls.entries()) {
      const socket = connect(url, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        auth: { token: user.token },
      });
      const hello = await new Promise<HelloEvent>((resolve, reject) => {
        socket.once('sys:hello', resolve);
        socket.once('connect_error', reject);
      });
      expect(hello).toEqual({ protocolVersion: 7, nodeId: cluster.nodes[index]?.config.nodeId });
      expect(await request(socket, 'sys:ping')).toMatchObject({
        ok: true,
        data: { protocolVersion: 7, nodeId: hello.nodeId },
      });
      socket.close();
    }
  });
});
