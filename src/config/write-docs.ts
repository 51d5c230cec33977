import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../util/package-root.js';
import { renderConfigurationDoc } from './configuration-doc.js';

// `npm run docs:config`: rewrites docs/configuration.md from the variables in schema.ts.
writeFileSync(path.join(packageRoot(), 'docs', 'configuration.md'), renderConfigurationDoc());
console.log('wrote docs/configuration.md');
