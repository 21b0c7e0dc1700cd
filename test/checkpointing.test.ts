import { describe, it, expect } from 'vitest';
import { spec } from '../compiler/trace';
import type { Tensor } from '../dsl/tensor';
import { valueAndGrad, checkpoint } from '../dsl/grad';
import { gelu, layerNorm } from '../compiler/composites';
import { compile } from '../runtime/compile';
import { BACKEND, rng, assertClose } from './helpers/check';

const L = 6;
const block = (h: Tensor, w1: Tensor, w2: Tensor) => h.add(gelu(layerNorm(h).matmul(w1)).matmul(w2));
const loss = (remat: boolean) => ({ x, ws }: { x: Tensor; ws: { a: Tensor; b: Tensor }[] }) => {
  const f = remat ? checkpoint(block) : block;
  let h = x;
  for (const w of ws) h = f(h, w.a, w.b);
  return h.mul(h).mean();
};

describe('activation checkpointing', () => {
  it('recomputes blocks in the backward pass: same gradients, smaller planned memory', async () => {
    const specs = { x: spec([64, 32]), ws: Array.from({ length: L }, () => ({ a: spec([32, 128]), b: spec([128, 32]) })) };
    const r = rng(1);
    const vals = { x: Array.from({ length: 64 * 32 }, () => r() - 0.5), ws: Array.from({ length: L }, () => ({ a: Array.from({ length: 32 * 128 }, () => (r() - 0.5) * 0.2), b: Array.from({ length: 128 * 32 }, () => (r() - 0.5) * 0.2) })) };
    const plain = await compile(valueAndGrad(loss(false)), specs, { backend: BACKEND });
    const remat = await compile(valueAndGrad(loss(true)), specs, { backend: BACKEND });
    const [a, b] = [await plain.run(vals), await remat.run(vals)];
    for (const k of Object.keys(a)) assertClose(b[k].data, a[k].data, 1e-5, 1e-6, k);
    expect(remat.stats.kernels).toBeGreaterThan(plain.stats.kernels);
    expect(remat.stats.plannedBytes).toBeLessThan(plain.stats.plannedBytes);
    console.log(`planned bytes: ${plain.stats.plannedBytes} without, ${remat.stats.plannedBytes} with checkpointing`);
  });
});
