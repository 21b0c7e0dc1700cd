/**
 * Elementwise kernels whose last axis is a multiple of 4 compute four outputs per invocation and
 * read their leaves along that axis as vec4 (compiler/codegen/emit.ts). Every way a leaf can be
 * read (along the axis, broadcast along it, through a permute, a slice or a pad that shifts it,
 * a gather, counters of random numbers) against the reference, for every 4-byte dtype.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spec, trace } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import { makePlan } from '../runtime/plan';
import { PORTABLE_DEVICE } from '../compiler/primitive';
import { Tensor, where } from '../dsl/tensor';
import { randomBits, randomUniform } from '../dsl/ops';
import { checkAgainstReference, ints } from './helpers/check';
import { mergeSplitAxes } from '../compiler/codegen/emit';

/** The WGSL of every kernel of a traced function (portable target: no adapter needed). */
function kernelsOf(fn: (args: any) => unknown, specs: Record<string, ReturnType<typeof spec>>): string[] {
  const t = trace(fn, specs);
  const target = { features: new Set<string>(), traits: PORTABLE_DEVICE, maxStorageBuffersPerShaderStage: 8, maxStorageBufferBindingSize: 1 << 27, minStorageBufferOffsetAlignment: 256 };
  return makePlan(target, optimize(t.graph)).kernels.map((k) => k.wgsl);
}

describe('split axes merged at a buffer read (mergeSplitAxes)', () => {
  it('merges a run of parts of one index whose divisors and sizes match the shape, nothing else', () => {
    expect(mergeSplitAxes(['o0', '((o2 / 362))', '(o2 % 362)', 'o3'], [2, 2, 362, 8])).toEqual({ idx: ['o0', 'o2', 'o3'], shape: [2, 724, 8] });
    expect(mergeSplitAxes(['((v / 12))', '((v / 4) % 3)', '(v % 4)'], [2, 3, 4])).toEqual({ idx: ['v'], shape: [24] });
    // a wrong size, another index, a divisor that is not the inner size: left alone
    for (const idx of [['((v / 12))', '((v / 4) % 3)', '(v % 5)'], ['((v / 12))', '((w / 4) % 3)', '(v % 4)'], ['((v / 8))', '((v / 4) % 3)', '(v % 4)']]) {
      expect(mergeSplitAxes(idx, [2, 3, 4])).toEqual({ idx, shape: [2, 3, 4] });
    }
  });
});

