import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderProtocolDocument } from './generate.js';

// Run from dist/protocol/: writes the source tree's protocol/protocol.schema.json.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
writeFileSync(path.join(root, 'protocol', 'protocol.schema.json'), renderProtocolDocument());
console.log('wrote protocol/protocol.schema.json');
