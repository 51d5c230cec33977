import { ChaosCluster, FAULTS, type Fault, formatRow, HEADER, type RoundResult, violations } from './harness.js';

/**
 * `npm run chaos`: three nodes on the harness's own PostgreSQL and Redis, good clients at
 * CHAOS_RATE msg/s, one round per fault (CHAOS_FAULTS, comma-separated; default all),
 * CHAOS_SECONDS of load each, services down CHAOS_DOWN_SECONDS, CHAOS_DOCUMENTS uploaded just
 * before each fault. Prints one row per fault and exits 1 on any violation.
 */
const env = process.env;
const faults = (env['CHAOS_FAULTS'] ?? FAULTS.join(',')).split(',').map((f) => f.trim()) as Fault[];
for (const fault of faults)
  if (!FAULTS.includes(fault)) throw new Error(`unknown fault ${fault}; known: ${FAULTS.join(', ')}`);
const options = {
  seconds: Number(env['CHAOS_SECONDS'] ?? 30),
  rate: Number(env['CHAOS_RATE'] ?? 1_000),
  sessions: Number(env['CHAOS_SESSIONS'] ?? 60),
  downSeconds: Number(env['CHAOS_DOWN_SECONDS'] ?? 10),
  documentsBefore: Number(env['CHAOS_DOCUMENTS'] ?? 12),
};

const log = (line: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
log(
  `3 nodes, ${options.sessions} sessions x 3 clients, ${options.rate} msg/s, ${options.seconds} s a round, services down ${options.downSeconds} s`,
);
const cluster = await ChaosCluster.start();
const results: RoundResult[] = [];
let failed = false;
try {
  for (const fault of faults) {
    log(`round ${fault}`);
    const result = await cluster.round(fault, options, log);
    results.push(result);
    const found = violations(result);
    if (found.length > 0) failed = true;
    log(`${fault}: ${found.length === 0 ? 'ok' : `VIOLATED ${found.join(', ')}`}`);
  }
} finally {
  // A failed run keeps the nodes' logs and the services' data to read (as CHAOS_KEEP_DIR=1 does).
  await cluster.stop(failed);
}
console.log(HEADER);
for (const result of results) console.log(formatRow(result));
process.exit(failed ? 1 : 0);
