import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';
import { TestCluster } from '../helpers/cluster.js';
import { run } from '../helpers/k8s-tools.js';

const dir = path.join(packageRoot(), 'load-tests', 'artillery');
const artillery = path.join(dir, 'node_modules', '.bin', 'artillery');

/** Runs one of the shipped Artillery scripts, shortened by `overrides`; resolves with its exit code and output. */
async function artilleryRun(
  script: string,
  target: string,
  overrides: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  const { code, stdout, stderr } = await run(
    process.execPath,
    [artillery, 'run', '--target', target, '--overrides', JSON.stringify({ config: overrides }), script],
    undefined,
    { cwd: dir, env: { ...process.env, ARTILLERY_DISABLE_TELEMETRY: 'true', ...env } },
  );
  return { code, output: stdout + stderr };
}

/** A count from Artillery's summary (`name: ....... 42`). */
function count(output: string, name: string): number {
  const summary = output.slice(output.lastIndexOf('Summary report'));
  const found = new RegExp(`^${name.replace(/\./g, '\\.')}: \\.+ (\\d+)`, 'm').exec(summary);
  return found === null ? 0 : Number(found[1]);
}

// The shipped Artillery scripts, short, against two nodes on the real services: members
// send on node A and listen on node B. One load source registers every account, so the
// per-address limits are lifted (as the scripts' comments say), and so is the per-user send
// limit the members of one account share.
describe('the Artillery load scripts (two nodes)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2, {
      RATE_LIMIT_REGISTER: '100000/1s',
      RATE_LIMIT_LOGIN_IP: '100000/1s',
      RATE_LIMIT_CONNECTIONS: '100000/1s',
      RATE_LIMIT_MESSAGE_SEND: '100000/1s',
    });
  });
  afterAll(() => cluster?.stop());

  // The scripts' latency thresholds are for a load run on a quiet machine, not for a test
  // beside others (tests never assert on timing): the positive runs leave them out
  // (ARTILLERY_DISABLE_ENSURE) and check the counts; the last test shows that they work.
  it('chat fan-out: every member acked, and each message delivered to its sender on the other node', async () => {
    const { code, output } = await artilleryRun(
      'chat-fanout.yml',
      cluster.urls[0] as string,
      { phases: [{ duration: 2, arrivalRate: 5 }], variables: { messages: 4 } },
      { LISTEN_URL: cluster.urls[1] as string, PER_SESSION: '5', ARTILLERY_DISABLE_ENSURE: '1' },
    );
    expect(code, output).toBe(0);
    expect(count(output, 'vusers.completed')).toBe(10);
    expect(count(output, 'vusers.failed')).toBe(0);
    // 10 members send 4 messages each; each reaches its sender's own listener on node B (the
    // other members' listeners hear what is sent while they listen).
    expect(count(output, 'vh.delivered_own')).toBe(10 * 4);
    expect(count(output, 'vh.delivered')).toBeGreaterThan(10 * 4);
    expect(output).toMatch(/vh\.ack_latency:\n(.*\n)*? {2}p95: \.+ \d/);
    expect(output).toMatch(/vh\.delivery_latency:\n(.*\n)*? {2}p95: \.+ \d/);
  }, 90_000);

  it('connect storm: every user connected, joined and pinged', async () => {
    const { code, output } = await artilleryRun(
      'connect-storm.yml',
      cluster.urls[1] as string,
      { phases: [{ duration: 2, arrivalRate: 20 }] },
      { ARTILLERY_DISABLE_ENSURE: '1' },
    );
    expect(code, output).toBe(0);
    expect(count(output, 'vusers.completed')).toBe(40);
    expect(count(output, 'vusers.failed')).toBe(0);
    expect(output).toMatch(/vh\.connect_join_latency:\n(.*\n)*? {2}p95: \.+ \d/);
  }, 90_000);

  it('fails the run (exit 1) when a threshold is not met or a user fails', async () => {
    const impossible = await artilleryRun('connect-storm.yml', cluster.urls[0] as string, {
      phases: [{ duration: 1, arrivalRate: 2 }],
      ensure: { maxErrorRate: 0, thresholds: [{ 'vh.connect_join_latency.p95': 0 }] },
    });
    expect(impossible.code, impossible.output).toBe(1);
    expect(impossible.output).toMatch(/fail: vh\.connect_join_latency\.p95 < 0/);
    // Users that fail (their listening node does not answer): the error rate fails the run.
    const failing = await artilleryRun(
      'chat-fanout.yml',
      cluster.urls[0] as string,
      { phases: [{ duration: 1, arrivalRate: 2 }], variables: { messages: 1 } },
      { LISTEN_URL: 'http://127.0.0.1:1' },
    );
    expect(failing.code, failing.output).toBe(1);
    expect(count(failing.output, 'vusers.failed')).toBe(2);
    expect(failing.output).toMatch(/fail: maxErrorRate < 0/);
  }, 90_000);
});
