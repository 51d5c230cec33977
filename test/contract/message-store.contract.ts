import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppendInput, MessageStore } from '../../src/stores/messages/message-store.js';
import { PostgresMessageStore } from '../../src/stores/messages/postgres-message-store.js';
import { SessionRepository } from '../../src/stores/postgres/repositories/sessions.js';
import { UserRepository } from '../../src/stores/postgres/repositories/users.js';

/** How the message store's database is provided to the contract suite. */
export interface MessageStoreSuiteOptions {
  name: string;
  /** Two pools on one migrated database, as two nodes would have. */
  pools: () => Promise<[pg.Pool, pg.Pool]>;
  teardown?: () => Promise<void>;
}

const LIMITS = { maxContentBytes: 32 * 1024, maxMetadataBytes: 16 * 1024 };
const GROUP = { maxBatch: 64, maxWaitMs: 2, maxInFlight: 4 };

/** The guarantees of PROTOCOL section 4, enforced by the database. */
export function messageStoreContract(options: MessageStoreSuiteOptions): void {
  describe(`MessageStore contract: ${options.name}`, () => {
    let poolA: pg.Pool;
    let poolB: pg.Pool;
    let nodeA: MessageStore;
    let nodeB: MessageStore;
    let sessions: SessionRepository;
    let userId: string;

    const newSession = async () => (await sessions.create({ userId, title: 't' })).id;
    const input = (sessionId: string, clientMsgId: string, content = `hello ${clientMsgId}`): AppendInput => ({
      sessionId,
      senderId: userId,
      clientMsgId,
      role: 'user',
      content,
      contentType: 'text',
      metadata: {},
    });
    const countRows = async (sessionId: string) =>
      Number((await poolA.query('select count(*) as n from messages where session_id = $1', [sessionId])).rows[0].n);

    beforeAll(async () => {
      [poolA, poolB] = await options.pools();
      nodeA = new PostgresMessageStore(poolA, { groupCommit: GROUP, limits: LIMITS });
      nodeB = new PostgresMessageStore(poolB, { groupCommit: GROUP, limits: LIMITS });
      sessions = new SessionRepository(poolA);
      const user = await new UserRepository(poolA).create({
        email: `${randomUUID()}@example.test`,
        username: 'contract',
        passwordHash: 'not-a-real-hash',
      });
      userId = user.id;
    });
    afterAll(async () => {
      await nodeA.close();
      await nodeB.close();
      await options.teardown?.();
    });

    it('commits a message with every field and seq 1, then 2, 3 in order', async () => {
      const sessionId = await newSession();
      const first = await nodeA.append({
        ...input(sessionId, 'c1', '你好 🌍 voice'),
        role: 'user',
        contentType: 'transcript',
        metadata: { lang: 'zh', nested: { ok: true } },
        tokensUsed: 12,
        processingTimeMs: 340,
      });
      expect(first.duplicate).toBe(false);
      expect(first.message).toMatchObject({
        sessionId,
        seq: 1,
        role: 'user',
        content: '你好 🌍 voice',
        contentType: 'transcript',
        metadata: { lang: 'zh', nested: { ok: true } },
        clientMsgId: 'c1',
        tokensUsed: 12,
        processingTimeMs: 340,
      });
      expect(new Date(first.message.createdAt).toISOString()).toBe(first.message.createdAt);
      const second = await nodeB.append(input(sessionId, 'c2'));
      const third = await nodeA.append(input(sessionId, 'c3'));
      expect([second.message.seq, third.message.seq]).toEqual([2, 3]);
      expect((await sessions.get(sessionId))?.lastSeq).toBe(3);
    });

    it('acks a resend with the original message and stores nothing new', async () => {
      const sessionId = await newSession();
      const original = await nodeA.append(input(sessionId, 'same'));
      const resend = await nodeB.append(input(sessionId, 'same', 'different text this time'));
      expect(resend.duplicate).toBe(true);
      expect(resend.message).toEqual(original.message);
      expect(await countRows(sessionId)).toBe(1);
      expect(await nodeA.getByClientMsgId(sessionId, userId, 'same')).toEqual(original.message);
      expect(await nodeB.getById(original.message.id)).toEqual(original.message);
    });

    it('keeps the same clientMsgId apart in different sessions', async () => {
      const [s1, s2] = [await newSession(), await newSession()];
      const a = await nodeA.append(input(s1, 'shared'));
      const b = await nodeA.append(input(s2, 'shared'));
      expect(a.duplicate || b.duplicate).toBe(false);
      expect(a.message.id).not.toBe(b.message.id);
    });

    it('gives 500 concurrent sends from two nodes, 20% duplicates, seqs exactly 1..N with no error', async () => {
      const sessionId = await newSession();
      const distinct = 400;
      const sends = Array.from({ length: 500 }, (_, i) => {
        const id = i < distinct ? `m${i}` : `m${(i * 7) % distinct}`;
        return (i % 2 === 0 ? nodeA : nodeB).append(input(sessionId, id));
      });
      const results = await Promise.all(sends);
      const byClientId = new Map<string, number>();
      for (const { message } of results) {
        const seen = byClientId.get(message.clientMsgId ?? '');
        if (seen !== undefined) expect(message.seq).toBe(seen);
        byClientId.set(message.clientMsgId ?? '', message.seq);
      }
      expect(byClientId.size).toBe(distinct);
      expect([...byClientId.values()].sort((a, b) => a - b)).toEqual(Array.from({ length: distinct }, (_, i) => i + 1));
      expect(results.filter((r) => !r.duplicate)).toHaveLength(distinct);
      expect(await countRows(sessionId)).toBe(distinct);
      expect((await sessions.get(sessionId))?.lastSeq).toBe(distinct);
    });

    it('keeps every session gap-free when many sessions are written at once', async () => {
      const ids = await Promise.all(Array.from({ length: 20 }, () => newSession()));
      await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          (i % 3 === 0 ? nodeB : nodeA).append(input(ids[i % 20] as string, `k${i}`)),
        ),
      );
      for (const id of ids) {
        const page = await nodeA.since(id, 0, 100);
        expect(page.messages.map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      }
    });

    it('pages history backwards and catches up forwards, ascending, with hasMore', async () => {
      const sessionId = await newSession();
      for (let i = 0; i < 7; i++) await nodeA.append(input(sessionId, `p${i}`));
      const newest = await nodeA.pageBefore(sessionId, undefined, 3);
      expect(newest.messages.map((m) => m.seq)).toEqual([5, 6, 7]);
      expect(newest.hasMore).toBe(true);
      const older = await nodeA.pageBefore(sessionId, 5, 10);
      expect(older.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
      expect(older.hasMore).toBe(false);
      const since = await nodeB.since(sessionId, 2, 3);
      expect(since.messages.map((m) => m.seq)).toEqual([3, 4, 5]);
      expect(since.hasMore).toBe(true);
      expect((await nodeB.since(sessionId, 7, 10)).messages).toEqual([]);
    });

    it("moves a session's updated_at to the activity at most once a minute, alone or in a batch", async () => {
      const ids = [await newSession(), await newSession(), await newSession()];
      const updatedAt = async (id: string) =>
        new Date(
          (await poolA.query('select updated_at from sessions where id = $1', [id])).rows[0].updated_at as string,
        ).getTime();
      await poolA.query("update sessions set updated_at = now() - interval '2 minutes' where id = any($1::uuid[])", [
        ids,
      ]);
      const before = Date.now();
      // One alone, then two sent in the same turn (one batch).
      await nodeA.append(input(ids[0]!, 'u1'));
      await Promise.all([nodeA.append(input(ids[1]!, 'u1')), nodeA.append(input(ids[2]!, 'u1'))]);
      const moved = await Promise.all(ids.map(updatedAt));
      for (const t of moved) expect(t).toBeGreaterThan(before - 60_000);
      // Within the minute, more messages leave it where it is.
      await nodeA.append(input(ids[0]!, 'u2'));
      await Promise.all([nodeA.append(input(ids[1]!, 'u2')), nodeA.append(input(ids[2]!, 'u2'))]);
      expect(await Promise.all(ids.map(updatedAt))).toEqual(moved);
    });

    it('answers an unknown session with NOT_FOUND without failing the rest of its batch', async () => {
      const sessionId = await newSession();
      const [missing, ok] = await Promise.allSettled([
        nodeA.append(input(randomUUID(), 'x')),
        nodeA.append(input(sessionId, 'y')),
      ]);
      expect(missing).toMatchObject({ status: 'rejected', reason: { code: 'NOT_FOUND' } });
      expect(ok).toMatchObject({ status: 'fulfilled', value: { message: { seq: 1 } } });
      await expect(nodeA.append(input('not-a-uuid', 'z'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it.each([
      ['oversized content', { content: 'x'.repeat(32 * 1024 + 1) }, 'PAYLOAD_TOO_LARGE'],
      ['multi-byte content over the byte limit', { content: '语'.repeat(11_000) }, 'PAYLOAD_TOO_LARGE'],
      ['a lone surrogate', { content: 'bad \uD800 text' }, 'VALIDATION'],
      ['a NUL byte in content', { content: 'nul\u0000here' }, 'VALIDATION'],
      ['a NUL byte in metadata', { metadata: { k: 'v\u0000' } }, 'VALIDATION'],
      ['a lone surrogate in a metadata key', { metadata: { ['\uDC00']: 1 } }, 'VALIDATION'],
      ['an empty clientMsgId', { clientMsgId: '' }, 'VALIDATION'],
      ['a 65-character clientMsgId', { clientMsgId: 'c'.repeat(65) }, 'VALIDATION'],
      ['a negative token count', { tokensUsed: -1 }, 'VALIDATION'],
      ['an unknown role', { role: 'robot' }, 'VALIDATION'],
    ])('refuses %s with %s and writes nothing', async (_label, change, code) => {
      const sessionId = await newSession();
      await expect(
        nodeA.append({ ...input(sessionId, 'bad'), ...(change as Partial<AppendInput>) }),
      ).rejects.toMatchObject({ code });
      expect(await countRows(sessionId)).toBe(0);
      expect((await sessions.get(sessionId))?.lastSeq).toBe(0);
    });

    it('commits everything queued before close resolves', async () => {
      const sessionId = await newSession();
      const store = new PostgresMessageStore(poolB, { groupCommit: { ...GROUP, maxWaitMs: 50 }, limits: LIMITS });
      const pending = Array.from({ length: 30 }, (_, i) => store.append(input(sessionId, `q${i}`)));
      await store.close();
      expect((await Promise.all(pending)).map((r) => r.message.seq).sort((a, b) => a - b)).toHaveLength(30);
      expect(await countRows(sessionId)).toBe(30);
      await expect(store.append(input(sessionId, 'late'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    });
  });
}
