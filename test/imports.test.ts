/**
 * Every module of the core loads on its own, first, in a fresh process: the primitive table,
 * composites and autodiff import each other's layers, and a cycle that only breaks for one
 * import order (conv_windows' gradient rule imported autodiff from the primitive table: the
 * bench entry died at load while the tests and the demo ran) must fail here.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..');
const tsFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });

describe('module load order', () => {
  it('each module of compiler/ and dsl/ loads first in a fresh process', () => {
    const modules = ['compiler', 'dsl'].flatMap((d) => tsFiles(join(ROOT, d))).map((p) => relative(ROOT, p));
    // one process per module, all started from one driver script to keep it quick
    const script = `
      const { spawnSync } = require('node:child_process');
      const bad = [];
      for (const m of ${JSON.stringify(modules)}) {
        const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./" + m + "').then(() => process.exit(0), (e) => { console.error(String(e && e.stack || e).slice(0, 300)); process.exit(1); })"], { encoding: 'utf8', timeout: 60000 });
        if (r.status !== 0) bad.push(m + ': ' + (r.stderr || '').split('\\n').filter((l) => !l.startsWith('Warning')).slice(0, 3).join(' | '));
      }
      console.log(JSON.stringify(bad));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual([]);
  }, 600_000);
});
