import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { spec } from '../compiler/trace';
import type { Tensor } from '../dsl/tensor';
import { matmul } from '../dsl/tensor';
import { conv1d, conv2d, embedding, scatterAdd, randomUniform, randomNormal, randomBits, dropout, avgPool1d } from '../dsl/ops';
import { checkAgainstReference, ints, uniform } from './helpers/check';
import { compile } from '../runtime/compile';
import { BACKEND, assertClose } from './helpers/check';

describe('matmul', () => {
  it('odd sizes, not multiples of the 4x4 block', async () => {
    await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => a.matmul(b), { a: spec([7, 13]), b: spec([13, 5]) }, { rtol: 1e-5, atol: 1e-5 });
  });
  it('batched with broadcast batch dims, vectors, transposed operands', async () => {
    await checkAgainstReference(
      ({ a, b, v }: { a: Tensor; b: Tensor; v: Tensor }) => ({
        bb: matmul(a, b),
        vec: matmul(v, b.slice([0])),
        mv: matmul(a.slice([0, 0]), v),
        tt: matmul(a.transpose(), a),
      }),
      { a: spec([3, 1, 6, 9]), b: spec([2, 9, 4]), v: spec([9]) },
      { rtol: 1e-5, atol: 1e-5 },
    );
  });
  it('empty inner and outer dims', async () => {
    await checkAgainstReference(({ a, b, c }: { a: Tensor; b: Tensor; c: Tensor }) => ({ k0: a.matmul(b), m0: c.matmul(a) }), { a: spec([3, 0]), b: spec([0, 4]), c: spec([0, 3]) });
  });
  it('property: random shapes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 19 }), fc.integer({ min: 1, max: 19 }), fc.integer({ min: 1, max: 19 }), fc.integer({ min: 1, max: 3 }), async (m, k, n, b) => {
        await checkAgainstReference(({ x, y }: { x: Tensor; y: Tensor }) => x.matmul(y), { x: spec([b, m, k]), y: spec([b, k, n]) }, { rtol: 1e-5, atol: 1e-5 });
      }),
      { numRuns: 15 },
    );
  });
  it('the portable kernel (any adapter) on the same awkward shapes', async () => {
    await checkAgainstReference(
      ({ a, b, v }: { a: Tensor; b: Tensor; v: Tensor }) => ({ bb: matmul(a, b), tt: matmul(a.transpose(), a), vec: matmul(v, b.slice([0])) }),
      { a: spec([3, 1, 6, 9]), b: spec([2, 9, 4]), v: spec([9]) },
      { rtol: 1e-5, atol: 1e-5, portable: true },
    );
    await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => a.matmul(b), { a: spec([70, 33]), b: spec([33, 65]) }, { rtol: 1e-5, atol: 1e-5, portable: true });
  });
  it('f16 storage operands (packed to f32 textures on a CPU adapter)', async () => {
    await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => a.matmul(b), { a: spec([97, 121], 'f16'), b: spec([121, 130], 'f16') }, { rtol: 3e-3, atol: 3e-3, gen: uniform(-1, 1) });
  });
  it('the texture kernel on awkward batched and transposed shapes', async () => {
    await checkAgainstReference(
      ({ a, b }: { a: Tensor; b: Tensor }) => ({ ab: matmul(a, b), atb: matmul(a.transpose(), a), abt: matmul(b.transpose(), a.transpose()) }),
      { a: spec([3, 67, 101]), b: spec([3, 101, 45]) },
      { rtol: 1e-4, atol: 1e-4 },
    );
  });
  it('a large product (300 x 257 x 129)', async () => {
    await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => a.matmul(b), { a: spec([300, 257]), b: spec([257, 129]) }, { rtol: 1e-4, atol: 1e-4 });
  });
});

