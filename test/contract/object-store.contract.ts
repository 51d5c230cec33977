import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import type { ObjectStore } from '../../src/stores/objects/object-store.js';
import { uniqueName } from '../helpers/env.js';

/** How one ObjectStore implementation is created for the contract suite. */
export interface ObjectStoreSuiteOptions {
  name: string;
  /** A new store on its own bucket or directory (not yet initialised). */
  create: () => Promise<ObjectStore>;
  /** Called after the suite. */
  teardown?: () => Promise<void>;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

/** The behaviour every object store must have, run against each implementation. */
export function objectStoreContract(options: ObjectStoreSuiteOptions): void {
  describe(`ObjectStore contract: ${options.name}`, () => {
    let store: ObjectStore;
    const prefix = uniqueName('t');

    beforeAll(async () => {
      store = await options.create();
      await store.init();
      await store.init(); // idempotent
    });
    afterAll(async () => {
      await store.close();
      await options.teardown?.();
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('round-trips a buffer with its content type and metadata', async () => {
      const key = `${prefix}/hello.txt`;
      const body = Buffer.from('你好, voice');
      const put = await store.put(key, body, { contentType: 'text/plain', metadata: { sha256: 'abc', bytes: '13' } });
      expect(put).toEqual({ key, size: body.length });
      expect(await readAll(await store.get(key))).toEqual(body);
      const info = await store.stat(key);
      expect(info?.size).toBe(body.length);
      expect(info?.contentType).toBe('text/plain');
      expect(info?.metadata).toMatchObject({ sha256: 'abc', bytes: '13' });
    });

    it('stores a stream of unknown length and replaces an existing object', async () => {
      const key = `${prefix}/audio/stream.bin`;
      await store.put(key, Buffer.from('old'), { contentType: 'application/octet-stream' });
      const part = Buffer.alloc(64 * 1024, 7);
      const stream = Readable.from(
        (function* () {
          for (let i = 0; i < 20; i++) yield part;
        })(),
      );
      const put = await store.put(key, stream, { contentType: 'audio/webm' });
      expect(put.size).toBe(20 * part.length);
      const read = await readAll(await store.get(key));
      expect(read.length).toBe(20 * part.length);
      expect((await store.stat(key))?.contentType).toBe('audio/webm');
    });

    it('stores an empty stream of unknown length, and one longer than a single upload part', async () => {
      const empty = `${prefix}/empty.bin`;
      expect(await store.put(empty, Readable.from([]), { contentType: 'application/octet-stream' })).toEqual({
        key: empty,
        size: 0,
      });
      expect((await readAll(await store.get(empty))).length).toBe(0);
      const large = `${prefix}/large.bin`;
      const part = Buffer.alloc(1024 * 1024, 3);
      const stream = Readable.from(
        (function* () {
          for (let i = 0; i < 9; i++) yield part;
        })(),
      );
      expect((await store.put(large, stream, { contentType: 'application/octet-stream' })).size).toBe(9 * part.length);
      expect((await readAll(await store.get(large))).length).toBe(9 * part.length);
    });

    it('reports a missing object as NOT_FOUND from get and undefined from stat', async () => {
      const key = `${prefix}/missing`;
      await expect(store.get(key)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await store.stat(key)).toBeUndefined();
    });

    it('deletes idempotently', async () => {
      const key = `${prefix}/to-delete`;
      await store.put(key, Buffer.from('x'), { contentType: 'text/plain' });
      await store.delete(key);
      await store.delete(key);
      expect(await store.stat(key)).toBeUndefined();
    });

    it('lists by prefix in key order', async () => {
      const base = `${prefix}/list`;
      for (const name of ['b', 'a', 'c/d'])
        await store.put(`${base}/${name}`, Buffer.from(name), { contentType: 'text/plain' });
      await store.put(`${prefix}/listing-other`, Buffer.from('z'), { contentType: 'text/plain' });
      const listed = await store.list(`${base}/`);
      expect(listed.map((o) => o.key)).toEqual([`${base}/a`, `${base}/b`, `${base}/c/d`]);
      expect(listed[0]?.size).toBe(1);
    });

    it.each(['../escape', '/absolute', 'a//b', '.hidden/x', '', 'a/../../b', 'spaces are bad', 'a\\b'])(
      'refuses the unsafe key %j with VALIDATION',
      async (key) => {
        const attempt = store.put(key, Buffer.from('x'), { contentType: 'text/plain' });
        await expect(attempt).rejects.toBeInstanceOf(AppError);
        await expect(attempt).rejects.toMatchObject({ code: 'VALIDATION' });
      },
    );

    it('gives a presigned URL that downloads the object until it expires, and refuses a tampered one', async () => {
      const key = `${prefix}/signed.txt`;
      await store.put(key, Buffer.from('signed body'), { contentType: 'text/plain' });
      const { url, expiresAt } = await store.presignedGetUrl(key, 60, {
        filename: 'signed.txt',
        contentType: 'application/octet-stream',
      });
      expect(expiresAt.getTime()).toBeGreaterThan(Date.now() + 50_000);
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('signed body');
      const tampered = new URL(url);
      const signatureParam = tampered.searchParams.has('signature') ? 'signature' : 'X-Amz-Signature';
      tampered.searchParams.set(signatureParam, '0'.repeat(64));
      const forged = await fetch(tampered);
      await forged.arrayBuffer();
      expect(forged.status).toBe(403);
    });

    it('serves a stored HTML page as an attachment of the signed type, never inline, and refuses an edited type', async () => {
      const key = `${prefix}/page.html`;
      await store.put(key, Buffer.from('<script>alert(1)</script>'), { contentType: 'text/html' });
      const filename = 'Bericht "Q1" – résumé\r\nX-Evil: 1.html';
      const { url } = await store.presignedGetUrl(key, 60, { filename, contentType: 'application/octet-stream' });
      const response = await fetch(url);
      await response.arrayBuffer();
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/octet-stream');
      const disposition = response.headers.get('content-disposition') ?? '';
      expect(disposition).toMatch(/^attachment; filename="Bericht _Q1_ _ r_sum_X-Evil: 1\.html"; filename\*=UTF-8''/);
      expect(decodeURIComponent(disposition.split("UTF-8''")[1] ?? '')).toBe('Bericht "Q1" – résuméX-Evil: 1.html');
      expect(response.headers.get('x-evil')).toBeNull();
      const edited = new URL(url);
      const typeParam = edited.searchParams.has('type') ? 'type' : 'response-content-type';
      edited.searchParams.set(typeParam, 'text/html');
      const refused = await fetch(edited);
      await refused.arrayBuffer();
      expect(refused.status).toBe(403);
      const audio = await fetch(
        (await store.presignedGetUrl(key, 60, { filename: 'voice.webm', contentType: 'audio/webm' })).url,
      );
      await audio.arrayBuffer();
      expect(audio.headers.get('content-type')).toBe('audio/webm');
    });
  });
}
