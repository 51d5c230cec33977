import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { cp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HarnessNeo4j } from '../../chaos/services.js';
import type { App } from '../../src/app.js';
import type { GraphDumpRecord } from '../../src/stores/graph/graph-store.js';
import { Neo4jGraphStore } from '../../src/stores/graph/neo4j-graph-store.js';
import { S3ObjectStore } from '../../src/stores/objects/s3-object-store.js';
import { maintainPartitions } from '../../src/stores/postgres/partitions.js';
import { runCli } from '../helpers/cli.js';
import { request, type TestSocket } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { freshDatabase } from '../helpers/database.js';
import { clusterEnv, serviceEnv, tempDir, testLogger, uniqueName } from '../helpers/env.js';
import { call, documentForm } from '../helpers/http.js';

const KEY = 'backup passphrase for the test only';

/**
 * A `retrieve` answer with every part in it: on a loaded machine the graph part can miss
 * RETRIEVE_TIMEOUT_MS (the answer then says `degraded`), which is not what this test is about.
 */
async function undegraded(socket: TestSocket, question: Record<string, unknown>) {
  let answer: Awaited<ReturnType<typeof request<{ chunks: unknown[]; entities: unknown[]; degraded?: string[] }>>>;
  await eventually(async () => {
    answer = await request(socket, 'retrieve', question);
    expect(answer).toMatchObject({ ok: true });
    expect(answer.ok && answer.data.degraded).toBeUndefined();
  }, 30_000);
  return answer!;
}

/**
 * The stores of one deployment: a database, a Redis namespace (from clusterEnv), a bucket and
 * a collection of its own (and the Neo4j below). Its nodes and the CLI runs against it share
 * them (the cluster-wide backup lock is in that namespace), as a deployment's do.
 */
async function deployment(neo4jUri: string): Promise<Record<string, string>> {
  const { NODE_ID: _node, ...env } = clusterEnv({
    DATABASE_URL: await freshDatabase(),
    S3_BUCKET: `vh-${randomUUID().slice(0, 12)}`,
    MILVUS_COLLECTION: uniqueName('chunks'),
    INGEST_QUEUE: uniqueName('ingest'),
    NEO4J_URI: neo4jUri,
    NEO4J_PASSWORD: 'unused',
    BACKUP_ENCRYPTION_KEY: KEY,
  });
  return env;
}

/** Every row of a table, as sorted JSON texts (a comparable picture of its contents). */
async function rowsOf(url: string, table: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ row: string }>(
      `select row_to_json(t)::text as row from ${pg.escapeIdentifier(table)} t`,
    );
    return result.rows.map((r) => r.row).sort();
  } finally {
    await client.end();
  }
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** SHA-256 of every object of a bucket, by key. */
async function objectDigests(env: Record<string, string>): Promise<Map<string, string>> {
  const endpoint = new URL(serviceEnv().S3_ENDPOINT);
  const store = new S3ObjectStore({
    endPoint: endpoint.hostname,
    port: Number(endpoint.port),
    useSSL: false,
    accessKey: serviceEnv().S3_ACCESS_KEY,
    secretKey: serviceEnv().S3_SECRET_KEY,
    bucket: env['S3_BUCKET'] as string,
    region: 'us-east-1',
  });
  const digests = new Map<string, string>();
  for (const object of await store.list('')) {
    const hash = createHash('sha256');
    for await (const part of await store.get(object.key)) hash.update(part as Buffer);
    digests.set(object.key, hash.digest('hex'));
  }
  return digests;
}

/** The whole graph of a Neo4j as sorted JSON records. */
async function graphPicture(uri: string): Promise<string[]> {
  const store = new Neo4jGraphStore({ uri, user: 'neo4j', password: 'unused' });
  const records: string[] = [];
  try {
    for await (const record of store.dump.export() as AsyncIterable<GraphDumpRecord>)
      records.push(
        JSON.stringify(record, Object.keys(record).sort()) + JSON.stringify(Object.entries(record.properties).sort()),
      );
  } finally {
    await store.close();
  }
  return records.sort();
}

/**
 * Backup and restore of all five stores: filled through the public API, backed up with the
 * CLI while messages keep arriving, restored into a new database, bucket and collection and
 * an emptied Neo4j, then compared row by row, byte by byte, and answer by answer.
 */
