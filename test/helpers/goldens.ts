/**
 * PyTorch parity: runs a golden case (test/goldens/<arch>/<case>, made by
 * scripts/goldens/make_goldens.py) through `runArchitecture` with gradients and compares the
 * output and every gradient within `tol` of the largest magnitude of each tensor.
 */
import { expect } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runArchitecture } from '../../models/run';
import { openSafetensors } from '../../runtime/safetensors';
import { BACKEND } from './check';

export const GOLDENS = join(__dirname, '..', 'goldens');

export function goldenCases(arch: string): string[] {
  const dir = join(GOLDENS, arch);
  return existsSync(dir) ? readdirSync(dir).filter((d) => existsSync(join(dir, d, 'config.json'))).sort() : [];
}

export async function checkGolden(arch: string, name: string, tol = 1e-3) {
  const dir = join(GOLDENS, arch, name);
  const tmp = mkdtempSync(join(tmpdir(), 'omni-golden-'));
  const out = join(tmp, 'out.safetensors');
  const got = await runArchitecture({ arch, config: join(dir, 'config.json'), weights: join(dir, 'weights.safetensors'), inputs: join(dir, 'inputs.safetensors'), out, grad: true, backend: BACKEND });
  const want = openSafetensors(join(dir, 'outputs.safetensors'));
  try {
    const inputName = Object.keys(got).find((k) => k.startsWith('grad.') && !want.tensors.has(k) && want.tensors.has('grad.input'));
    for (const name of want.tensors.keys()) {
      const key = name === 'grad.input' ? inputName ?? name : name;
      const have = got[key];
      expect(have, `${arch}/${name}: missing '${key}' in our outputs`).toBeDefined();
      const w = want.read(name) as Float32Array;
      expect([...have.shape], `${arch}/${name}: shape`).toEqual([...want.tensors.get(name)!.shape]);
      let scale = 0;
      for (const v of w) scale = Math.max(scale, Math.abs(v));
      let worst = 0;
      let at = -1;
      for (let i = 0; i < w.length; i++) {
        const d = Math.abs(have.data[i] - w[i]);
        if (d > worst) [worst, at] = [d, i];
      }
      if (worst > tol * Math.max(scale, 1e-6)) throw new Error(`${arch}/${name}: element ${at} is ${have.data[at]}, PyTorch ${w[at]} (|diff| ${worst.toExponential(2)} > ${tol} x max |value| ${scale.toExponential(2)})`);
    }
    // and nothing beyond what the golden holds, except the input gradient's own name
    const extra = Object.keys(got).filter((k) => !want.tensors.has(k) && k !== inputName);
    expect(extra, `${arch}: outputs not in the golden`).toEqual([]);
  } finally {
    want.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
