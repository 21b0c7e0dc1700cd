/** `omni-emotion data synth` through the real executable. */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'omni-synth-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['cli/bin.js', ...args], { cwd: root, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR || '/tmp' } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('omni-emotion data synth', () => {
  it('writes clips and a manifest, showing progress', { timeout: 60_000 }, async () => {
    const out = join(dir, 'c');
    const r = await cli(['data', 'synth', '--out', out, '--n', '3', '--seed', '5', '--size', '96', '--fps', '5', '--seconds', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/clip 3\/3 +[\d.]+ clips\/s +elapsed \S+ +ETA 0s/);
    expect(r.stdout).toMatch(/^wrote 3 clips and .*manifest\.jsonl in [\d.]+s \([\d.]+ clips\/s\)\n$/);
    expect(existsSync(join(out, 'clips', 'synthemo-5-000002.mp4'))).toBe(true);
  });

  it('rejects bad arguments in one line with exit code 2', { timeout: 60_000 }, async () => {
    const r = await cli(['data', 'synth', '--out', join(dir, 'x'), '--n', 'many']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("omni-emotion: option '--n <count>' argument 'many' is invalid. expected an integer >= 1, got 'many'");
  });
});
