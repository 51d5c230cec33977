import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/stores/postgres/migrator.js';
import { maintainPartitions } from '../../src/stores/postgres/partitions.js';
import { AccessChangeRepository } from '../../src/stores/postgres/repositories/access-changes.js';
import { ApiKeyRepository } from '../../src/stores/postgres/repositories/api-keys.js';
import { AuditLog } from '../../src/stores/postgres/repositories/audit.js';
import { ConfigRepository } from '../../src/stores/postgres/repositories/configs.js';
import { DocumentRepository } from '../../src/stores/postgres/repositories/documents.js';
import { ErasureRepository } from '../../src/stores/postgres/repositories/erasures.js';
import { RefreshTokenRepository } from '../../src/stores/postgres/repositories/refresh-tokens.js';
import { SessionRepository } from '../../src/stores/postgres/repositories/sessions.js';
import { primaryRole, UserRepository } from '../../src/stores/postgres/repositories/users.js';
import { testPool } from '../helpers/database.js';
import { serviceEnv, testLogger } from '../helpers/env.js';

describe('repositories (real PostgreSQL)', () => {
  let pool: pg.Pool;
  let users: UserRepository;
  let sessions: SessionRepository;
  let documents: DocumentRepository;
  let configs: ConfigRepository;
  let audit: AuditLog;
  const email = () => `${randomUUID()}@Example.test`;

  beforeAll(async () => {
    pool = testPool(serviceEnv().DATABASE_URL, 4);
    await migrate(pool, testLogger());
    await maintainPartitions(pool, { monthsAhead: 1, retentionMonths: 0 }, testLogger());
    users = new UserRepository(pool);
    sessions = new SessionRepository(pool);
    documents = new DocumentRepository(pool);
    configs = new ConfigRepository(pool);
    audit = new AuditLog(pool, testLogger());
  });
  afterAll(() => pool.end());

  describe('users and roles', () => {
    it('creates a user with the user role and finds it by id and by email, case-insensitively', async () => {
      const address = email();
      const user = await users.create({ email: address, username: 'ana', passwordHash: 'hash' });
      expect(user).toMatchObject({ email: address, username: 'ana', roles: ['user'], status: 'active' });
      expect((await users.getByEmail(address.toUpperCase()))?.id).toBe(user.id);
      expect(await users.getById('not-a-uuid')).toBeUndefined();
    });

    it('refuses a second account with the same email in any case with CONFLICT', async () => {
      const address = email();
      await users.create({ email: address, username: 'a', passwordHash: 'h' });
      await expect(
        users.create({ email: address.toLowerCase(), username: 'b', passwordHash: 'h' }),
      ).rejects.toMatchObject({
        code: 'CONFLICT',
      });
    });

    it('replaces roles, always keeping user, and reports the strongest', async () => {
      const admin = await users.create({ email: email(), username: 'root', passwordHash: 'h' });
      const worker = await users.create({ email: email(), username: 'asr', passwordHash: 'h' });
      expect(await users.setRoles(worker.id, ['service'], admin.id)).toEqual({
        roles: ['service', 'user'],
        version: 2,
      });
      expect((await users.getById(worker.id))?.roles).toEqual(['service', 'user']);
      expect(primaryRole(['service', 'user'])).toBe('service');
      expect(await users.setRoles(worker.id, [], admin.id)).toEqual({ roles: ['user'], version: 3 });
      await expect(users.setRoles(randomUUID(), ['admin'], null)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });

  describe('sessions', () => {
    it('creates, updates and lists newest-updated first with a cursor', async () => {
      const owner = await users.create({ email: email(), username: 's', passwordHash: 'h' });
      const created = [];
      for (let i = 0; i < 5; i++)
        created.push(await sessions.create({ userId: owner.id, title: `s${i}`, context: { i } }));
      await sessions.update(created[1]?.id as string, {
        title: 'renamed',
        status: 'archived',
        metadata: { pinned: true },
      });
      const first = await sessions.list(owner.id, { limit: 2 });
      expect(first.sessions.map((s) => s.title)).toEqual(['renamed', 's4']);
      expect(first.nextCursor).not.toBeNull();
      const second = await sessions.list(owner.id, { limit: 10, cursor: first.nextCursor as string });
      expect(second.sessions.map((s) => s.title)).toEqual(['s3', 's2', 's0']);
      expect(second.nextCursor).toBeNull();
      const archived = await sessions.list(owner.id, { limit: 10, status: 'archived' });
      expect(archived.sessions).toHaveLength(1);
      expect(archived.sessions[0]).toMatchObject({
        status: 'archived',
        metadata: { pinned: true },
        context: { i: 1 },
        lastSeq: 0,
      });
      await expect(sessions.list(owner.id, { limit: 2, cursor: 'garbage' })).rejects.toMatchObject({
        code: 'VALIDATION',
      });
      await expect(sessions.update(randomUUID(), { title: 'x' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });

  describe('documents and chunks', () => {
    it('creates, chunks, sets status, lists and deletes with its chunks', async () => {
      const owner = await users.create({ email: email(), username: 'd', passwordHash: 'h' });
      const doc = await documents.create({
        userId: owner.id,
        title: 'AI',
        filePath: 'documents/x/y.txt',
        fileSize: 10,
        mimeType: 'text/plain',
      });
      expect(doc.status).toBe('processing');
      const chunks = await documents.replaceChunks(doc.id, [
        { content: '人工智能', chunkIndex: 0, tokenCount: 4 },
        { content: 'machine learning', chunkIndex: 1, tokenCount: 2 },
      ]);
      expect(chunks.map((c) => c.chunkIndex)).toEqual([0, 1]);
      expect((await documents.setStatus(doc.id, 'ready')).chunkCount).toBe(2);
      expect((await documents.list(owner.id, { limit: 10 })).documents.map((d) => d.id)).toEqual([doc.id]);
      expect(await documents.delete(doc.id)).toBe(true);
      expect(await documents.chunks(doc.id)).toEqual([]);
      expect(await documents.delete(doc.id)).toBe(false);
    });
  });

  describe('system configs', () => {
    it('stores JSON values and replaces them', async () => {
      const key = `test.${randomUUID()}`;
      await configs.put(key, { limit: 20, windowMs: 10_000 }, { description: 'send limit' });
      const replaced = await configs.put(key, { limit: 5, windowMs: 10_000 });
      expect(replaced).toMatchObject({ key, value: { limit: 5, windowMs: 10_000 }, description: 'send limit' });
      expect((await configs.get(key))?.value).toEqual({ limit: 5, windowMs: 10_000 });
      expect(await configs.get(`missing.${randomUUID()}`)).toBeUndefined();
    });
  });

  describe('audit log', () => {
    it('records in one line and queries by user, action and time range with a cursor', async () => {
      const actor = await users.create({ email: email(), username: 'auditor', passwordHash: 'h' });
      const action = `test.${randomUUID().slice(0, 8)}`;
      const started = new Date(Date.now() - 1000);
      for (let i = 0; i < 5; i++) {
        await audit.record(
          { userId: actor.id, ip: '10.0.0.1', userAgent: 'vitest' },
          { action, resourceType: 'session', resourceId: `r${i}`, details: { i } },
        );
      }
      await audit.record({ userId: null, ip: 'not an ip' }, { action, resourceType: 'system' });
      const page1 = await audit.query({ userId: actor.id, action, from: started, limit: 3 });
      expect(page1.entries.map((e) => e.resourceId)).toEqual(['r4', 'r3', 'r2']);
      expect(page1.entries[0]).toMatchObject({
        ip: '10.0.0.1',
        userAgent: 'vitest',
        details: { i: 4 },
        resourceType: 'session',
      });
      const page2 = await audit.query({ userId: actor.id, action, cursor: page1.nextCursor as string, limit: 3 });
      expect(page2.entries.map((e) => e.resourceId)).toEqual(['r1', 'r0']);
      expect(page2.nextCursor).toBeNull();
      expect((await audit.query({ action, limit: 50 })).entries).toHaveLength(6);
      expect((await audit.query({ action, to: started })).entries).toHaveLength(0);
      const partition = await pool.query<{ part: string }>(
        'select tableoid::regclass::text as part from audit_logs where action = $1 limit 1',
        [action],
      );
      expect(partition.rows[0]?.part).toMatch(/^audit_logs_p\d{4}_\d{2}$/);
    });
  });

  describe('changes of access', () => {
    it('reads the users changed, erasures started and families revoked since a time, and which families are revoked', async () => {
      const changes = new AccessChangeRepository(pool);
      const tokens = new RefreshTokenRepository(pool);
      const keys = new ApiKeyRepository(pool);
      const { readAt: before } = await changes.since(undefined, 60);
      const [changed, untouched, erased] = [
        await users.create({ email: email(), username: 'changed', passwordHash: 'h' }),
        await users.create({ email: email(), username: 'untouched', passwordHash: 'h' }),
        await users.create({ email: email(), username: 'erased', passwordHash: 'h' }),
      ];
      await users.setRoles(changed.id, ['admin'], null);
      await new ErasureRepository(pool).start(erased.id, null);
      const token = (familyId: string) => ({
        id: randomUUID(),
        userId: untouched.id,
        familyId,
        hash: Buffer.from('h'),
        ttlSeconds: 60,
      });
      const [loggedOut, rotated] = [randomUUID(), randomUUID()];
      const first = token(loggedOut);
      await tokens.insert(first);
      await tokens.revokeFamilyOf(first.id, first.hash);
      const second = token(rotated);
      await tokens.insert(second);
      expect(
        await tokens.rotate(second.id, () => true, { id: randomUUID(), hash: Buffer.from('n'), ttlSeconds: 60 }),
      ).toMatchObject({
        outcome: 'rotated',
      });
      const key = await keys.create({
        id: randomUUID(),
        userId: untouched.id,
        name: 'k',
        hash: Buffer.from('h'),
        createdBy: null,
      });
      await keys.revoke(key.id);

      const read = await changes.since(before, 60);
      expect(read.readAt.getTime()).toBeGreaterThanOrEqual(before.getTime());
      expect(read.users).toContainEqual({ id: changed.id, version: 2 });
      expect(read.users.map((u) => u.id)).not.toContain(untouched.id);
      expect(read.erased).toContain(erased.id);
      expect(read.families).toEqual(expect.arrayContaining([loggedOut, key.id]));
      expect(read.families).not.toContain(rotated);
      const later = await changes.since(new Date(read.readAt.getTime() + 1000), 60);
      expect(later.users.map((u) => u.id)).not.toContain(changed.id);
      expect(later.families).not.toContain(loggedOut);

      expect(await changes.revokedAmong([loggedOut, rotated, key.id, randomUUID(), 'not-a-uuid'])).toEqual(
        new Set([loggedOut, key.id]),
      );
      expect(await changes.revokedAmong([])).toEqual(new Set());
    });
  });
});
