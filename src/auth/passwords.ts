import { Algorithm, hash, verify } from '@node-rs/argon2';
import { WorkQueue } from '../util/work-queue.js';

/**
 * Argon2id with the OWASP baseline (19 MiB, 2 passes, 1 lane). The parameters are stored
 * in each hash, so raising them later keeps old hashes verifiable.
 */
const OPTIONS = { algorithm: Algorithm.Argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

let dummyHash: Promise<string> | undefined;

/**
 * Password hashing and checking, at most `concurrency` at once with a bounded line behind
 * them: each Argon2id run takes 19 MiB and tens of milliseconds of a libuv thread, which
 * file and DNS work share, so a login flood is refused (RATE_LIMITED) instead of starving
 * the node.
 */
export class Passwords {
  private readonly queue: WorkQueue;

  constructor(options: { concurrency: number; maxWaiting: number }) {
    this.queue = new WorkQueue(options.concurrency, options.maxWaiting);
  }

  /** Hashes a password for storage. */
  hash(password: string): Promise<string> {
    return this.queue.run(() => hash(password, OPTIONS));
  }

  /**
   * Checks a password against a stored hash. With no stored hash (unknown account) it still
   * verifies against a dummy hash, so that the answer takes as long either way and does not
   * reveal which emails are registered.
   */
  verify(storedHash: string | undefined, password: string): Promise<boolean> {
    return this.queue.run(async () => {
      if (storedHash === undefined) {
        dummyHash ??= hash('dummy password for unknown accounts', OPTIONS);
        await verify(await dummyHash, password).catch(() => false);
        return false;
      }
      return verify(storedHash, password).catch(() => false);
    });
  }
}
