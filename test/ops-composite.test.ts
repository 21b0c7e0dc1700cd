import { describe, it, expect } from 'vitest';
import { spec, trace } from '../compiler/trace';
import type { Tensor } from '../dsl/tensor';
import { causalSoftmax, gelu, silu, softmax, logSoftmax, layerNorm, rmsNorm, attention, rope, crossEntropy, oneHot } from '../compiler/composites';
import { iota } from '../dsl/tensor';
import { printGraph } from '../compiler/dump';
import { lowerComposites } from '../compiler/passes';
import { BACKEND, checkAgainstReference, ints, uniform } from './helpers/check';
import { optimize } from '../compiler/passes';
import { compileTraced } from '../runtime/compile';
import { getGpu } from '../runtime/gpu';

const tol = { rtol: 2e-5, atol: 2e-5 };

/**
 * Rows of C values, five kinds in turn: -inf in places; all -inf (softmax 0/0: NaN like the
 * reference); one +inf; values around 1000 spread by 1 (a one-pass sum of squares loses the
 * variance there); one massive value first.
 */
const awkwardRows = (C: number) => (n: number, r: () => number) =>
  Array.from({ length: n }, (_, i) => {
    const [row, c] = [Math.floor(i / C) % 5, i % C];
    if (row === 0) return c % 3 === 1 ? -Infinity : r() * 4 - 2;
    if (row === 1) return -Infinity;
    if (row === 2) return c === 5 ? Infinity : r();
    if (row === 3) return 1000 + r();
    return c === 0 ? 3e5 : 1000 + r();
  });