describe('convolution', () => {
  it('conv1d with stride, padding, dilation (the Whisper stem shape)', async () => {
    await checkAgainstReference(
      ({ x, w1, b1, w2 }: { x: Tensor; w1: Tensor; b1: Tensor; w2: Tensor }) => {
        const h = conv1d(x, w1, b1, { padding: 1 });
        return { h, s2: conv1d(h, w2, undefined, { stride: 2, padding: 1 }), dil: conv1d(x, w1, undefined, { dilation: 2, padding: [3, 0] }) };
      },
      { x: spec([2, 5, 17]), w1: spec([6, 5, 3]), b1: spec([6]), w2: spec([4, 6, 3]) },
      { rtol: 1e-5, atol: 1e-5 },
    );
  });
  it('conv2d with groups, asymmetric stride and padding', async () => {
    await checkAgainstReference(
      ({ x, w, dw }: { x: Tensor; w: Tensor; dw: Tensor }) => ({
        g: conv2d(x, w, undefined, { stride: [2, 1], padding: [1, [0, 2]], groups: 2 }),
        depthwise: conv2d(x, dw, undefined, { padding: 1, groups: 4 }),
      }),
      { x: spec([2, 4, 9, 7]), w: spec([6, 2, 3, 2]), dw: spec([4, 1, 3, 3]) },
      { rtol: 1e-5, atol: 1e-5 },
    );
  });
  it('the direct kernel (ungrouped convolutions otherwise run as a matmul)', async () => {
    await checkAgainstReference(
      ({ x, w }: { x: Tensor; w: Tensor }) => ({ d2: conv2d(x, w, undefined, { stride: [2, 1], padding: [1, [0, 2]], direct: true }), d1: conv1d(x.reshape([2, 4, 63]), w.slice([null, null, 0]), undefined, { padding: 1, direct: true }) }),
      { x: spec([2, 4, 9, 7]), w: spec([6, 4, 3, 2]) },
      { rtol: 1e-5, atol: 1e-5 },
    );
  });
  it('patch embedding (kernel = stride, as SigLIP and Swin)', async () => {
    await checkAgainstReference(({ x, w, b }: { x: Tensor; w: Tensor; b: Tensor }) => conv2d(x, w, b, { stride: 4 }), { x: spec([1, 3, 16, 12]), w: spec([8, 3, 4, 4]), b: spec([8]) }, { rtol: 1e-5, atol: 1e-5 });
  });
  it('avg_pool1d with kernel 3, stride 3 and with padding', async () => {
    await checkAgainstReference(({ x }: { x: Tensor }) => ({ a: avgPool1d(x, 3), b: avgPool1d(x, 3, 2, 1) }), { x: spec([2, 3, 11]) });
  });
});

describe('gather, embedding, scatter-add', () => {
  it('take along every axis with multi-dim indices', async () => {
    await checkAgainstReference(
      ({ x, i }: { x: Tensor; i: Tensor<[2, 3], 'i32'> }) => ({ a0: x.take(i, 0), a1: x.take(i, 1).mul(2), a2: x.take(i, -1) }),
      { x: spec([4, 5, 6]), i: spec([2, 3], 'i32') },
      { gen: { i: ints(0, 4) } },
    );
  });
  it('embedding lookup', async () => {
    await checkAgainstReference(({ t, ids }: { t: Tensor; ids: Tensor }) => embedding(t, ids), { t: spec([11, 8]), ids: spec([3, 5], 'i32') }, { gen: { ids: ints(0, 11) } });
  });
  it('scatter-add accumulates repeated indices', async () => {
    await checkAgainstReference(
      ({ u, i }: { u: Tensor; i: Tensor }) => ({ s0: scatterAdd(u, i, 0, 7), s1: scatterAdd(u.transpose(), i, 1, 5) }),
      { u: spec([6, 4]), i: spec([6], 'i32') },
      { values: { i: [0, 3, 3, 1, 0, 3] } },
    );
  });
  it('scatter-add with long rows (two chunks of 128 and a partial one), rows before the axis, and ints', async () => {
    await checkAgainstReference(
      ({ u, w, n, i }: { u: Tensor; w: Tensor; n: Tensor; i: Tensor }) => ({ long: scatterAdd(u, i, 0, 9), wide: scatterAdd(w, i, 1, 4), ints: scatterAdd(n, i, 0, 5) }),
      { u: spec([10, 300]), w: spec([3, 10, 64]), n: spec([10, 3], 'i32'), i: spec([10], 'i32') },
      { values: { i: [0, 3, 3, 1, 0, 3, 2, 2, 3, 0] } },
    );
  });
});

describe('counter-based random numbers', () => {
  it('uniform, normal and bits are the same stream on the device and the reference', async () => {
    await checkAgainstReference(
      ({ key }: { key: Tensor }) => ({ u: randomUniform(key, [33, 7]), n: randomNormal(key, [1000], 'f32', 5), b: randomBits(key, [64]), d: dropout(randomUniform(key, [50]).add(1), key, 0.3, 100) }),
      { key: spec([2], 'u32') },
      { values: { key: [12345, 678] }, rtol: 1e-5, atol: 2e-5 },
    );
  });
  it('different keys give different streams, a key the same one twice', async () => {
    const exe = await compile(({ key }: { key: Tensor }) => randomUniform(key, [256]), { key: spec([2], 'u32') }, { backend: BACKEND });
    const a = (await exe.run({ key: [1, 2] }))[''].data;
    const b = (await exe.run({ key: [1, 3] }))[''].data;
    const c = (await exe.run({ key: [1, 2] }))[''].data;
    expect(Array.from(a)).toEqual(Array.from(c));
    expect(Array.from(a)).not.toEqual(Array.from(b));
    const mean = Array.from(a).reduce((s, v) => s + v, 0) / a.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.08);
  });
  void uniform;
});

