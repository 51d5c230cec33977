import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../util/package-root.js';
import { renderConfigurationDoc } from './variable-docs.js';

// `npm run docs:config`: rewrites docs/configuration.md from the variable table.
writeFileSync(path.join(packageRoot(), 'docs', 'configuration.md'), renderConfigurationDoc());
console.log('wrote docs/configuration.md');
