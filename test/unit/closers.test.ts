import { describe, expect, it } from 'vitest';
import { Closers } from '../../src/util/closers.js';
import { testLogger } from '../helpers/env.js';

describe('Closers', () => {
  it('closes in the reverse order of opening, each step bounded, a failing or hung step not stopping the rest', async () => {
    const closed: string[] = [];
    const closers = new Closers(testLogger(), 50);
    closers.add('stores', () => closed.push('stores'));
    closers.add('queue', async () => {
      closed.push('queue');
      throw new Error('queue down');
    });
    closers.add('hung', () => new Promise(() => closed.push('hung')));
    closers.add('http', async () => {
      closed.push('http');
    });
    await closers.closeAll();
    expect(closed).toEqual(['http', 'hung', 'queue', 'stores']);
    // Each step runs once: closing again closes nothing.
    await closers.closeAll();
    expect(closed).toHaveLength(4);
  });
});
