/**
 * Small kernels packed into one dispatch (compiler/codegen/schedule.ts groupSiblings,
 * compiler/codegen/emit.ts emitSegments): elementwise kernels and reductions of different shapes,
 * widths (vec4, vec2, scalar) and dtypes share a kernel, each on its own range of invocations;
 * a buffer read as vectors by one part and otherwise by another is declared scalar; a kernel
 * that reads a packed output still runs after it. Checked against the reference.
 */
import { describe, expect, it } from 'vitest';
import { spec, trace } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import type { Tensor } from '../dsl/tensor';
import { compileTraced } from '../runtime/compile';
import { getGpu } from '../runtime/gpu';
import { BACKEND, checkAgainstReference, uniform } from './helpers/check';

const labels = async (f: (x: any) => unknown, specs: Record<string, ReturnType<typeof spec>>) => {
  const t = trace(f, specs);
  return (await compileTraced(optimize(t.graph), t.inputs, BACKEND)).kernels.map((k) => k.label);
};

describe('packing small kernels into one dispatch', () => {
  it('elementwise kernels and reductions of different shapes, widths and dtypes', async () => {
    const f = ({ a, b, c, i }: { a: Tensor; b: Tensor; c: Tensor; i: Tensor }) => ({
      v4: a.mul(2).add(1), // last axis 12: four outputs per invocation
      v2: b.exp(), // 6: two
      s1: c.tanh(), // 7: one
      sum: a.sum(1), // a reduction reading a, which the first part reads as vec4
      max: c.max(0),
      arg: b.argmax(1),
      int: i.mul(3),
      flag: c.gt(0),
      both: a.slice([null, [0, 7]]).add(c), // reads a (vec4 elsewhere) at other positions: a is declared scalar
    });
    const specs = { a: spec([5, 12]), b: spec([9, 6]), c: spec([5, 7]), i: spec([11], 'i32') };
    const ls = await labels(f, specs);
    expect(ls.length).toBeLessThan(5);
    expect(ls.some((l) => l.split('+').length >= 4)).toBe(true);
    await checkAgainstReference(f, specs, { gen: { a: uniform(-2, 2), b: uniform(-2, 2), c: uniform(-2, 2), i: (n: number) => Array.from({ length: n }, (_, k) => k - 5) } });
  });

  it('f16 and f32 parts in one kernel', async () => {
    const gpu = await getGpu();
    if (!gpu.features.has('shader-f16')) return;
    const f = ({ h, x }: { h: Tensor; x: Tensor }) => ({ h2: h.mul(h), hs: h.sum(), x2: x.sqrt() });
    const specs = { h: spec([6, 8], 'f16'), x: spec([13]) };
    expect((await labels(f, specs)).length).toBeLessThan(3);
    await checkAgainstReference(f, specs, { gen: uniform(0.5, 2) });
  });

  it('a kernel that reads a packed output runs after the packed kernel', async () => {
    // p and q pack; r reads p, so it closes that group and comes after it; s packs with r
    const f = ({ x, y }: { x: Tensor; y: Tensor }) => {
      const p = x.mul(3).sub(1);
      const q = y.abs().sum();
      const r = p.mul(p).sum(0);
      const s = y.neg().add(2);
      return { p, q, r, s, t: r.add(q) };
    };
    const specs = { x: spec([6, 10]), y: spec([15]) };
    await checkAgainstReference(f, specs, { gen: uniform(-2, 2) });
  });
});
