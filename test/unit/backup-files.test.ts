import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BackupWriter } from '../../src/backup/files.js';
import type { BackupLocation } from '../../src/backup/target.js';
import type { ObjectStore } from '../../src/stores/objects/object-store.js';

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
