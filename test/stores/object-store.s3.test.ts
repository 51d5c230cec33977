import { afterAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../src/stores/objects/s3-object-store.js';
import { objectStoreContract } from '../contract/object-store.contract.js';
import { clusterConfig, serviceEnv, uniqueName } from '../helpers/env.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

objectStoreContract({
  name: 'S3 (minio client against a real S3 server)',
  create: async () => {
    const config = clusterConfig({ S3_BUCKET: uniqueName('bucket').replace(/_/g, '-') });
    if (config.objects.mode !== 's3') throw new Error('S3_ENDPOINT is not set');
    return new S3ObjectStore(config.objects);
  },
});

describe('S3 behind another address (S3_PUBLIC_ENDPOINT)', () => {
  let proxy: TcpProxy;
  afterAll(() => proxy?.down());

  it('signs presigned URLs for the public address, where they download; a URL signed for the inner one does not', async () => {
    const inner = new URL(serviceEnv().S3_ENDPOINT);
    proxy = await TcpProxy.start({ host: inner.hostname, port: Number(inner.port) });
    // The same server under another host:port, as a browser outside compose reaches it.
    const publicEndpoint = `http://localhost:${proxy.port}`;
    const bucket = uniqueName('bucket').replace(/_/g, '-');
    const config = clusterConfig({ S3_BUCKET: bucket, S3_PUBLIC_ENDPOINT: publicEndpoint });
    if (config.objects.mode !== 's3') throw new Error('S3_ENDPOINT is not set');
    expect(config.objects.publicEndpoint).toEqual({ endPoint: 'localhost', port: proxy.port, useSSL: false });
    const store = new S3ObjectStore(config.objects);
    await store.init();
    await store.put('a/b.txt', Buffer.from('hello'), { contentType: 'text/plain' });
    const { url } = await store.presignedGetUrl('a/b.txt', 60, { filename: 'b.txt', contentType: 'text/plain' });
    expect(new URL(url).host).toBe(`localhost:${proxy.port}`);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('hello');

    // Signed for the inner address but fetched at the public one: the signature covers the host.
    const direct = new S3ObjectStore({ ...config.objects, publicEndpoint: undefined });
    const innerUrl = new URL(
      (await direct.presignedGetUrl('a/b.txt', 60, { filename: 'b.txt', contentType: 'text/plain' })).url,
    );
    expect(innerUrl.host).toBe(inner.host);
    innerUrl.host = `localhost:${proxy.port}`;
    expect((await fetch(innerUrl)).status).toBe(403);
    await store.delete('a/b.txt');
  });
});