describe('elementwise kernels four outputs wide', () => {
  it('take the vector path only where the last axis allows it', () => {
    const f = ({ a, b }: { a: Tensor; b: Tensor }) => a.mul(b).add(1).tanh();
    const [wide] = kernelsOf(f, { a: spec([6, 8]), b: spec([6, 8]) });
    expect(wide).toContain('array<vec4<f32>>');
    // one vector load per leaf, shared by the four lanes
    expect(wide.match(/in0\[/g)).toEqual(['in0[']);
    expect(wide.match(/in1\[/g)).toEqual(['in1[']);
    expect(wide).toMatch(/in0\[tid\]/);
    const [odd] = kernelsOf(f, { a: spec([6, 7]), b: spec([6, 7]) });
    expect(odd).not.toContain('array<vec');
    const [even] = kernelsOf(f, { a: spec([6, 10]), b: spec([6, 10]) });
    expect(even).toContain('array<vec2<f32>>');
  });

  it('a reshape that splits an axis reads the buffer as the merged axis: no division, one vector load', async () => {
    const f = ({ a, b }: { a: Tensor; b: Tensor }) => a.reshape([2, 2, 12, 8]).exp().mul(b);
    const specs = { a: spec([2, 2, 2, 6, 8]), b: spec([2, 2, 12, 8]) };
    const [k] = kernelsOf(f, specs);
    expect(k.match(/in0\[[^\]]*\]/g)).toEqual(['in0[tid]']);
    await checkAgainstReference(f, specs);
    // the other way round (a merge read as a split of the output's axis) and a three-way split
    await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => a.reshape([2, 2, 2, 6, 8]).mul(b), { a: spec([2, 2, 12, 8]), b: spec([2, 2, 2, 6, 8]) });
    await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => a.reshape([2, 24, 8]).add(b), { a: spec([2, 2, 3, 4, 8]), b: spec([2, 24, 8]) });
  });

  it('f32 chains with leaves along, across and broadcast over the last axis', async () => {
    await checkAgainstReference(
      ({ a, b, c, s, d }: { a: Tensor; b: Tensor; c: Tensor; s: Tensor; d: Tensor }) => ({
        along: a.mul(b).sub(a.exp().mul(0.5)).tanh(),
        rowBroadcast: a.add(c),
        colBroadcast: a.mul(s),
        permuted: a.add(b.permute([1, 0]).permute([1, 0])),
        transposedLeaf: d.add(d.permute([1, 0]).mul(3)),
      }),
      { a: spec([5, 12]), b: spec([5, 12]), c: spec([12]), s: spec([5, 1]), d: spec([8, 8]) },
    );
  });

  it('shifted reads (slice and pad along the last axis) stay scalar and correct', async () => {
    await checkAgainstReference(
      ({ a }: { a: Tensor }) => ({
        shifted: a.slice([null, [1, 9]]).add(a.slice([null, [0, 8]])),
        padded: a.slice([null, [0, 6]]).pad([[0, 0], [1, 1]], -1).mul(2),
        reversed: a.slice([null, [null, null, -1]]).sub(a),
      }),
      { a: spec([3, 12]) },
    );
  });

  it('bool, i32 and u32 outputs and leaves; where; casts', async () => {
    await checkAgainstReference(
      ({ x, i, m }: { x: Tensor; i: Tensor<[4, 16], 'i32'>; m: Tensor<[4, 16], 'bool'> }) => ({
        gt: x.gt(0),
        sel: where(m, x, x.neg()),
        ints: i.mul(i).add(3),
        toU: i.abs().cast('u32'),
        notM: m.cast('i32').eq(0),
        back: x.cast('i32').cast('f32'),
      }),
      { x: spec([4, 16]), i: spec([4, 16], 'i32'), m: spec([4, 16], 'bool') },
      { gen: { x: (n, r) => Array.from({ length: n }, () => -3 + 6 * r()), i: ints(-40, 40), m: ints(0, 2) } },
    );
  });

  it('random numbers keep their counters per element', async () => {
    await checkAgainstReference(
      ({ key, x }: { key: Tensor<[2], 'u32'>; x: Tensor }) => ({
        u: randomUniform(key, [3, 20], 'f32', 7).add(x),
        bits: randomBits(key, [3, 20]),
      }),
      { key: spec([2], 'u32'), x: spec([3, 20]) },
      { gen: { key: ints(0, 1 << 30), x: (n, r) => Array.from({ length: n }, () => r()) } },
    );
  });

  it('two outputs wide where the last axis is even but not a multiple of 4', async () => {
    await checkAgainstReference(
      ({ a, b, c, m }: { a: Tensor; b: Tensor; c: Tensor; m: Tensor<[3, 362], 'bool'> }) => ({
        along: a.mul(b).add(c).exp(),
        sel: where(m, a, b.neg()).gt(0),
        shifted: a.slice([null, [1, 361]]).sub(a.slice([null, [0, 360]])),
        reduced: a.mul(b).sum(0),
      }),
      { a: spec([3, 362]), b: spec([3, 362]), c: spec([362]), m: spec([3, 362], 'bool') },
      { gen: { a: (n, r) => Array.from({ length: n }, () => r() - 0.5), b: (n, r) => Array.from({ length: n }, () => r()), c: (n, r) => Array.from({ length: n }, () => r()), m: ints(0, 2) } },
    );
  });

  it('reductions over leading axes keep four accumulators, one per output', async () => {
    const [k] = kernelsOf(({ x }: { x: Tensor }) => x.mul(x).sum(0), { x: spec([6, 16]) });
    expect(k).toContain('array<vec4<f32>>');
    await checkAgainstReference(
      ({ x, y, i }: { x: Tensor; y: Tensor; i: Tensor<[3, 5, 8], 'i32'> }) => ({
        sum: x.mul(y).sum(0),
        max: x.exp().max([0, 1]),
        min: x.min(1, true),
        argmax: x.argmax(0),
        argmin: x.neg().argmax(1),
        ints: i.sum([0, 1]),
        broadcastLeaf: x.add(y.sum(0, true)).sum(1),
        lastAxis: x.sum(-1),
      }),
      { x: spec([3, 5, 8]), y: spec([3, 5, 8]), i: spec([3, 5, 8], 'i32') },
      { gen: { x: (n, r) => Array.from({ length: n }, () => -2 + 4 * r()), y: (n, r) => Array.from({ length: n }, () => r()), i: ints(-9, 9) } },
    );
  });

  it('property: random shapes with a last axis of 4k or 2k, leaves broadcast on random axes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 2 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        fc.integer({ min: 0, max: 1000 }),
        async (lead, q, bcast, seed) => {
          const shape = [...lead, (seed % 2 ? 4 : 2) * q];
          const bShape = shape.map((d, i) => (bcast[i % 3] ? 1 : d));
          await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => a.mul(b).add(b.exp()).maximum(a), { a: spec(shape), b: spec(bShape) }, { seed });
        },
      ),
      { numRuns: 12 },
    );
  });
});
