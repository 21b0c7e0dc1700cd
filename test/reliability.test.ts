import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as t from 'io-ts';
import { openSafetensors } from '../runtime/safetensors';
import { decodeOrThrow, ConfigError, PositiveInt } from '../dsl/config';
import { parseManifestLine } from '../data/manifest';
import { runArchitecture } from '../models/run';
import { BACKEND } from './helpers/check';
import { GOLDENS } from './helpers/goldens';
import { serializeSafetensors } from '../runtime/safetensors';

describe('an interrupted save never damages the previous checkpoint', () => {
  it('kill -9 in the middle of atomic writes leaves a complete file', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omni-kill-'));
    const path = join(dir, 'ckpt.safetensors');
    for (let attempt = 0; attempt < 3; attempt++) {
      const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'atomic-writer.ts'), path], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 150 + attempt * 170));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const f = openSafetensors(path);
      const round = Number(f.metadata.round);
      const w = f.read('w');
      expect(w.length).toBe(4_000_000);
      expect(w[0]).toBe(round);
      expect(w[w.length - 1]).toBe(round);
      f.close();
    }
    // temporary files of killed writers may remain beside it, never in its place
    expect(readdirSync(dir).filter((n) => n === 'ckpt.safetensors')).toHaveLength(1);
  });
});

describe('readers fail only with their own errors', () => {
  const Cfg = t.type({ d_model: PositiveInt, layers: t.array(t.type({ heads: PositiveInt })) });
  it('config decoding of random JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          decodeOrThrow(Cfg, v, 'config.json');
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          expect((e as Error).message).toMatch(/^config\.json/);
        }
      }),
      { numRuns: 2000 },
    );
  });
  it('manifest lines: random text and mutated valid lines', () => {
    const valid = JSON.stringify({ id: 'a', video: 'x.mp4', conversations: [{ from: 'human', value: '<video>\nq' }, { from: 'gpt', value: 'happy' }] });
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.tuple(fc.nat(valid.length), fc.string({ maxLength: 3 })).map(([i, s]) => valid.slice(0, i) + s + valid.slice(i + 1))), (line) => {
        const r = parseManifestLine(line, 7);
        if (Array.isArray(r)) for (const issue of r) expect(issue.line).toBe(7);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('run refuses what does not fit, naming it', () => {
  const q = join(GOLDENS, 'qwen2', 'mha4_tied_b2_l7');
  const w = join(GOLDENS, 'whisper-encoder', 'b2_t24_full');
  it('a checkpoint of another model lists missing, unexpected and mis-shaped tensors', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'omni-run-')), 'o.safetensors');
    const err = await runArchitecture({ arch: 'qwen2', config: join(q, 'config.json'), weights: join(w, 'weights.safetensors'), inputs: join(q, 'inputs.safetensors'), out, backend: BACKEND }).catch((e) => e);
    expect(err.name).toBe('WeightsError');
    expect(err.message).toMatch(/missing \d+: model\.embed_tokens\.weight \[\d+, \d+\]/);
    expect(err.message).toMatch(/unexpected \d+: .*encoder\.conv1\.weight/);
    expect(readdirSync(join(out, '..'))).toEqual([]);
  });
  it('NaN in weights is reported by tensor name; wrong input names and dtypes are refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omni-run-'));
    const src = openSafetensors(join(q, 'weights.safetensors'));
    const tensors: Record<string, any> = {};
    for (const [name, e] of src.tensors) tensors[name] = { dtype: 'F32', shape: e.shape, data: Float32Array.from(src.read(name) as Float32Array) };
    src.close();
    tensors['model.norm.weight'].data[3] = NaN;
    writeFileSync(join(dir, 'w.safetensors'), serializeSafetensors(tensors));
    const out = join(dir, 'o.safetensors');
    const e1 = await runArchitecture({ arch: 'qwen2', config: join(q, 'config.json'), weights: join(dir, 'w.safetensors'), inputs: join(q, 'inputs.safetensors'), out, backend: BACKEND }).catch((e) => e);
    expect(e1.message).toMatch(/tensor 'model\.norm\.weight' holds a non-finite value \(NaN\) at element 3/);
    writeFileSync(join(dir, 'i.safetensors'), serializeSafetensors({ ids: { dtype: 'I32', shape: [1, 3], data: Int32Array.from([1, 2, 3]) } }));
    copyFileSync(join(q, 'weights.safetensors'), join(dir, 'w.safetensors'));
    const e2 = await runArchitecture({ arch: 'qwen2', config: join(q, 'config.json'), weights: join(dir, 'w.safetensors'), inputs: join(dir, 'i.safetensors'), out, backend: BACKEND }).catch((e) => e);
    expect(e2.message).toMatch(/unexpected input 'ids'; qwen2 takes input_ids/);
    writeFileSync(join(dir, 'i.safetensors'), serializeSafetensors({ input_ids: { dtype: 'F32', shape: [1, 3], data: Float32Array.from([1, 2, 3]) } }));
    const e3 = await runArchitecture({ arch: 'qwen2', config: join(q, 'config.json'), weights: join(dir, 'w.safetensors'), inputs: join(dir, 'i.safetensors'), out, backend: BACKEND }).catch((e) => e);
    expect(e3.message).toMatch(/input 'input_ids' is F32, expected an integer type/);
    expect(readdirSync(dir).includes('o.safetensors')).toBe(false);
  });
});

describe('training survives signals', () => {
  it('SIGTERM finishes the step, writes a checkpoint and exits 0', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omni-sig-'));
    const path = join(dir, 'ckpt.safetensors');
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'train-until-signal.ts'), path], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (/step 40\//.test(out)) {
          clearInterval(t);
          resolve();
        }
      }, 50);
    });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(0);
    expect(out).toMatch(/received SIGTERM: finishing this step and writing a checkpoint/);
    const m = /interrupted=true steps=(\d+)/.exec(out);
    expect(m).not.toBeNull();
    const f = openSafetensors(path);
    expect(JSON.parse(f.metadata.state).step).toBe(Number(m![1]));
    f.close();
  });
});
