import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Supervisor } from '../../src/util/supervisor.js';
import { eventually } from '../helpers/cluster.js';

/** A logger whose lines the test reads. */
function memoryLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const supervisors: Supervisor[] = [];
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.stop()));
});

function supervise(command: string, args: string[], logger: ReturnType<typeof memoryLogger>['logger']) {
  const supervisor = new Supervisor({
    name: 'child',
    command,
    args,
    env: { PATH: process.env['PATH'] ?? '' },
    logger,
    minBackoffMs: 10,
    maxBackoffMs: 40,
    healthyAfterMs: 60_000,
    stopGraceMs: 2_000,
    onChange: () => undefined,
  });
  supervisors.push(supervisor);
  supervisor.start();
  return supervisor;
}

// Real child processes (node itself as the child).
describe('Supervisor', () => {
  it("logs the child's lines at their level, starts it again when it exits, and stops it", async () => {
    const { logger, lines } = memoryLogger();
    const script =
      "console.log('hello'); console.error('2026 WARNING careful'); console.error('ERROR broken'); setTimeout(() => process.exit(3), 50)";
    supervise(process.execPath, ['-e', script], logger);
    const exits = () => lines.filter((l) => l['msg'] === 'child exited; restarting it');
    await eventually(() => expect(exits().length).toBeGreaterThanOrEqual(3));
    const started = lines.filter((l) => l['msg'] === 'child started').map((l) => l['pid']);
    expect(new Set(started).size).toBe(started.length);
    const exited = lines.find((l) => l['msg'] === 'child exited; restarting it');
    expect(exited).toMatchObject({ code: 3, signal: null });
    const first = started[0];
    const own = lines.filter((l) => l['child'] === first);
    expect(own.find((l) => l['msg'] === 'hello')).toMatchObject({ level: 30 });
    expect(own.find((l) => l['msg'] === '2026 WARNING careful')).toMatchObject({ level: 40 });
    expect(own.find((l) => l['msg'] === 'ERROR broken')).toMatchObject({ level: 50 });
    // The waits double while it keeps dying young, up to the longest.
    const waits = exits().map((l) => l['restartInMs']);
    expect(waits.slice(0, 3)).toEqual([10, 20, 40]);
  });

  it('stops a child that ignores SIGTERM with SIGKILL, and starts no other', async () => {
    const { logger, lines } = memoryLogger();
    const script =
      "process.on('SIGTERM', () => console.log('ignored')); console.log('up'); setInterval(() => {}, 1000)";
    const supervisor = supervise(process.execPath, ['-e', script], logger);
    await eventually(() => expect(lines.some((l) => l['msg'] === 'up')).toBe(true));
    const pid = supervisor.pid as number;
    await supervisor.stop();
    expect(lines.map((l) => l['msg'])).toEqual(
      expect.arrayContaining(['child did not stop on SIGTERM; killing it', 'child stopped']),
    );
    expect(() => process.kill(pid, 0)).toThrow();
    expect(supervisor.pid).toBeUndefined();
    expect(supervisor.startCount).toBe(1);
  });

  it('keeps trying a command that cannot be started, without failing', async () => {
    const { logger, lines } = memoryLogger();
    const supervisor = supervise('/nonexistent/venv/bin/python', [], logger);
    await eventually(() => expect(supervisor.startCount).toBeGreaterThanOrEqual(2));
    expect(lines.some((l) => l['msg'] === 'child could not be started')).toBe(true);
    await supervisor.stop();
  });
});
