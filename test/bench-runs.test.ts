/** How many timed calls a bench row gets (bench/run.ts rowRuns): at least --runs, more for quick rows. */
import { describe, expect, it } from 'vitest';
import { failedRow, markdownTable, rowRuns } from '../bench/run';

describe('bench timed calls per row', () => {
  const o = { runs: 5, maxRuns: 21 };
  it('fits as many calls of the slowest contestant in 3 s as --max-runs allows, never fewer than --runs', () => {
    expect(rowRuns(o, [6, 33, 22, 5.5])).toBe(21);
    expect(rowRuns(o, [32, 300, 270, 80])).toBe(10);
    expect(rowRuns(o, [235, 2539])).toBe(5);
    expect(rowRuns({ runs: 30, maxRuns: 21 }, [1])).toBe(30);
  });
  it('keeps --runs when a contestant was not warmed up (the compile row) or none is left', () => {
    expect(rowRuns(o, [5, undefined])).toBe(5);
    expect(rowRuns(o, [])).toBe(5);
  });
});

describe('bench rows that could not run', () => {
  it('show why in the table instead of ending the run (a cold-compile child that failed)', () => {
    const table = markdownTable([failedRow('tiny step cold compile', 'its process failed: exit code 1')]);
    expect(table).toContain('| tiny step cold compile | n/a (its process failed: exit code 1) |');
  });
});