describe('backup and restore of all five stores', () => {
  let neo4j: HarnessNeo4j;
  let source: Record<string, string>;
  let target: Record<string, string>;
  let cluster: TestCluster;
  let restored: TestCluster | undefined;
  let backups: string;
  let backupId = '';

  beforeAll(async () => {
    neo4j = await HarnessNeo4j.create(path.join(tempDir(), 'neo4j'));
    source = await deployment(neo4j.uri);
    target = await deployment(neo4j.uri);
    backups = tempDir('vh-backups-');
    cluster = await TestCluster.start(1, source);
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
    await restored?.stop();
    await neo4j?.stop();
  });

  it('round-trips users, sessions, messages in two monthly partitions, documents, vectors, graph, audio and keys under live traffic', {
    timeout: 240_000,
  }, async () => {
    const url = cluster.urls[0] as string;
    const sourceDb = source['DATABASE_URL'] as string;

    // Fill every store through the public interfaces.
    const registered = await call(url, 'POST', '/v1/auth/register', {
      body: { email: 'ada@example.test', username: 'ada', password: 'ada password 1' },
    });
    expect(registered.status).toBe(201);
    const ada = { id: registered.body['user'].id as string, token: registered.body['accessToken'] as string };
    expect(
      (
        await runCli(
          ['users', 'create', '--email', 'worker@example.test', '--role', 'service'],
          source,
          'worker password\n',
        )
      ).code,
    ).toBe(0);
    const key = (
      await runCli(['keys', 'create', '--user', 'worker@example.test', '--name', 'llm'], source)
    ).stdout.trim();
    const upload = await call(url, 'POST', '/v1/documents', {
      token: ada.token,
      form: documentForm(
        'Ada Lovelace worked with Charles Babbage on the Analytical Engine. Babbage designed the Difference Engine in London.',
        'engines.txt',
      ),
    });
    const documentId = upload.body['document'].id as string;
    await eventually(
      async () =>
        expect(
          (await call(url, 'GET', `/v1/documents/${documentId}`, { token: ada.token })).body['document'].status,
        ).toBe('ready'),
      60_000,
    );
    // A document the snapshot will catch mid-ingestion (no job of it is left in the source's queue).
    const unfinished = await call(url, 'POST', '/v1/documents', {
      token: ada.token,
      form: documentForm('Grace Hopper wrote the first compiler.', 'hopper.txt'),
    });
    const unfinishedId = unfinished.body['document'].id as string;
    await eventually(
      async () =>
        expect(
          (await call(url, 'GET', `/v1/documents/${unfinishedId}`, { token: ada.token })).body['document'].status,
        ).toBe('ready'),
      60_000,
    );
    await cluster.sql().query("update documents set status = 'processing' where id = $1", [unfinishedId]);
    const made = await call(url, 'POST', '/v1/graph/entities', {
      token: ada.token,
      body: { name: 'Poetical Science', type: 'concept' },
    });
    const entities = await call(url, 'GET', '/v1/graph/entities?q=Babbage', { token: ada.token });
    const babbage = entities.body['entities'][0].id as string;
    expect(
      (
        await call(url, 'POST', '/v1/graph/relations', {
          token: ada.token,
          body: { from: made.body['entity'].id, to: babbage, type: 'inspired' },
        })
      ).status,
    ).toBe(201);

    const socket: TestSocket = await cluster.connect(0, ada);
    const quiet = await cluster.session(socket, 'quiet');
    for (let i = 1; i <= 5; i++)
      expect(
        await request(socket, 'message:send', { sessionId: quiet, clientMsgId: `q-${i}`, content: `message ${i}` }),
      ).toMatchObject({ ok: true });
    await request(socket, 'audio:start', { sessionId: quiet, streamId: 'mic', mimeType: 'audio/webm' });
    await request(socket, 'audio:chunk', { streamId: 'mic', index: 0, data: randomBytes(4096) });
    expect(
      await request(socket, 'audio:end', { streamId: 'mic', clientMsgId: 'voice', transcript: 'spoken' }),
    ).toMatchObject({ ok: true });
    // The first three messages move to last month: two monthly partitions hold the session.
    await cluster
      .sql()
      .query("update messages set created_at = created_at - interval '1 month' where session_id = $1 and seq <= 3", [
        quiet,
      ]);
    await maintainPartitions(cluster.sql(), { monthsAhead: 1, retentionMonths: 0 }, testLogger());
    const partitions = async (url: string) =>
      (
        await query<{ part: string }>(
          url,
          "select distinct tableoid::regclass::text as part from messages where tableoid::regclass::text <> 'messages_default'",
        )
      ).length;
    expect(await partitions(sourceDb)).toBe(2);

    const question = {
      query: 'Who designed the Difference Engine?',
      topK: 3,
      graphDepth: 2,
      documentIds: [documentId],
    };
    const retrieveBefore = await undegraded(socket, question);
    expect(retrieveBefore).toMatchObject({
      ok: true,
      data: { chunks: [expect.anything()], entities: expect.arrayContaining([expect.anything()]) },
    });
    const neighboursBefore = (await call(url, 'GET', `/v1/graph/entities/${babbage}/neighbors`, { token: ada.token }))
      .body;
    expect(neighboursBefore['neighbors']).toEqual(expect.arrayContaining([expect.anything()]));

    // Live traffic on another session while the backup runs.
    const busy = await cluster.session(socket, 'busy');
    let sending = true;
    let sent = 0;
    const traffic = (async () => {
      while (sending) {
        const ack = await request(socket, 'message:send', {
          sessionId: busy,
          clientMsgId: `b-${sent}`,
          content: `live ${sent}`,
        });
        if (ack.ok) sent++;
      }
    })();
    await eventually(() => expect(sent).toBeGreaterThan(20));
    const created = await runCli(['backup', 'create', '--to', backups, '--json'], source);
    sending = false;
    await traffic;
    expect(created.code).toBe(0);
    const manifest = JSON.parse(created.stdout) as {
      id: string;
      encryption: unknown;
      parts: { postgres: { tables: Record<string, { rows: number }> }; objects: { count: number } };
    };
    expect(manifest.encryption).not.toBeNull();
    expect(manifest.parts.objects.count).toBe(3);
    const backup = path.join(backups, manifest.id);
    backupId = manifest.id;
    expect(await runCli(['backup', 'list', '--from', backups], source)).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(manifest.id),
    });
    expect(await runCli(['backup', 'verify', backup], source)).toMatchObject({ code: 0 });

    // The pictures to compare with, then the source goes away (its Neo4j is emptied for the restore).
    const tables = Object.keys(manifest.parts.postgres.tables);
    const before = new Map<string, string[]>();
    for (const table of tables) before.set(table, await rowsOf(sourceDb, table));
    const objectsBefore = await objectDigests(source);
    const graphBefore = await graphPicture(neo4j.uri);
    expect(graphBefore.length).toBeGreaterThan(5);
    await cluster.stop();
    const wipe = new Neo4jGraphStore({ uri: neo4j.uri, user: 'neo4j', password: 'unused' });
    await wipe.run('write', 'MATCH (n) DETACH DELETE n');
    await wipe.close();

    // A damaged backup is refused, naming the file, and nothing is restored.
    const damaged = path.join(tempDir('vh-damaged-'), manifest.id);
    await cp(backup, damaged, { recursive: true });
    await truncate(path.join(damaged, 'postgres', 'users.copy'), 10);
    const refused = await runCli(['backup', 'restore', damaged], target);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('postgres/users.copy');
    await rm(path.join(damaged, 'postgres', 'sessions.copy'));
    expect((await runCli(['backup', 'verify', damaged], target)).code).toBe(4);
    const manifestPath = path.join(damaged, 'manifest.json');
    await writeFile(
      manifestPath,
      (await readFile(manifestPath, 'utf8')).replace('"formatVersion": 1', '"formatVersion": 9'),
    );
    expect(await runCli(['backup', 'verify', damaged], target)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('formatVersion'),
    });
    await writeFile(manifestPath, '{ not json');
    expect(await runCli(['backup', 'verify', damaged], target)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('not JSON'),
    });
    expect(
      await runCli(['backup', 'verify', backup], {
        ...target,
        BACKUP_ENCRYPTION_KEY: 'a wrong passphrase, long enough',
      }),
    ).toMatchObject({ code: 4 });
    expect(await runCli(['backup', 'verify', backup], { ...target, BACKUP_ENCRYPTION_KEY: '' })).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('BACKUP_ENCRYPTION_KEY'),
    });
    expect(
      await query(target['DATABASE_URL'] as string, "select 1 from pg_tables where schemaname = 'public'"),
    ).toEqual([]);

    // The restore, into a new database, bucket and collection and the emptied Neo4j.
    const restore = await runCli(['backup', 'restore', backup, '--into-empty-only', '--json'], target);
    expect(restore.stderr).not.toContain('error');
    expect(restore.code).toBe(0);
    expect(JSON.parse(restore.stdout)).toMatchObject({
      id: manifest.id,
      objects: 3,
      vectors: expect.any(Number),
      requeued: 1,
    });
    expect((await runCli(['backup', 'restore', backup], target)).code).toBe(4);

    // Row by row: equal except the live session, whose restored messages are the snapshot's (a gapless prefix of the source's).
    const targetDb = target['DATABASE_URL'] as string;
    for (const table of tables) {
      const after = await rowsOf(targetDb, table);
      if (table === 'messages' || table === 'sessions' || table === 'audit_logs') {
        const known = new Set(before.get(table));
        const extra = after.filter((row) => !known.has(row));
        if (table === 'messages') expect(extra).toEqual([]);
        if (table === 'sessions') expect(extra.filter((row) => JSON.parse(row).id !== busy)).toEqual([]);
        if (table === 'audit_logs') expect(extra.map((row) => JSON.parse(row).action)).toEqual(['backup.restore']);
      } else {
        expect(after, table).toEqual(before.get(table));
      }
      expect(after.length, table).toBe(
        (manifest.parts.postgres.tables[table]?.rows ?? 0) + (table === 'audit_logs' ? 1 : 0),
      );
    }
    const seqs = await query<{ session_id: string; n: string; top: string }>(
      targetDb,
      'select session_id, count(*) as n, max(seq) as top from messages group by session_id',
    );
    for (const row of seqs) expect(row.n).toBe(row.top);
    const live = await query<{ last_seq: string }>(targetDb, 'select last_seq from sessions where id = $1', [busy]);
    expect(Number(live[0]?.last_seq)).toBe(Number(seqs.find((r) => r.session_id === busy)?.top));
    expect(await partitions(targetDb)).toBe(2);

    // Objects byte for byte, the graph record for record.
    expect(await objectDigests(target)).toEqual(objectsBefore);
    expect(await graphPicture(neo4j.uri)).toEqual(graphBefore);

    // A node on the restored stores gives the same answers and takes the same credentials.
    const { NODE_ID: _n, DATA_DIR: _d, ...restoredEnv } = target;
    restored = await TestCluster.start(1, restoredEnv);
    const again = restored.urls[0] as string;
    const login = await call(again, 'POST', '/v1/auth/login', {
      body: { email: 'ada@example.test', password: 'ada password 1' },
    });
    expect(login.status).toBe(200);
    const token = login.body['accessToken'] as string;
    const client = await restored.connect(0, { token });
    expect(await undegraded(client, question)).toMatchObject({
      ok: true,
      data: {
        chunks: (retrieveBefore as { data: { chunks: unknown[] } }).data.chunks,
        entities: (retrieveBefore as { data: { entities: unknown[] } }).data.entities,
      },
    });
    expect((await call(again, 'GET', `/v1/graph/entities/${babbage}/neighbors`, { token })).body).toEqual(
      neighboursBefore,
    );
    expect((await call(again, 'POST', '/v1/auth/token', { body: { apiKey: key } })).status).toBe(200);
    // The restore queued the unfinished document again: the restored node ingests it.
    await eventually(
      async () =>
        expect((await call(again, 'GET', `/v1/documents/${unfinishedId}`, { token })).body['document'].status).toBe(
          'ready',
        ),
      60_000,
    );
    const found = await request<{ chunks: Array<{ documentId: string }> }>(client, 'retrieve', {
      query: 'first compiler',
      documentIds: [unfinishedId],
      graphDepth: 0,
    });
    expect(found.ok && found.data.chunks[0]?.documentId).toBe(unfinishedId);
    const joined = await request<{ messages: Array<{ seq: number; contentType: string }> }>(client, 'session:join', {
      sessionId: quiet,
      sinceSeq: 0,
    });
    expect(joined.ok && joined.data.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    const audio = joined.ok ? joined.data.messages[5] : undefined;
    expect(audio?.contentType).toBe('audio');
    const played = await request<{ url: string }>(client, 'audio:url', {
      messageId: (audio as unknown as { id: string }).id,
    });
    expect(played.ok).toBe(true);
    const bytes = Buffer.from(await (await fetch((played as { data: { url: string } }).data.url)).arrayBuffer());
    expect(bytes.length).toBe(4096);
  });

  it('backs up to s3://bucket/prefix in plain text, one backup at a time across the cluster', async () => {
    const plain = { ...target, BACKUP_ENCRYPTION_KEY: '' };
    const location = `s3://vh-backups-${randomUUID().slice(0, 8)}/nightly`;
    // Another backup (here: this process) holds the cluster lock.
    let release = () => undefined as void;
    let holding = () => undefined as void;
    const acquired = new Promise<void>((resolve) => (holding = resolve));
    const held = (restored!.nodes[0] as App).stores.locks.using('backup', 60_000, async () => {
      holding();
      await new Promise<void>((resolve) => (release = resolve));
    });
    await acquired;
    expect(await runCli(['backup', 'create', '--to', location], plain)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('another backup is running'),
    });
    release();
    await held;
    const made = await runCli(['backup', 'create', '--to', location, '--json'], plain);
    expect(made.code).toBe(0);
    const manifest = JSON.parse(made.stdout) as { id: string; encryption: unknown };
    expect(manifest.encryption).toBeNull();
    expect(await runCli(['backup', 'list', '--from', location, '--json'], plain)).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`"id":"${manifest.id}"`),
    });
    expect(await runCli(['backup', 'verify', `${location}/${manifest.id}`], plain)).toMatchObject({ code: 0 });
    expect((await runCli(['backup', 'create', '--to', 's3:/nope'], plain)).code).toBe(2);
    expect((await runCli(['backup', 'create'], plain)).code).toBe(2);
  });

  it('prunes backups older than the retention and keeps the rest', async () => {
    const dir = tempDir('vh-prune-');
    const old = 'vh-20200101T000000Z';
    await cp(path.join(backups, backupId), path.join(dir, backupId), { recursive: true });
    await cp(path.join(backups, backupId), path.join(dir, old), { recursive: true });
    const pruned = await runCli(['backup', 'prune', '--from', dir, '--keep-days', '30'], source);
    expect(pruned).toMatchObject({ code: 0, stdout: `removed ${old}\n` });
    const listed = (await runCli(['backup', 'list', '--from', dir, '--json'], source)).stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(listed).toEqual([expect.objectContaining({ id: backupId, state: 'ok', encrypted: true })]);
  });

  it('takes the daily scheduled backup once across two nodes, and prunes past BACKUP_KEEP_DAYS', {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir('vh-scheduled-');
    await cp(path.join(backups, backupId), path.join(dir, 'vh-20200101T000000Z'), { recursive: true });
    const { NODE_ID: _n, DATA_DIR: _d, ...shared } = target;
    const scheduled = await TestCluster.start(2, {
      ...shared,
      BACKUP_SCHEDULE: '02:00',
      BACKUP_TARGET: dir,
      BACKUP_ENCRYPTION_KEY: '',
      BACKUP_KEEP_DAYS: '30',
    });
    try {
      const [a, b] = scheduled.nodes.map((node) => node.backups) as [
        NonNullable<App['backups']>,
        NonNullable<App['backups']>,
      ];
      expect(
        await Promise.all([a.tick(new Date('2026-12-01T01:59:00Z')), b.tick(new Date('2026-12-01T01:59:00Z'))]),
      ).toEqual(['not-due', 'not-due']);
      const outcomes = await Promise.all([
        a.tick(new Date('2026-12-01T02:01:00Z')),
        b.tick(new Date('2026-12-01T02:01:30Z')),
      ]);
      expect(outcomes.filter((o) => o === 'taken')).toHaveLength(1);
      expect(outcomes.filter((o) => o !== 'taken').every((o) => o === 'busy' || o === 'taken-already')).toBe(true);
      const listed = (await runCli(['backup', 'list', '--from', dir, '--json'], target)).stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(listed).toEqual([
        expect.objectContaining({ id: expect.stringMatching(/^vh-20261201T0201/), state: 'ok', encrypted: false }),
      ]);
      expect(await b.tick(new Date('2026-12-01T02:05:00Z'))).toBe('taken-already');
      expect(await a.tick(new Date('2026-12-02T02:00:00Z'))).toBe('taken');
    } finally {
      await scheduled.stop();
    }
  });
});
