import { describe, it } from 'vitest';
import fc from 'fast-check';
import { spec } from '../compiler/trace';
import { UNARY_OPS, BINARY_OPS } from '../compiler/primitives/elementwise';
import { Tensor, where, binary, unary } from '../dsl/tensor';
import { checkAgainstReference, ints, uniform } from './helpers/check';

const POSITIVE = new Set(['log', 'sqrt', 'rsqrt']);

describe('unary ops on WebGPU match the reference', () => {
  for (const op of UNARY_OPS.filter((o) => o !== 'not')) {
    it(op, async () => {
      const gen = POSITIVE.has(op) ? uniform(0.05, 5) : op === 'reciprocal' ? uniform(0.2, 3) : uniform(-6, 6);
      // erf and tanh are polynomial/rational fits in f32: ~2e-7 absolute
      await checkAgainstReference(({ x }: { x: Tensor }) => (x as any)[op](), { x: spec([3, 37]) }, { gen, atol: 5e-6, rtol: 5e-6 });
    });
  }
  it('not on bool', async () => {
    await checkAgainstReference(({ x }: { x: Tensor<[5, 7], 'bool'> }) => unary('not', x), { x: spec([5, 7], 'bool') });
  });
  it('neg and abs on i32', async () => {
    await checkAgainstReference(({ x }: { x: Tensor<[9], 'i32'> }) => ({ n: x.neg(), a: x.abs() }), { x: spec([9], 'i32') });
  });
});

describe('binary ops broadcast like numpy', () => {
  for (const op of BINARY_OPS.filter((o) => o !== 'and' && o !== 'or')) {
    it(op, async () => {
      const gen = op === 'pow' ? { a: uniform(0.1, 3), b: uniform(-2, 2) } : op === 'div' ? { a: uniform(-3, 3), b: uniform(0.5, 2) } : undefined;
      await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => binary(op, a, b), { a: spec([4, 1, 5]), b: spec([3, 1]) }, { gen, rtol: 1e-5, atol: 1e-5 });
    });
  }
  it('integer arithmetic wraps and truncates like WGSL', async () => {
    await checkAgainstReference(
      ({ a, b }: { a: Tensor<[64], 'i32'>; b: Tensor<[64], 'i32'> }) => ({ add: a.add(b), mul: a.mul(b), div: a.div(b), max: a.maximum(b) }),
      { a: spec([64], 'i32'), b: spec([64], 'i32') },
      { gen: { a: ints(-(2 ** 31), 2 ** 31 - 1), b: ints(-9, 9) } },
    );
  });
  it('pow of negative bases with integer exponents', async () => {
    await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => a.pow(b), { a: spec([8]), b: spec([8]) }, { values: { a: [-2, -2, -1.5, 0, 0, 3, -3, 2], b: [2, 3, 2, 0, 2, -1, 0.5, 0] } });
  });
  it('where and logical ops', async () => {
    await checkAgainstReference(
      ({ c, a, b }: { c: Tensor<[2, 3], 'bool'>; a: Tensor<[3]>; b: Tensor<[2, 1]> }) => ({ w: where(c, a, b), l: binary('or', c, binary('and', c, a.gt(0).broadcastTo([2, 3]))) }),
      { c: spec([2, 3], 'bool'), a: spec([3]), b: spec([2, 1]) },
    );
  });
  it('casts between every dtype', async () => {
    await checkAgainstReference(
      ({ x }: { x: Tensor<[40]> }) => ({
        i: x.cast('i32'),
        u: x.abs().cast('u32'),
        b: x.cast('bool'),
        h: x.cast('f16'),
        back: x.cast('i32').cast('f32'),
        fromBool: x.gt(0).cast('f32'),
        iu: x.cast('i32').cast('u32').cast('i32'),
      }),
      { x: spec([40]) },
      { gen: uniform(-300, 300), values: { x: [0, -0.5, 0.5, -1.5, 1e9, -1e9, 2.5, ...Array.from({ length: 33 }, (_, i) => i * 7.3 - 100)] } },
    );
  });
  it('property: random shapes broadcast on every axis, including size 1 and empty', async () => {
    const dim = fc.oneof(fc.constant(1), fc.constant(0), fc.integer({ min: 1, max: 9 }));
    await fc.assert(
      fc.asyncProperty(fc.array(dim, { minLength: 0, maxLength: 4 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.integer(), async (shape, ones, seed) => {
        const sa = shape.map((d, i) => (ones[i] ? 1 : d));
        const sb = shape.map((d, i) => (ones[(i + 1) % 4] && !ones[i] ? 1 : d)).slice(shape.length > 1 ? 1 : 0);
        await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => a.mul(b).add(a.exp()).sub(b.tanh()), { a: spec(sa), b: spec(sb) }, { seed, rtol: 1e-5, atol: 1e-5 });
      }),
      { numRuns: 25 },
    );
  });
  it('large tensors (over a million elements)', async () => {
    await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => a.mul(b).sigmoid(), { a: spec([1031, 1033]), b: spec([1033]) });
  });
  it('f16 storage computes in f32 and rounds on store', async () => {
    await checkAgainstReference(({ a, b }: { a: Tensor<[7, 9], 'f16'>; b: Tensor<[9], 'f16'> }) => a.mul(b).add(1).exp(), { a: spec([7, 9], 'f16'), b: spec([9], 'f16') }, { gen: uniform(-1, 1), rtol: 3e-3, atol: 3e-3 });
  });
});
