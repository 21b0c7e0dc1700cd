/**
 * The workgroup-memory tiled matmul (kernels/matmul-tiled.ts), the kernel GPUs get for big
 * products: compiled with the portable device traits (no CPU rasteriser, no subgroups) it runs
 * here too, so it is checked against the reference on sizes that are not multiples of the
 * 64 x 64 tile or the 16-wide K slice, every transposition, batches, a K shorter than one
 * slice, and f16 storage; CPU rasterisers never get it.
 */
import { describe, expect, it } from 'vitest';
import { spec, trace } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import type { Tensor } from '../dsl/tensor';
import { matmul } from '../dsl/tensor';
import { compileTraced } from '../runtime/compile';
import { getGpu } from '../runtime/gpu';
import { BACKEND, checkAgainstReference, uniform } from './helpers/check';

type AB = { a: Tensor; b: Tensor };

const labels = async (f: (x: AB) => Tensor, specs: { a: ReturnType<typeof spec>; b: ReturnType<typeof spec> }, portable: boolean) => {
  const t = trace(f, specs);
  return (await compileTraced(optimize(t.graph), t.inputs, BACKEND, undefined, portable)).kernels.map((k) => k.label);
};

describe('workgroup-tiled matmul (the GPU kernel)', () => {
  const cases: [string, (x: AB) => Tensor, number[], number[]][] = [
    ['130 x 150 x 70', ({ a, b }) => matmul(a, b), [130, 150], [150, 70]],
    ['A transposed, batches of 2: 2 x 67 x 133 x 129', ({ a, b }) => matmul(a.transpose(), b), [2, 133, 67], [2, 133, 129]],
    ['B transposed: 67 x 133 x 129', ({ a, b }) => matmul(a, b.transpose()), [67, 133], [129, 133]],
    ['both transposed: 129 x 100 x 90', ({ a, b }) => matmul(a.transpose(), b.transpose()), [100, 129], [90, 100]],
    ['K of 5 (shorter than one slice): 300 x 5 x 700', ({ a, b }) => matmul(a, b), [300, 5], [5, 700]],
  ];
  for (const [name, f, as, bs] of cases) {
    it(name, async () => {
      const specs = { a: spec(as), b: spec(bs) };
      expect((await labels(f, specs, true)).some((l) => /:tiled$/.test(l))).toBe(true);
      await checkAgainstReference(f, specs, { portable: true, rtol: 1e-4, atol: 1e-5, gen: uniform(-1, 1) });
    });
  }

  it('f16 storage, f32 arithmetic', async () => {
    const gpu = await getGpu();
    if (!gpu.features.has('shader-f16')) return;
    const f = ({ a, b }: AB) => matmul(a, b);
    const specs = { a: spec([100, 120], 'f16'), b: spec([120, 90], 'f16') };
    expect((await labels(f, specs, true)).some((l) => /:tiled$/.test(l))).toBe(true);
    await checkAgainstReference(f, specs, { portable: true, rtol: 5e-3, atol: 5e-3, gen: uniform(-1, 1) });
  });

  it('is not offered to a CPU rasteriser (its barriers are the slowest path there)', async () => {
    const specs = { a: spec([130, 150]), b: spec([150, 70]) };
    expect((await labels(({ a, b }) => matmul(a, b), specs, false)).some((l) => /tiled/.test(l))).toBe(false);
  });
});
