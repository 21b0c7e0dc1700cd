import { describe, expect, it, vi } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCli, UserError } from '../cli/errors';

const root = fileURLToPath(new URL('..', import.meta.url));
const SPAWN_TIMEOUT = 60_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real executable, as a user would. Dawn's Vulkan path wants XDG_RUNTIME_DIR. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['cli/bin.js', ...args], {
      cwd: root,
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR || '/tmp', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Our own lines on stderr; Dawn writes warnings there too. */
const ours = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('omni-emotion:'));

describe('omni-emotion doctor', () => {
  it('reports the adapter as JSON and exits 0', { timeout: SPAWN_TIMEOUT }, async () => {
    const r = await cli(['doctor', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.backend).toBe('vulkan');
    expect(report.adapter.description).toMatch(/\S/);
    expect(report.adapter.software).toBe(/llvmpipe|lavapipe|swiftshader/i.test(report.adapter.description + report.adapter.device));
    expect(report.device).toEqual({ ok: true });
    expect(Object.keys(report.highlighted)).toEqual(['shader-f16', 'subgroups', 'timestamp-query']);
    expect(report.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(report.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThan(0);
    expect(report.node).toBe(process.version);
  });

  it('reports the reference interpreter for --backend cpu', { timeout: SPAWN_TIMEOUT }, async () => {
    const r = await cli(['doctor', '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/backend\s+cpu/);
    expect(r.stdout).toContain('reference interpreter');
    expect(r.stdout).toContain('XDG_RUNTIME_DIR');
  });

  it('exits 1 and names the fix when no adapter is found', { timeout: SPAWN_TIMEOUT }, async () => {
    // A driver list naming no driver: the Vulkan loader finds nothing.
    const r = await cli(['doctor', '--json'], { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, backend: 'vulkan' });
    const lines = ours(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('npm run setup');
    expect(lines[0]).toContain('--backend cpu');
  });
});

describe('usage errors', () => {
  for (const args of [['frobnicate'], ['doctor', '--frobnicate'], ['doctor', '--backend', 'quantum']]) {
    it(`'${args.join(' ')}' exits 2 with one line and no stack`, { timeout: SPAWN_TIMEOUT }, async () => {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^omni-emotion: (unknown command|unknown option|option '--backend <name>' argument)/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('run names a missing required option in one line', { timeout: SPAWN_TIMEOUT }, async () => {
    const r = await cli(['run', 'qwen2', '--config', 'c.json']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^omni-emotion: required option '--weights <file>' not specified$/);
  });
});

describe('runCli', () => {
  const capture = async (fn: () => Promise<number | void>) => {
    const out: string[] = [];
    const code = await runCli(fn, (s) => out.push(s));
    return { code, text: out.join('') };
  };

  it('returns the body result, 0 for void', async () => {
    expect((await capture(async () => 3)).code).toBe(3);
    expect((await capture(async () => {})).code).toBe(0);
  });

  it('prints user errors as one line, with their exit code', async () => {
    expect(await capture(async () => { throw new UserError('bad flag\nsee --help'); })).toEqual({ code: 2, text: 'omni-emotion: bad flag see --help\n' });
    expect(await capture(async () => { throw new UserError('nope', 1); })).toEqual({ code: 1, text: 'omni-emotion: nope\n' });
  });

  it('treats known error names and userFacing errors as user errors', async () => {
    class SafetensorsError extends Error { override name = 'SafetensorsError'; }
    class ConfigError extends Error { override name = 'ConfigError'; }
    class ThingError extends Error { override name = 'ThingError'; userFacing = true; }
    expect(await capture(async () => { throw new SafetensorsError('w.safetensors: truncated'); })).toEqual({ code: 1, text: 'omni-emotion: w.safetensors: truncated\n' });
    expect((await capture(async () => { throw new ConfigError('c.json: bad'); })).code).toBe(2);
    expect((await capture(async () => { throw new ThingError('thing'); })).text).toBe('omni-emotion: thing\n');
  });

  it('prints the stack of unknown errors and exits 70', async () => {
    const r = await capture(async () => { throw new TypeError('x is undefined'); });
    expect(r.code).toBe(70);
    expect(r.text).toContain('TypeError: x is undefined');
    expect(r.text).toMatch(/\n\s+at /);
  });

  it('prints stacks for user errors too when OMNI_DEBUG=1', async () => {
    vi.stubEnv('OMNI_DEBUG', '1');
    try {
      const r = await capture(async () => { throw new UserError('bad'); });
      expect(r.code).toBe(2);
      expect(r.text).toMatch(/^omni-emotion: bad\nUserError: bad\n\s+at /);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('model', () => {
  it('compiles the paper preset to kernels for this adapter, its 2.2 GB embedding and attention scores in blocks', { timeout: SPAWN_TIMEOUT }, async () => {
    const r = await cli(['model', '--preset', 'paper', '--compile', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout).compiled;
    expect(c.steps.map((s: { name: string }) => s.name)).toEqual(['embed', 'prefill', 'decode']);
    expect(c.splicedLength).toBeGreaterThan(c.textLength);
    for (const s of c.steps) expect(s.kernels).toBeGreaterThan(100);
    // the token table (152064 x 3584 f32) is read by the embedding step, the head by prefill and decode
    for (const s of c.steps) expect(s.offsetBindings).toBeGreaterThan(0);
  });

  it('reports the paper preset parameter counts per component', { timeout: SPAWN_TIMEOUT }, async () => {
    const r = await cli(['model', '--preset', 'paper', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.parameters.llm).toBe(7_615_616_512);
    expect(j.parameters.audio_encoder).toBe(636_968_960);
    expect(j.parameters.vision_tower).toBe(397_747_744);
    expect(j.parameters.face_encoder).toBe(87_497_912);
    expect(j.parameters.total).toBe(8_786_025_176);
    const bad = await cli(['model', '--preset', 'huge']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('omni-emotion: --preset huge: expected one of tiny, small, paper');
  });
});
