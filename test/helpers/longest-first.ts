import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take minutes, longest first. Vitest orders files by the durations of the
 * previous run when it has them, else by size, largest first; on a fresh clone (CI) the
 * fault harness's short file would start late and run alone at the end while the other
 * worker sat idle. Started first, the rest of the suite fills the other worker around them.
 */
export const LONGEST_FILES = [
  'test/chaos/chaos.test.ts',
  'test/integration/backup.test.ts',
  'test/python/pytest.test.ts',
  'test/integration/accounts.test.ts',
];

/** Vitest's order, with LONGEST_FILES moved to the front. */
export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification): number => {
      const at = LONGEST_FILES.findIndex((name) => file.moduleId.endsWith(`/${name}`));
      return at === -1 ? LONGEST_FILES.length : at;
    };
    // Array.prototype.sort is stable: the other files keep vitest's order.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}