describe('composites (expanded into primitives) on WebGPU match the reference', () => {
  it('gelu (erf and tanh), silu', async () => {
    await checkAgainstReference(({ x }: { x: Tensor }) => ({ g: gelu(x), t: gelu(x, 'tanh'), s: silu(x) }), { x: spec([5, 21]) }, { gen: uniform(-6, 6), ...tol });
  });
  it('softmax and log-softmax on every axis, with large logits', async () => {
    await checkAgainstReference(
      ({ x }: { x: Tensor }) => ({ s0: softmax(x, 0), s1: softmax(x.mul(40), 1), l: logSoftmax(x.mul(40), -1) }),
      { x: spec([6, 9, 4]) },
      tol,
    );
  });
  it('layer norm (with and without affine) and RMS norm', async () => {
    await checkAgainstReference(
      ({ x, g, b }: { x: Tensor; g: Tensor; b: Tensor }) => ({ ln: layerNorm(x, g, b), plain: layerNorm(x), rms: rmsNorm(x, g, 1e-6), bias: layerNorm(x, undefined, b) }),
      { x: spec([3, 4, 17]), g: spec([17]), b: spec([17]) },
      { rtol: 1e-4, atol: 1e-4 },
    );
  });
  it('row kernels with vec4 rows (last axis a multiple of 4): softmax, log-softmax, layer and RMS norm', async () => {
    await checkAgainstReference(
      ({ x, g, b }: { x: Tensor; g: Tensor; b: Tensor }) => ({ s: softmax(x.mul(20), -1), l: logSoftmax(x, -1), ln: layerNorm(x, g, b), rms: rmsNorm(x, g), plain: layerNorm(x) }),
      { x: spec([7, 3, 12]), g: spec([12]), b: spec([12]) },
      { rtol: 1e-4, atol: 1e-4 },
    );
  });
  it('vec4 row kernels on awkward rows: -inf entries, a row of -inf, +inf, a large offset, one massive value', async () => {
    const C = 16;
    const gen = awkwardRows(C);
    await checkAgainstReference(({ x }: { x: Tensor }) => ({ s: softmax(x, -1), l: logSoftmax(x, -1) }), { x: spec([2, 5, C]) }, { rtol: 1e-4, atol: 1e-6, gen: { x: gen } });
    const norms = (n: number, r: () => number) => gen(n, r).map((v, i) => (Math.floor(i / C) % 5 < 3 ? r() * 3 : v));
    await checkAgainstReference(({ x }: { x: Tensor }) => ({ ln: layerNorm(x), rms: rmsNorm(x, undefined, 1e-6) }), { x: spec([2, 5, C]) }, { rtol: 2e-4, atol: 2e-4, gen: { x: norms } });
  });
  it('softmax with one subgroup per row (rows of 4 x lanes x k values): 1, 3 and 5 steps of the lanes x 4 values, awkward rows; rows of 65 x 64 values', async () => {
    const gpu = await getGpu();
    const w = 4 * (gpu.traits.subgroupSize === 16 ? 16 : 8);
    const f = ({ a, b, c, d }: { a: Tensor; b: Tensor; c: Tensor; d: Tensor }) => ({ a: softmax(a, -1), la: logSoftmax(a, -1), b: softmax(b.mul(30), -1), c: logSoftmax(c.mul(30), -1), d: softmax(d, -1) });
    // rows of a multiple of 64 values go through a texture on a CPU rasteriser (texture-reads.test.ts)
    // when a lane holds at most 64 vec4s of one: 4160 values never do, so d always takes the subgroup kernel
    const specs = { a: spec([2, 5, w]), b: spec([9, 3 * w]), c: spec([3, 5 * w]), d: spec([3, 4160]) };
    const t = trace(f, specs);
    const exe = await compileTraced(optimize(t.graph), t.inputs, BACKEND);
    if (gpu.features.has('subgroups')) {
      expect(exe.kernels.filter((k) => /softmax-(sg|tex)$/.test(k.label)).length).toBe(5);
      expect(exe.kernels.filter((k) => /softmax-sg$/.test(k.label)).length).toBeGreaterThanOrEqual(1);
    }
    await checkAgainstReference(f, specs, { rtol: 1e-4, atol: 1e-6, gen: { a: awkwardRows(w), b: uniform(-1, 1), c: uniform(-1, 1), d: uniform(-3, 3) } });
  });
  it('attention: plain, causal, grouped-query (4 query heads per kv head) and masked', async () => {
    await checkAgainstReference(
      ({ q, k, v, qg, m }: { q: Tensor; k: Tensor; v: Tensor; qg: Tensor; m: Tensor }) => ({
        plain: attention(q, k, v),
        causal: attention(q, k, v, { causal: true }),
        gqa: attention(qg, k, v, { causal: true, offset: 2 }),
        masked: attention(q, k, v, { mask: m.gt(0) }),
      }),
      { q: spec([2, 2, 5, 8]), k: spec([2, 2, 7, 8]), v: spec([2, 2, 7, 6]), qg: spec([2, 8, 5, 8]), m: spec([5, 7]) },
      { rtol: 1e-4, atol: 1e-4, gen: { m: uniform(-0.2, 1) } },
    );
  });
  it('rotary embedding (rotate-half) with rope_theta', async () => {
    await checkAgainstReference(
      ({ x }: { x: Tensor }) => ({ r: rope(x, iota([6], 0), 1e6), off: rope(x, iota([6], 0).add(10), 10000) }),
      { x: spec([2, 3, 6, 8]) },
      { rtol: 1e-4, atol: 1e-4 },
    );
  });
  it('cross-entropy ignores the ignore index in sum and count; one-hot', async () => {
    await checkAgainstReference(
      ({ logits, t }: { logits: Tensor; t: Tensor }) => ({
        mean: crossEntropy(logits, t),
        none: crossEntropy(logits, t, { reduction: 'none' }),
        oh: oneHot(t, 10),
      }),
      { logits: spec([3, 4, 10]), t: spec([3, 4], 'i32') },
      { values: { t: [1, -100, 3, 9, 0, 0, -100, 5, 2, 2, 7, 8] }, ...tol },
    );
  });
  it('cross-entropy against a hand-computed value', async () => {
    const got = await checkAgainstReference(({ l, t }: { l: Tensor; t: Tensor }) => crossEntropy(l, t), { l: spec([2, 3]), t: spec([2], 'i32') }, { values: { l: [0, 0, 0, 1, 2, 3], t: [0, 2] } });
    const want = (Math.log(3) + (Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3)) / 2;
    expect(got[''].data[0]).toBeCloseTo(want, 6);
  });
  it('composites stay single nodes until lowered', () => {
    const t = trace(({ x }: { x: Tensor }) => softmax(x), { x: spec([2, 3]) });
    expect(printGraph(t.graph)).toMatch(/softmax/);
    expect(printGraph(lowerComposites(t.graph))).not.toMatch(/softmax/);
    expect(printGraph(lowerComposites(t.graph))).toMatch(/reduce_max/);
  });
  void ints;
});

describe('causal softmax (the mask applied by the row kernel)', () => {
  for (const [shape, offset] of [[[2, 3, 5, 8], 0], [[2, 5, 7], 2], [[4, 12], 9], [[3, 6, 16], 1], [[2, 40, 44], 3]] as const) {
    it(`[${shape}] offset ${offset} matches the masked expansion`, async () => {
      await checkAgainstReference(({ s }: { s: Tensor }) => causalSoftmax(s.mul(3), offset), { s: spec([...shape]) }, { rtol: 1e-5, atol: 1e-6 });
    });
  }
});