describe('compile cache', () => {
  it('tells graphs apart by the contents of large constants', async () => {
    const { constant } = await import('../dsl/tensor');
    const f = (k: number) => ({ x }: { x: Tensor }) => x.add(constant(Array.from({ length: 9 }, (_, i) => i * k), [9]));
    const a = await compile(f(1), { x: spec([9]) }, { backend: BACKEND });
    const b = await compile(f(100), { x: spec([9]) }, { backend: BACKEND });
    expect(a).not.toBe(b);
    expect(Array.from((await b.run({ x: new Float32Array(9) }))[''].data)).toEqual(Array.from({ length: 9 }, (_, i) => i * 100));
  });
});

describe('device tensors as inputs', () => {
  it('are bound directly whether or not the input was compiled as external', async () => {
    const f = ({ x }: { x: Tensor }) => x.mul(3).exp();
    for (const external of [undefined, () => true]) {
      const exe = await compile(f, { x: spec([5]) }, { backend: BACKEND, external });
      const dev = exe.deviceTensor([5], 'f32', [0, 0.1, 0.2, 0.3, 0.4]);
      const out = await exe.run({ x: dev });
      assertClose(out[''].data, [0, 0.3, 0.6, 0.9, 1.2].map(Math.exp), 1e-6, 1e-6, `external ${!!external}`);
      if (!external) assertClose((await exe.run({ x: [1, 1, 1, 1, 1] }))[''].data, Array(5).fill(Math.exp(3)), 1e-6, 1e-6, 'host data after a device tensor');
      dev.dispose();
    }
  });
});

describe('outputs written into device tensors', () => {
  it('are computed there directly, or copied when the target is also read in the call', async () => {
    // y is computed by a kernel of its own; s is also an output and feeds y; twice returns one tensor under two names
    const f = ({ x, w }: { x: Tensor; w: Tensor }) => {
      const s = x.mul(w).add(1);
      return { y: s.exp().sub(x), s, twiceA: w.mul(2), twiceB: w.mul(2) };
    };
    const exe = await compile(f, { x: spec([3, 8]), w: spec([3, 8]) }, { backend: BACKEND, external: () => true });
    const xs = Array.from({ length: 24 }, (_, i) => (i - 12) / 10);
    const ws = Array.from({ length: 24 }, (_, i) => Math.cos(i));
    const s = xs.map((v, i) => v * ws[i] + 1);
    const want = { y: s.map((v, i) => Math.exp(v) - xs[i]), s, twiceA: ws.map((v) => 2 * v), twiceB: ws.map((v) => 2 * v) };
    const x = exe.deviceTensor([3, 8], 'f32', xs);
    const w = exe.deviceTensor([3, 8], 'f32', ws);
    const into = Object.fromEntries(Object.keys(want).map((k) => [k, exe.deviceTensor([3, 8], 'f32')]));
    for (let round = 0; round < 2; round++) {
      const got = await exe.run({ x, w }, { into });
      expect(Object.keys(got)).toEqual([]);
      for (const [k, v] of Object.entries(want)) assertClose((await into[k].read()).data, v, 1e-6, 1e-6, `into.${k}, round ${round}`);
    }
    // the input w receives y: its old values must be read before the result lands in it
    const w2 = exe.deviceTensor([3, 8], 'f32', ws);
    await exe.run({ x, w: w2 }, { into: { y: w2 } });
    assertClose((await w2.read()).data, want.y, 1e-6, 1e-6, 'y written into its own input w');
    for (const t of [x, w, w2, ...Object.values(into)]) t.dispose();
    exe.dispose();
  });
  it('never overwrite an input that a later kernel of the call still reads', async () => {
    const g = ({ x, w }: { x: Tensor; w: Tensor }) => ({ y: x.mul(2), z: w.exp(), v: w.neg() });
    const exe = await compile(g, { x: spec([16]), w: spec([16]) }, { backend: BACKEND, external: () => true });
    const xs = Array.from({ length: 16 }, (_, i) => i / 8);
    const ws = Array.from({ length: 16 }, (_, i) => -i / 5);
    const x = exe.deviceTensor([16], 'f32', xs);
    const w = exe.deviceTensor([16], 'f32', ws);
    const got = await exe.run({ x, w }, { into: { y: w }, outputs: ['z', 'v'] });
    assertClose(got.z.data, ws.map(Math.exp), 1e-6, 1e-6, 'z read w after y was written into it');
    assertClose(got.v.data, ws.map((v) => -v), 1e-6, 1e-6, 'v read w after y was written into it');
    assertClose((await w.read()).data, xs.map((v) => 2 * v), 1e-6, 1e-6, 'y in w');
    x.dispose();
    w.dispose();
    exe.dispose();
  });
});
