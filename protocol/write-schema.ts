import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderAsyncApiDocument } from './asyncapi.js';
import { renderProtocolDocument } from './generate.js';

// Run from dist/protocol/: writes the source tree's protocol/protocol.schema.json and protocol/asyncapi.json.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
writeFileSync(path.join(root, 'protocol', 'protocol.schema.json'), renderProtocolDocument());
writeFileSync(path.join(root, 'protocol', 'asyncapi.json'), renderAsyncApiDocument());
console.log('wrote protocol/protocol.schema.json and protocol/asyncapi.json');
