import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../util/package-root.js';
import { renderConfigurationDoc } from './configuration-doc.js';
import { renderEnvExample } from './env-example.js';

// `npm run docs:config`: rewrites docs/configuration.md and .env.example from the variables' rows.
writeFileSync(path.join(packageRoot(), 'docs', 'configuration.md'), renderConfigurationDoc());
writeFileSync(path.join(packageRoot(), '.env.example'), renderEnvExample());
console.log('wrote docs/configuration.md and .env.example');
