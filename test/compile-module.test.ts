import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileModule } from '../models/compile-module';
import { runArchitecture } from '../models/run';
import { openSafetensors, serializeSafetensors } from '../runtime/safetensors';
import { GOLDENS } from './helpers/goldens';
import { BACKEND, assertClose } from './helpers/check';

describe('generated inference modules', () => {
  it('run without the compiler beside them and match the in-process results; refuse wrong inputs', { timeout: 180_000 }, async () => {
    if (BACKEND === 'cpu') return;
    const g = join(GOLDENS, 'whisper-encoder', 'b3_t10_short');
    const dir = mkdtempSync(join(tmpdir(), 'omni-module-'));
    const src = openSafetensors(join(g, 'inputs.safetensors'));
    const feats = src.read('input_features') as Float32Array;
    const shape = src.tensors.get('input_features')!.shape;
    src.close();
    writeFileSync(join(dir, 'inputs.safetensors'), serializeSafetensors({ input_features: { dtype: 'F32', shape, data: feats } }));
    const mod = join(dir, 'module');
    const files = await compileModule({ arch: 'whisper-encoder', config: join(g, 'config.json'), inputs: join(dir, 'inputs.safetensors'), out: mod });
    expect(files.map((f) => f.split('/').pop()).sort()).toEqual(['index.js', 'index.ts', 'model.json', 'package.json']);
    expect(readFileSync(join(mod, 'index.js'), 'utf8')).not.toMatch(/from ['"]\.\.?\//);
    // a folder of its own with only the webgpu package installed beside it
    const alone = join(dir, 'alone');
    mkdirSync(join(alone, 'node_modules'), { recursive: true });
    for (const f of ['index.js', 'model.json', 'package.json']) writeFileSync(join(alone, f), readFileSync(join(mod, f)));
    symlinkSync(join(__dirname, '..', 'node_modules', 'webgpu'), join(alone, 'node_modules', 'webgpu'));
    const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
    const r = spawnSync(process.execPath, [join(alone, 'index.js'), '--weights', join(g, 'weights.safetensors'), '--inputs', join(dir, 'inputs.safetensors'), '--out', join(dir, 'o.safetensors')], { env, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const ours = await runArchitecture({ arch: 'whisper-encoder', config: join(g, 'config.json'), weights: join(g, 'weights.safetensors'), inputs: join(dir, 'inputs.safetensors'), out: join(dir, 'in-process.safetensors'), backend: BACKEND });
    const got = openSafetensors(join(dir, 'o.safetensors'));
    assertClose(got.read('last_hidden_state') as Float32Array, ours.last_hidden_state.data, 1e-6, 1e-6, 'module output');
    got.close();
    writeFileSync(join(dir, 'bad.safetensors'), serializeSafetensors({ input_features: { dtype: 'F32', shape: [shape[0], shape[1], shape[2] + 2], data: new Float32Array(shape[0] * shape[1] * (shape[2] + 2)) } }));
    const bad = spawnSync(process.execPath, [join(alone, 'index.js'), '--weights', join(g, 'weights.safetensors'), '--inputs', join(dir, 'bad.safetensors'), '--out', join(dir, 'x.safetensors')], { env, encoding: 'utf8', timeout: 120_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(new RegExp(`input 'input_features': shape \\[${shape[0]},${shape[1]},${shape[2] + 2}\\], expected \\[${shape.join(',')}\\]`));
  });
});
