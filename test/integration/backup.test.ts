import { createCipheriv, createHash, randomBytes, randomUUID, scryptSync } from 'node:crypto';
import { cp, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HarnessNeo4j } from '../../chaos/services.js';
import type { App } from '../../src/app.js';
import { BackupScheduler } from '../../src/backup/schedule.js';
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

/** `manifest.json` as a test reads and edits it. */
interface ManifestJson {
  formatVersion: number;
  id: string;
  createdAt: string;
  encryption: { cipher: string; kdf: string; salt: string } | null;
  parts: { postgres: { tables: Record<string, { rows: number; file: string }> } };
  files: Array<{ name: string; bytes: number; sha256: string }>;
  mac?: { alg: string; value: string };
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** The canonical form the format documents (docs/operations.md): sorted keys, no whitespace. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/**
 * Edits the manifest of a backup directory as anyone who can write the location can: the
 * change itself, then, where the manifest carries a bare SHA-256 (an unencrypted backup),
 * that checksum recomputed. An HMAC cannot be recomputed without the key, so it stays.
 */
async function editManifest(
  backup: string,
  edit: (manifest: ManifestJson) => void | Promise<void>,
  options: { recomputeChecksum: boolean } = { recomputeChecksum: true },
): Promise<void> {
  const file = path.join(backup, 'manifest.json');
  const manifest = JSON.parse(await readFile(file, 'utf8')) as ManifestJson;
  await edit(manifest);
  if (options.recomputeChecksum && manifest.mac?.alg === 'sha256') {
    const { mac: _mac, ...rest } = manifest;
    manifest.mac = { alg: 'sha256', value: sha256(canonical(rest)) };
  }
  await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Sets the manifest's entry of `name` to the size and SHA-256 of what the directory now holds under it. */
async function remeasure(backup: string, manifest: ManifestJson, name: string): Promise<void> {
  const bytes = await readFile(path.join(backup, name));
  const entry = manifest.files.find((f) => f.name === name);
  if (entry === undefined) throw new Error(`no ${name} in the manifest`);
  entry.bytes = bytes.length;
  entry.sha256 = sha256(bytes);
}

/** The time a backup id names, as a manifest's createdAt. */
function timeOf(id: string): string {
  const [, y, mo, d, h, mi, s] = /^vh-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id) as RegExpExecArray;
  return `${y}-${mo}-${d}T${h}:${mi}:${s}.000Z`;
}

/** A copy of a backup under the same id in a location of its own. */
async function duplicate(backup: string): Promise<string> {
  const copy = path.join(tempDir('vh-copy-'), path.basename(backup));
  await cp(backup, copy, { recursive: true });
  return copy;
}

/**
 * A copy of a backup under another id (in `into`, default a location of its own): renamed
 * only, or with the id and time inside its manifest rewritten to match (a replay, or a
 * forgery made from a real backup).
 */
async function copyAs(backup: string, id: string, rewrite: boolean, into = tempDir('vh-copy-')): Promise<string> {
  const copy = path.join(into, id);
  await cp(backup, copy, { recursive: true });
  if (rewrite)
    await editManifest(copy, (m) => {
      m.id = id;
      m.createdAt = timeOf(id);
    });
  return copy;
}

/** The tables of a deployment's database (empty: nothing was restored into it). */
async function tablesOf(env: Record<string, string>): Promise<string[]> {
  return (
    await query<{ tablename: string }>(
      env['DATABASE_URL'] as string,
      "select tablename from pg_tables where schemaname = 'public'",
    )
  ).map((r) => r.tablename);
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
    idleTimeoutMs: 30_000,
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
  const store = new Neo4jGraphStore({ uri, user: 'neo4j', password: 'unused', retryMs: 10_000 });
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
    // A session its agent's worker holds: restored, it waits for a worker of the cluster it
    // is restored into (the registrations are live state, left out of the backup).
    const worker = await cluster.connect(0, await cluster.user('service'));
    expect(await request(worker, 'agent:register', { agent: 'librarian' })).toMatchObject({ ok: true });
    expect(await request(socket, 'session:create', { title: 'helped', agent: 'librarian' })).toMatchObject({
      ok: true,
      data: { session: { agent: 'librarian', agentStatus: { state: 'assigned' } } },
    });
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
    expect(await runCli(['backup', 'verify', backup], source)).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('manifest authenticated'),
    });

    // The pictures to compare with, then the source goes away (its Neo4j is emptied for the restore).
    const tables = Object.keys(manifest.parts.postgres.tables);
    expect(tables).toContain('agent_assignments');
    expect(tables).not.toContain('agent_workers');
    const before = new Map<string, string[]>();
    for (const table of tables) before.set(table, await rowsOf(sourceDb, table));
    const objectsBefore = await objectDigests(source);
    const graphBefore = await graphPicture(neo4j.uri);
    expect(graphBefore.length).toBeGreaterThan(5);
    await cluster.stop();
    const wipe = new Neo4jGraphStore({ uri: neo4j.uri, user: 'neo4j', password: 'unused', retryMs: 10_000 });
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
      (await readFile(manifestPath, 'utf8')).replace('"formatVersion": 2', '"formatVersion": 9'),
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
      } else if (table === 'agent_assignments') {
        // Every restored assignment waits, since when the restore ran; the rest is as backed up.
        const waiting = (rows: string[], reset: boolean) =>
          rows.map((row) => {
            const { waiting_since: _since, ...rest } = JSON.parse(row) as Record<string, unknown>;
            return reset ? { ...rest, worker_id: null, released_by: null } : rest;
          });
        expect(before.get(table)?.some((row) => JSON.parse(row).worker_id !== null)).toBe(true);
        expect(waiting(after, false)).toEqual(waiting(before.get(table) ?? [], true));
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
    expect(await runCli(['backup', 'verify', `${location}/${manifest.id}`], plain)).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('UNAUTHENTICATED'),
    });
    expect((await runCli(['backup', 'create', '--to', 's3:/nope'], plain)).code).toBe(2);
    expect((await runCli(['backup', 'create'], plain)).code).toBe(2);
  });

  it('prunes backups older than the retention that verify, and keeps the rest', async () => {
    const dir = tempDir('vh-prune-');
    const old = 'vh-20200101T000000Z';
    await cp(path.join(backups, backupId), path.join(dir, backupId), { recursive: true });
    // A copy renamed to an old id is a replay, not a backup of that date: left alone, and said so.
    await cp(path.join(backups, backupId), path.join(dir, old), { recursive: true });
    const pruned = await runCli(['backup', 'prune', '--from', dir, '--keep-days', '30'], source);
    expect(pruned).toMatchObject({
      code: 0,
      stdout: `skipped ${old}: manifest.json names another backup (${backupId})\n`,
    });
    const listed = async () =>
      (await runCli(['backup', 'list', '--from', dir, '--json'], source)).stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { id: string });
    expect(await listed()).toEqual([
      expect.objectContaining({ id: old, state: `manifest.json names another backup (${backupId})` }),
      expect.objectContaining({ id: backupId, state: 'ok', encrypted: true, authenticated: true }),
    ]);
    // Past a retention of zero days, the real one goes.
    expect((await runCli(['backup', 'prune', '--from', dir, '--keep-days', '0'], source)).stdout.split('\n')[0]).toBe(
      `removed ${backupId}`,
    );
    expect((await listed()).map((b) => b.id)).toEqual([old]);
  });

  it('takes the daily scheduled backup once across two nodes, and prunes past BACKUP_KEEP_DAYS', {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir('vh-scheduled-');
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
      // One the schedule took in October, past BACKUP_KEEP_DAYS by December.
      expect(await a.tick(new Date('2026-10-15T02:01:00Z'))).toBe('taken');
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
  it('the schedule ignores a backup dated in the future and one that does not verify, logs them once, and is not stuck', {
    timeout: 90_000,
  }, async () => {
    const app = restored?.nodes[0] as App;
    const dir = tempDir('vh-schedule-trust-');
    const logged: Array<{ msg: string; backup?: string; reason?: string }> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const scheduler = (encryptionKey: string | undefined) =>
      new BackupScheduler(
        app.stores,
        { ...app.config, backup: { target: dir, encryptionKey, schedule: '02:00', keepDays: 30 } },
        logger,
      );
    const ignored = (id: string) =>
      logged
        .filter((line) => line.backup === id && line.msg === 'backup schedule: ignored a backup it cannot trust')
        .map((line) => line.reason);

    const plain = scheduler(undefined);
    // A backup the schedule took, for the forgeries to start from.
    expect(await plain.tick(new Date('2026-11-20T02:01:00Z'))).toBe('taken');
    const genuine = path.join(dir, 'vh-20261120T020100Z');
    // Dated 2099, its checksum recomputed: taken at face value, it would stand for every day to come.
    await copyAs(genuine, 'vh-20991231T000000Z', true, dir);
    // Dated today, its manifest edited without recomputing the checksum.
    const tampered = await copyAs(genuine, 'vh-20261201T020030Z', true, dir);
    await editManifest(
      tampered,
      (m) => {
        (m.parts.postgres.tables['users'] as { rows: number }).rows += 1;
      },
      { recomputeChecksum: false },
    );

    expect(await plain.tick(new Date('2026-12-01T02:01:00Z'))).toBe('taken');
    expect(await plain.tick(new Date('2026-12-01T02:05:00Z'))).toBe('taken-already');
    expect(ignored('vh-20991231T000000Z')).toEqual([expect.stringContaining('dated in the future')]);
    expect(ignored('vh-20261201T020030Z')).toEqual([expect.stringContaining('does not match its checksum')]);

    // With BACKUP_ENCRYPTION_KEY, the day's backup in plain text (the one just taken) does not count either.
    const keyed = scheduler(KEY);
    expect(await keyed.tick(new Date('2026-12-01T02:10:00Z'))).toBe('taken');
    expect(ignored('vh-20261201T020100Z')).toEqual([expect.stringContaining('not encrypted')]);
    expect(await keyed.tick(new Date('2026-12-01T02:11:00Z'))).toBe('taken-already');
    expect(await keyed.tick(new Date('2026-12-02T02:00:00Z'))).toBe('taken');
    // Neither prune took the backups it cannot trust.
    const left = (await runCli(['backup', 'list', '--from', dir, '--json'], target)).stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; authenticated: boolean | null });
    expect(left.map((b) => b.id)).toEqual([
      'vh-20261120T020100Z',
      'vh-20261201T020030Z',
      'vh-20261201T020100Z',
      'vh-20261201T021000Z',
      'vh-20261202T020000Z',
      'vh-20991231T000000Z',
    ]);
    expect(left.filter((b) => b.authenticated).map((b) => b.id)).toEqual([
      'vh-20261201T021000Z',
      'vh-20261202T020000Z',
    ]);
  });
});

