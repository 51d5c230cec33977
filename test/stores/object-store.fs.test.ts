import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { registerErrorHandling } from '../../src/http/errors.js';
import { registerObjectRoutes } from '../../src/http/objects.js';
import { FsObjectStore } from '../../src/stores/objects/fs-object-store.js';
import { objectStoreContract } from '../contract/object-store.contract.js';
import { tempDir } from '../helpers/env.js';

// The embedded store's presigned URLs are served by the node's HTTP API, so the suite runs
// it behind the real route.
// Closed at once at the end, keep-alive connections included (Fastify would keep them 72 s).
const http = Fastify({ forceCloseConnections: true });
let baseUrl = '';

objectStoreContract({
  name: 'embedded: a directory with signed URLs',
  create: async () => {
    const store = new FsObjectStore({
      dir: tempDir(),
      bucket: 'voicehelper',
      publicUrl: () => baseUrl,
      signingKey: 'test-only-signing-key-0123456789',
    });
    registerErrorHandling(http);
    registerObjectRoutes(http, store);
    await http.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(http.server.address() as AddressInfo).port}`;
    return store;
  },
  teardown: () => http.close(),
});
