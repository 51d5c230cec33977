import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodes } from '../../protocol/errors.js';
import { payloadSchemas } from '../../protocol/schemas.js';
import { request, type TestSocket } from '../helpers/client.js';
import { TestCluster } from '../helpers/cluster.js';

// Random payloads at every event (session:create aside: an empty payload is a valid
// request and creates a session). The node must answer each with an envelope, stay up,
// and store nothing but what it acknowledged as a success.
describe('fuzzing every event', () => {
  let cluster: TestCluster;
  let socket: TestSocket;
  let userId: string;
  let sessionId: string;

  beforeAll(async () => {
    cluster = await TestCluster.start(1);
    const user = await cluster.user();
    userId = user.id;
    socket = await cluster.connect(0, user);
    sessionId = await cluster.session(socket);
  });
  afterAll(() => cluster?.stop());

  const events = [
    ...Object.keys(payloadSchemas).filter((e) => e !== 'session:create'),
    'no:such-event',
    '__proto__',
    'constructor',
  ];

  it('answers every random payload with a well-formed envelope and stores only what it accepted', async () => {
    const payload = fc.oneof(
      fc.anything({ withNullPrototype: true, withObjectString: true, maxDepth: 3 }),
      fc.record(
        {
          sessionId: fc.oneof(fc.constant(sessionId), fc.uuid(), fc.string()),
          clientMsgId: fc.string({ maxLength: 80 }),
          content: fc.oneof(fc.string(), fc.integer(), fc.constant('\u0000'), fc.constant('\uD800')),
          streamId: fc.string({ maxLength: 70 }),
          index: fc.oneof(fc.integer(), fc.double()),
          delta: fc.string(),
          role: fc.string(),
          metadata: fc.anything({ maxDepth: 2 }),
          sinceSeq: fc.oneof(fc.integer(), fc.string()),
        },
        { requiredKeys: [] },
      ),
    );
    let acceptedMessages = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...events), payload, async (event, body) => {
        const ack = await request(socket, event, body);
        expect(typeof ack.ok).toBe('boolean');
        if (!ack.ok) expect(errorCodes).toContain(ack.error.code);
        else if (event === 'message:send') acceptedMessages++;
      }),
      { numRuns: 300 },
    );
    expect(await request(socket, 'sys:ping')).toMatchObject({ ok: true });
    expect((await fetch(`${cluster.urls[0]}/healthz`)).status).toBe(200);
    const pool = cluster.sql();
    const sessions = await pool?.query('select count(*)::int as n from sessions where user_id = $1', [userId]);
    expect(sessions?.rows[0].n).toBe(1);
    const messages = await pool?.query('select count(*)::int as n from messages where session_id = $1', [sessionId]);
    expect(messages?.rows[0].n).toBeLessThanOrEqual(acceptedMessages);
  }, 60_000);
});
