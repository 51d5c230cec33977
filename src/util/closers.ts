import type { Logger } from '../logger.js';
import { withTimeout } from './timeout.js';

/**
 * What a node opened, each with how to close it, closed in the reverse order of opening.
 * Each step is bounded and may fail on its own: a dependency that is down must not keep
 * the node from stopping, and a start that failed halfway closes what it had opened.
 */
export class Closers {
  private readonly steps: { name: string; close: () => unknown }[] = [];

  constructor(
    private readonly logger: Logger,
    private readonly timeoutMs: number,
  ) {}

  /** Registers how to close something just opened. */
  add(name: string, close: () => unknown): void {
    this.steps.push({ name, close });
  }

  /** Closes everything registered, newest first; every step runs whatever the others did. */
  async closeAll(): Promise<void> {
    for (let step = this.steps.pop(); step !== undefined; step = this.steps.pop()) {
      const { name, close } = step;
      this.logger.debug({ step: name }, 'closing');
      await withTimeout(Promise.resolve().then(close), this.timeoutMs, `closing ${name} timed out`).catch(
        (error: unknown) => this.logger.warn({ err: error, step: name }, 'a closing step failed'),
      );
    }
  }
}
