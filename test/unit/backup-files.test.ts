import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { deriveKeys, newEncryption } from '../../src/backup/crypto.js';
import { BackupRefused } from '../../src/backup/errors.js';
import { BackupReader, BackupWriter } from '../../src/backup/files.js';
import { canonicalManifest, type ManifestFile } from '../../src/backup/manifest.js';
import { type BackupLocation, openLocation } from '../../src/backup/target.js';
import { loadConfig } from '../../src/config/load.js';
import type { ObjectStore } from '../../src/stores/objects/object-store.js';
import { tempDir } from '../helpers/env.js';

describe('backup files', () => {
  it('stops the source when the upload fails midway, instead of waiting on it forever', async () => {
    // A store whose upload reads a little and then fails, as an S3 that went away would.
    // It leaves the body as it is, paused and open, as a client library may.
    const store = {
      put: (_key: string, body: Readable) =>
        new Promise((_resolve, reject) =>
          body.once('data', () => {
            body.pause();
            reject(new Error('object storage went away'));
          }),
        ),
    } as unknown as ObjectStore;
    const location: BackupLocation = { store, base: '', text: 'test' };
    let produced = 0;
    const source = new Readable({
      read() {
        produced++;
        this.push(Buffer.alloc(64 * 1024, 1));
      },
    });
    const writer = new BackupWriter(location, 'vh-20261201T000000Z', undefined);
    await expect(writer.write('postgres/t.copy', source)).rejects.toThrow('object storage went away');
    expect(source.destroyed).toBe(true);
    expect(produced).toBeLessThan(1_000);
    expect(writer.files).toEqual([]);
  });
});

/** A backup location in a temporary directory, on the embedded object store, as the CLI opens one. */
async function directory(): Promise<BackupLocation> {
  return openLocation(tempDir('vh-backup-files-'), loadConfig({}));
}

async function stored(location: BackupLocation, key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of await location.store.get(key)) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** What the manifest would say of `bytes` stored under `name`. */
function entry(name: string, bytes: Buffer): ManifestFile {
  return { name, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

async function readAll(reader: BackupReader, file: ManifestFile): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of await reader.open(file)) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

describe('encrypted backup files', () => {
  const encryption = newEncryption();
  const A = 'vh-20261201T000000Z';
  const B = 'vh-20261202T000000Z';

  it('read back as written, each under its own name and backup', async () => {
    const location = await directory();
    const keys = await deriveKeys('a passphrase for the test only', encryption, 2);
    const writer = new BackupWriter(location, A, keys);
    const file = await writer.write('postgres/users.copy', Readable.from([Buffer.from('ada\n'), Buffer.from('bob\n')]));
    expect(await readAll(new BackupReader(location, A, keys), file)).toEqual(Buffer.from('ada\nbob\n'));
  });

  it('refuse a file moved to another name, even with the manifest entry of the bytes moved', async () => {
    const location = await directory();
    const keys = await deriveKeys('a passphrase for the test only', encryption, 2);
    const writer = new BackupWriter(location, A, keys);
    await writer.write('postgres/users.copy', Readable.from([Buffer.from('users\n')]));
    await writer.write('postgres/api_keys.copy', Readable.from([Buffer.from('keys\n')]));
    // users.copy now holds what was written as api_keys.copy; its entry matches those bytes.
    const moved = await stored(location, `${A}/postgres/api_keys.copy`);
    await location.store.put(`${A}/postgres/users.copy`, moved, { contentType: 'application/octet-stream' });
    const check = new BackupReader(location, A, keys).check(entry('postgres/users.copy', moved));
    await expect(check).rejects.toThrow(BackupRefused);
    await expect(check).rejects.toThrow(/does not authenticate/);
  });

  it('refuse a file taken from another backup, even one with the same keys', async () => {
    const location = await directory();
    const keys = await deriveKeys('a passphrase for the test only', encryption, 2);
    await new BackupWriter(location, A, keys).write('postgres/users.copy', Readable.from([Buffer.from('old\n')]));
    const older = await stored(location, `${A}/postgres/users.copy`);
    await location.store.put(`${B}/postgres/users.copy`, older, { contentType: 'application/octet-stream' });
    await expect(new BackupReader(location, B, keys).check(entry('postgres/users.copy', older))).rejects.toThrow(
      /does not authenticate/,
    );
    // The same bytes read where they were written are whole: only the move is refused.
    await expect(new BackupReader(location, A, keys).check(entry('postgres/users.copy', older))).resolves.toBe(
      undefined,
    );
  });

  it('keep the file key apart from the manifest key, and both apart from format 1', async () => {
    const two = await deriveKeys('a passphrase for the test only', encryption, 2);
    const one = await deriveKeys('a passphrase for the test only', encryption, 1);
    expect(two.file.equals(two.manifest as Buffer)).toBe(false);
    expect(two.file.equals(one.file)).toBe(false);
    expect(one.manifest).toBeUndefined();
  });

  it('still read a format 1 file (no associated data) with format 1 keys', async () => {
    const location = await directory();
    const keys = await deriveKeys('a passphrase for the test only', encryption, 1);
    // As format 1 wrote it: VHB1 | iv | AES-256-GCM ciphertext | tag, with no associated data.
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', keys.file, iv);
    const bytes = Buffer.concat([Buffer.from('VHB1'), iv, cipher.update('legacy rows\n'), cipher.final()]);
    const whole = Buffer.concat([bytes, cipher.getAuthTag()]);
    await location.store.put(`${A}/postgres/users.copy`, whole, { contentType: 'application/octet-stream' });
    const reader = new BackupReader(location, A, keys);
    expect(await readAll(reader, entry('postgres/users.copy', whole))).toEqual(Buffer.from('legacy rows\n'));
    // A format 2 reader does not take it: its header says format 1.
    const current = await deriveKeys('a passphrase for the test only', encryption, 2);
    await expect(new BackupReader(location, A, current).check(entry('postgres/users.copy', whole))).rejects.toThrow(
      BackupRefused,
    );
  });
});

describe('the canonical manifest', () => {
  it('does not depend on key order or layout, leaves out mac, and changes with any value', () => {
    const manifest = { id: 'vh-20261201T000000Z', parts: { b: 1, a: [{ y: 'é', x: null }] }, mac: { alg: 'sha256' } };
    const reordered = JSON.parse(
      '{ "mac": {"value": "x"}, "parts": {"a": [{"x": null, "y": "é"}], "b": 1}, "id": "vh-20261201T000000Z" }',
    );
    expect(canonicalManifest(manifest).toString()).toBe(
      '{"id":"vh-20261201T000000Z","parts":{"a":[{"x":null,"y":"é"}],"b":1}}',
    );
    expect(canonicalManifest(reordered)).toEqual(canonicalManifest(manifest));
    expect(canonicalManifest({ ...manifest, parts: { b: 2, a: [] } })).not.toEqual(canonicalManifest(manifest));
  });
});