/**
 * A deployment that only the CLI runs on: a database, bucket, collection and Redis namespace
 * of its own, and the graph in PostgreSQL (no Neo4j), so that restores into it are quick.
 */
async function smallDeployment(): Promise<Record<string, string>> {
  const {
    NODE_ID: _node,
    NEO4J_URI: _uri,
    NEO4J_USER: _user,
    NEO4J_PASSWORD: _password,
    ...env
  } = clusterEnv({
    DATABASE_URL: await freshDatabase(),
    S3_BUCKET: `vh-${randomUUID().slice(0, 12)}`,
    BACKUP_ENCRYPTION_KEY: KEY,
  });
  return env;
}

/**
 * What whoever can write the backup location (a bucket every node has credentials for) can
 * do, and what a restore makes of it. Every backup here is made, checked and restored by the
 * CLI as its own process; the attacks are edits of the files in the location.
 */
describe('backups are authenticated, not only encrypted', () => {
  let source: Record<string, string>;
  let keyless: Record<string, string>;
  /** Two encrypted backups and one in plain text, made by the CLI. */
  let encrypted: string;
  let second: string;
  let plain: string;

  beforeAll(async () => {
    source = await smallDeployment();
    keyless = { ...source, BACKUP_ENCRYPTION_KEY: '' };
    expect((await runCli(['migrate', 'up'], source)).code).toBe(0);
    const admin = await runCli(
      ['users', 'create', '--email', 'admin@example.test', '--role', 'admin'],
      source,
      'admin password 1\n',
    );
    expect(admin.code, admin.stderr).toBe(0);
    const dir = tempDir('vh-authenticated-');
    const made = async (env: Record<string, string>) => {
      const created = await runCli(['backup', 'create', '--to', dir, '--json'], env);
      expect(created.code, created.stderr).toBe(0);
      return path.join(dir, (JSON.parse(created.stdout) as ManifestJson).id);
    };
    encrypted = await made(source);
    second = await made(source);
    plain = await made(keyless);
  }, 120_000);

  it('with BACKUP_ENCRYPTION_KEY set, refuses a backup in plain text, forged or not, with exit 4 and why', {
    timeout: 60_000,
  }, async () => {
    // A plaintext backup with the attacker's rows (here: another admin's email) and matching checksums.
    const forged = await copyAs(plain, 'vh-20261130T120000Z', true);
    const users = path.join(forged, 'postgres', 'users.copy');
    await writeFile(users, (await readFile(users, 'utf8')).replace('admin@example.test', 'mallory@example.test'));
    await editManifest(forged, (m) => remeasure(forged, m, 'postgres/users.copy'));

    expect(await runCli(['backup', 'verify', forged], source)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('not encrypted, so nothing proves who wrote it'),
    });
    const target = await smallDeployment();
    for (const flags of [[], ['--allow-unauthenticated']])
      expect(await runCli(['backup', 'restore', forged, ...flags], target)).toMatchObject({
        code: 4,
        stderr: expect.stringContaining('BACKUP_ENCRYPTION_KEY set'),
      });
    expect(await tablesOf(target)).toEqual([]);
    // A real plaintext backup is refused the same way: nothing tells it from a forged one.
    expect((await runCli(['backup', 'verify', plain], source)).code).toBe(4);
    expect(await runCli(['backup', 'verify', encrypted], source)).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('manifest authenticated'),
    });
  });

  it('refuses a file moved to another name or taken from another backup, even with the manifest made to match', async () => {
    const swapped = await duplicate(encrypted);
    const [a, b] = ['postgres/users.copy', 'postgres/audit_logs.copy'].map((name) => path.join(swapped, name)) as [
      string,
      string,
    ];
    const [bytesA, bytesB] = [await readFile(a), await readFile(b)];
    await writeFile(a, bytesB);
    await writeFile(b, bytesA);
    await editManifest(swapped, async (m) => {
      await remeasure(swapped, m, 'postgres/users.copy');
      await remeasure(swapped, m, 'postgres/audit_logs.copy');
    });
    expect(await runCli(['backup', 'verify', swapped], source)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('does not authenticate'),
    });

    const transplanted = await duplicate(encrypted);
    await cp(path.join(second, 'postgres', 'users.copy'), path.join(transplanted, 'postgres', 'users.copy'));
    await editManifest(transplanted, (m) => remeasure(transplanted, m, 'postgres/users.copy'));
    expect((await runCli(['backup', 'verify', transplanted], source)).code).toBe(4);
    // Without the manifest edit the checksum already tells.
    const moved = await duplicate(encrypted);
    await cp(path.join(second, 'postgres', 'users.copy'), path.join(moved, 'postgres', 'users.copy'));
    expect(await runCli(['backup', 'verify', moved], source)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('postgres/users.copy'),
    });
  });

  it('refuses a manifest whose row count or checksum was edited, and restores nothing', {
    timeout: 60_000,
  }, async () => {
    const rows = await duplicate(encrypted);
    await editManifest(rows, (m) => {
      (m.parts.postgres.tables['users'] as { rows: number }).rows += 1;
    });
    expect(await runCli(['backup', 'verify', rows], source)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('manifest.json does not authenticate'),
    });
    const target = await smallDeployment();
    expect((await runCli(['backup', 'restore', rows], target)).code).toBe(4);
    expect(await tablesOf(target)).toEqual([]);

    const checksum = await duplicate(encrypted);
    await editManifest(checksum, (m) => {
      (m.files[0] as { sha256: string }).sha256 = '0'.repeat(64);
    });
    expect(await runCli(['backup', 'verify', checksum], source)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('manifest.json does not authenticate'),
    });
    // In plain text the checksum of the manifest shows an edit made without recomputing it.
    const careless = await duplicate(plain);
    await editManifest(
      careless,
      (m) => {
        (m.parts.postgres.tables['users'] as { rows: number }).rows += 1;
      },
      { recomputeChecksum: false },
    );
    expect(await runCli(['backup', 'verify', careless], keyless)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('does not match its checksum'),
    });
  });

  it('refuses a backup renamed to another id, with or without the id inside rewritten', async () => {
    const renamed = await copyAs(encrypted, 'vh-20261205T000000Z', false);
    expect(await runCli(['backup', 'verify', renamed], source)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('names another backup'),
    });
    const rewritten = await copyAs(encrypted, 'vh-20261205T000000Z', true);
    expect(await runCli(['backup', 'verify', rewritten], source)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('manifest.json does not authenticate'),
    });
    // The id alone rewritten: the time inside no longer matches it.
    const halfway = await copyAs(encrypted, 'vh-20261205T000000Z', false);
    await editManifest(halfway, (m) => {
      m.id = 'vh-20261205T000000Z';
    });
    expect(await runCli(['backup', 'verify', halfway], source)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('not when its id says'),
    });
  });

  it('without a key, verify calls a backup unauthenticated and restore takes it only with --allow-unauthenticated', {
    timeout: 90_000,
  }, async () => {
    expect(await runCli(['backup', 'verify', plain], keyless)).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('UNAUTHENTICATED'),
    });
    const target: Record<string, string> = { ...(await smallDeployment()), BACKUP_ENCRYPTION_KEY: '' };
    const refused = await runCli(['backup', 'restore', plain], target);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('the backup is unauthenticated');
    expect(refused.stderr).toContain('--allow-unauthenticated');
    expect(await tablesOf(target)).toEqual([]);

    const accepted = await runCli(['backup', 'restore', plain, '--allow-unauthenticated', '--json'], target);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(JSON.parse(accepted.stdout)).toMatchObject({ id: path.basename(plain) });
    expect(await rowsOf(target['DATABASE_URL'] as string, 'users')).toEqual([
      expect.stringContaining('admin@example.test'),
    ]);
    const audit = await query<{ details: { authentication: string } }>(
      target['DATABASE_URL'] as string,
      "select details from audit_logs where action = 'backup.restore'",
    );
    expect(audit.map((row) => row.details.authentication)).toEqual(['checksum-only']);
  });

  it('reads backups of format 1 as unauthenticated: restored with their key and --allow-unauthenticated only', {
    timeout: 90_000,
  }, async () => {
    // Format 1 as the previous server wrote it: no mac, files encrypted without associated data.
    const legacyPlain = await duplicate(plain);
    await editManifest(legacyPlain, (m) => {
      m.formatVersion = 1;
      delete m.mac;
    });
    const legacy = await duplicate(plain);
    const salt = randomBytes(16);
    const key = scryptSync(KEY, salt, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    await editManifest(legacy, async (m) => {
      m.formatVersion = 1;
      delete m.mac;
      m.encryption = { cipher: 'aes-256-gcm', kdf: 'scrypt', salt: salt.toString('base64') };
      for (const { name } of m.files) {
        const iv = randomBytes(12);
        const cipher = createCipheriv('aes-256-gcm', key, iv);
        const clear = await readFile(path.join(legacy, name));
        const sealed = Buffer.concat([Buffer.from('VHB1'), iv, cipher.update(clear), cipher.final()]);
        await writeFile(path.join(legacy, name), Buffer.concat([sealed, cipher.getAuthTag()]));
        await remeasure(legacy, m, name);
      }
    });

    expect(await runCli(['backup', 'verify', legacy], source)).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/UNAUTHENTICATED: it is of format 1/),
    });
    expect(await runCli(['backup', 'verify', legacyPlain], source)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('not encrypted'),
    });
    expect(await runCli(['backup', 'verify', legacyPlain], keyless)).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('UNAUTHENTICATED'),
    });
    const target = await smallDeployment();
    expect(await runCli(['backup', 'restore', legacy], target)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('--allow-unauthenticated'),
    });
    expect(await tablesOf(target)).toEqual([]);
    const restored = await runCli(['backup', 'restore', legacy, '--allow-unauthenticated'], target);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await rowsOf(target['DATABASE_URL'] as string, 'users')).toEqual([
      expect.stringContaining('admin@example.test'),
    ]);
  });

  it('prunes only backups that verify, and reports the ones dated in the future, unfinished or untrusted', async () => {
    const dir = tempDir('vh-prune-trust-');
    await cp(encrypted, path.join(dir, path.basename(encrypted)), { recursive: true });
    await cp(plain, path.join(dir, path.basename(plain)), { recursive: true });
    // A forged backup dated 2099, whose checksum matches: no retention would ever reach it.
    await copyAs(plain, 'vh-20991231T000000Z', true, dir);
    // An unfinished one: files, no manifest.
    await mkdir(path.join(dir, 'vh-20200101T000000Z', 'postgres'), { recursive: true });
    await writeFile(path.join(dir, 'vh-20200101T000000Z', 'postgres', 'users.copy'), 'partial');

    const withKey = await runCli(['backup', 'prune', '--from', dir, '--keep-days', '0'], source);
    expect(withKey.code, withKey.stderr).toBe(0);
    expect(withKey.stdout.trim().split('\n')).toEqual([
      `removed ${path.basename(encrypted)}`,
      expect.stringMatching(/^skipped vh-20200101T000000Z: manifest.json is missing/),
      `skipped ${path.basename(plain)}: the backup is not encrypted, so nothing proves who wrote it, and with BACKUP_ENCRYPTION_KEY set only encrypted backups whose manifest authenticates are accepted`,
      expect.stringMatching(/^skipped vh-20991231T000000Z: dated in the future/),
    ]);
    const withoutKey = await runCli(['backup', 'prune', '--from', dir, '--keep-days', '0'], keyless);
    expect(withoutKey.stdout).toContain(`removed ${path.basename(plain)}\n`);
    expect(withoutKey.stdout).toMatch(/skipped vh-20991231T000000Z: dated in the future/);
    const left = (await runCli(['backup', 'list', '--from', dir, '--json'], source)).stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { id: string }).id);
    expect(left).toEqual(['vh-20200101T000000Z', 'vh-20991231T000000Z']);
  });
});
