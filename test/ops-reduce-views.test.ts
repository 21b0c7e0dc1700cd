import { describe, it, expect } from 'vitest';
import { trace } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import { graphNodes } from '../compiler/ir';
import fc from 'fast-check';
import { spec } from '../compiler/trace';
import { Tensor, concat, split } from '../dsl/tensor';
import { checkAgainstReference, uniform } from './helpers/check';
import { reshapeGroups } from '../compiler/primitives/views';

describe('reductions over any set of axes', () => {
  const axesSets: (number[] | undefined)[] = [[0], [1], [2], [0, 2], [1, 2], [0, 1, 2], undefined, [-1]];
  for (const axes of axesSets) {
    it(`sum/mean/max/min over ${axes ? `[${axes}]` : 'all'}, with and without keepdims`, async () => {
      await checkAgainstReference(
        ({ x }: { x: Tensor }) => ({ s: x.sum(axes), m: x.mean(axes, true), mx: x.max(axes), mn: x.min(axes, true) }),
        { x: spec([5, 7, 3]) },
        { rtol: 1e-5, atol: 1e-5 },
      );
    });
  }
  it('argmax and argmin take the first extreme', async () => {
    await checkAgainstReference(
      ({ x }: { x: Tensor }) => ({ a0: x.argmax(0), a1: x.argmax(-1, true), i1: x.argmin(1) }),
      { x: spec([4, 6]) },
      { values: { x: [1, 3, 3, 0, 2, 3, 5, 5, 1, 1, 5, 0, -1, -2, -2, -1, 0, 0, 7, 1, 7, 7, 1, 0] } },
    );
  });
  it('integer sums and a reduction fused with its elementwise prologue', async () => {
    await checkAgainstReference(
      ({ x, y }: { x: Tensor<[6, 10], 'i32'>; y: Tensor<[10], 'f32'> }) => ({ s: x.sum(1), p: y.mul(y).add(1).log().sum(), e: x.cast('f32').mul(y).max(0) }),
      { x: spec([6, 10], 'i32'), y: spec([10]) },
    );
  });
  it('empty axes sum to zero', async () => {
    await checkAgainstReference(({ x }: { x: Tensor }) => ({ s: x.sum(1), t: x.sum(0) }), { x: spec([3, 0]) });
  });
  it('a long reduction (65536 elements)', async () => {
    await checkAgainstReference(({ x }: { x: Tensor }) => x.sum(), { x: spec([256, 256]) }, { rtol: 1e-4, atol: 1e-3 });
  });
  it('property: random shapes and axes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }), fc.integer(), async (shape, seed) => {
        const axes = shape.map((_, i) => i).filter((i) => (seed >> i) & 1);
        await checkAgainstReference(({ x }: { x: Tensor }) => ({ s: x.exp().sum(axes), m: x.max(axes, true) }), { x: spec(shape) }, { seed, rtol: 1e-5, atol: 1e-5 });
      }),
      { numRuns: 20 },
    );
  });
});

describe('views', () => {
  it('reshape, permute, transpose, unsqueeze, squeeze, flatten', async () => {
    await checkAgainstReference(
      ({ x }: { x: Tensor }) => ({
        r: x.reshape([6, 5, 2]),
        p: x.permute([2, 0, 1]),
        t: x.transpose(0, 2).reshape([-1, 3]),
        u: x.unsqueeze(1).squeeze(1).flatten(1),
        pp: x.permute([1, 2, 0]).permute([2, 0, 1]).add(1),
      }),
      { x: spec([3, 4, 5]) },
    );
  });
  it('broadcastTo and expand of size-1 axes', async () => {
    await checkAgainstReference(({ x }: { x: Tensor }) => x.broadcastTo([2, 4, 3, 5]).mul(2), { x: spec([4, 1, 5]) });
  });
  it('slices with steps, negative steps, negative indices and integer indices', async () => {
    await checkAgainstReference(
      ({ x }: { x: Tensor }) => ({
        a: x.slice([[1, 5, 2], null, [-3, null]]),
        b: x.slice([[null, null, -1], 2]),
        c: x.slice([-1, [1, -1], [null, null, -2]]),
        empty: x.slice([[3, 3]]),
      }),
      { x: spec([6, 5, 7]) },
    );
  });
  it('pad with values and crops by negative pads', async () => {
    await checkAgainstReference(
      ({ x }: { x: Tensor }) => ({ a: x.pad([[1, 2], [0, 3]], -1.5), b: x.pad([[-1, 1], [2, -2]]), c: x.pad([[3, 0], [0, 0]]).exp() }),
      { x: spec([4, 5]) },
    );
  });
  it('concat and split on every axis, with empty parts', async () => {
    await checkAgainstReference(
      ({ a, b, c }: { a: Tensor; b: Tensor; c: Tensor }) => {
        const [p, q, r] = split(concat([a, b, c], 1), [2, 3, 4], 1);
        return { cat0: concat([a.slice([null, [0, 2]]), b.slice([null, [0, 2]])], 0), p, q: q.mul(2), r: concat([r, a.slice([null, [0, 0]])], 1), s: split(a, 2, 0)[1] };
      },
      { a: spec([3, 2]), b: spec([3, 3]), c: spec([3, 4]) },
    );
  });
  it('a slice of a concat that stays within one part is a slice of that part (the concat goes)', async () => {
    const f = ({ a, b }: { a: Tensor; b: Tensor }) => {
      const cat = concat([a, b.exp()], 1);
      return { left: cat.slice([null, [1, 3]]), right: cat.slice([null, [4, 7]]).mul(2), whole: cat.slice([null, [4, 9]]) };
    };
    const specs = { a: spec([3, 4]), b: spec([3, 5]) };
    expect(graphNodes(optimize(trace(f, specs).graph)).some((n) => n.op === 'concat')).toBe(false);
    await checkAgainstReference(f, specs);
    // across a boundary the concat stays
    const g = ({ a, b }: { a: Tensor; b: Tensor }) => concat([a, b], 1).slice([null, [2, 6]]);
    expect(graphNodes(optimize(trace(g, specs).graph)).some((n) => n.op === 'concat')).toBe(true);
    await checkAgainstReference(g, specs);
  });
  it('views compose with elementwise ops in one kernel', async () => {
    await checkAgainstReference(
      ({ x, y }: { x: Tensor; y: Tensor }) => x.transpose().slice([[0, 4]]).add(y.reshape([4, 1])).pad([[1, 0], [0, 0]]).exp(),
      { x: spec([6, 4]), y: spec([2, 2]) },
      { gen: uniform(-1, 1) },
    );
  });
});

describe('reshapes of buffers are bound, not copied', () => {
  it('a materialised reshape read by kernels is its input buffer again: no copy kernel, same results', async () => {
    const shapes = { a: spec([5, 6]), b: spec([6, 5]), c: spec([5, 3]) };
    const g = ({ a, b, c }: { a: Tensor; b: Tensor; c: Tensor }) => {
      const z = a.matmul(b).reshape([5, 5]).transpose().reshape([25]).reshape([5, 5]); // the transpose is a real copy
      const y = a.matmul(b).reshape([25, 1]).reshape([5, 5]);
      return { m: y.matmul(c), s: y.sum(1), t: z.matmul(c), r: a.reshape([6, 5]).transpose().matmul(b.reshape([5, 6]).transpose()) };
    };
    await checkAgainstReference(g, shapes, { rtol: 1e-5, atol: 1e-5 });
    const { compile } = await import('../runtime/compile');
    const { BACKEND } = await import('./helpers/check');
    const exe = await compile(g, shapes, { backend: BACKEND });
    expect(exe.plan!.kernels.filter((k) => k.label.startsWith('reshape')).map((k) => k.label)).toHaveLength(1);
  });
});

describe('long reductions run in two passes', () => {
  it('sum, max and min of a million elements, and over non-trailing axes', async () => {
    await checkAgainstReference(({ x }: { x: Tensor }) => ({ s: x.sum(), m: x.max(), n: x.min([0, 2]), mean: x.mean([0, 2], true) }), { x: spec([257, 2, 2001]) }, { rtol: 1e-4, atol: 1e-3 });
    const g = optimize(trace(({ x }: { x: Tensor }) => x.sum(), { x: spec([1000, 1000]) }).graph);
    expect(graphNodes(g).filter((n) => n.op === 'reduce_sum')).toHaveLength(2);
  });
});

describe('concat of many tensors', () => {
  it('joins 40 reductions, each a buffer of its own (one kernel binds at most 15)', async () => {
    await checkAgainstReference(
      ({ x }: { x: Tensor }) => {
        const parts = Array.from({ length: 40 }, (_, i) => x.slice([[i, i + 1]]).mul(x.slice([[i, i + 1]])).sum(1));
        return { cat: concat(parts, 0), mixed: concat([...parts.slice(0, 20).map((p) => p.mul(2)), x.slice([[0, 3], [0, 1]]).reshape([3])], 0) };
      },
      { x: spec([40, 9]) },
    );
  });
});

describe('reshape maps axes group by group', () => {
  it('groups axes of equal size, leaving out axes of size 1', () => {
    expect(reshapeGroups([8, 4, 362], [8, 2, 2, 362])).toEqual([{ ins: [0], outs: [0] }, { ins: [1], outs: [1, 2] }, { ins: [2], outs: [3] }]);
    expect(reshapeGroups([6, 4, 1], [1, 4, 6])).toEqual([{ ins: [0, 1], outs: [1, 2] }]);
    expect(reshapeGroups([2, 0], [0, 2])).toBeUndefined();
  });
  it('property: fused reshapes between random factorisations match the reference', async () => {
    const factors = fc.array(fc.constantFrom(1, 2, 3, 4, 5), { minLength: 1, maxLength: 5 });
    await fc.assert(
      fc.asyncProperty(factors, fc.integer({ min: 1, max: 1e6 }), async (fs, seed) => {
        // the same factors grouped two ways: [a*b, c, ...] and [a, b*c, ...], each consumed by arithmetic so the reshape fuses
        const cut = (xs: number[], s: number) => {
          const out: number[] = [];
          let acc = 1;
          xs.forEach((x, i) => {
            acc *= x;
            if ((s >> i) & 1 || i === xs.length - 1) (out.push(acc), (acc = 1));
          });
          return out;
        };
        const from = cut(fs, seed);
        const to = cut([...fs].reverse(), seed >> 5).reverse();
        await checkAgainstReference(({ x }: { x: Tensor }) => x.mul(2).reshape(to).add(1).reshape(from).exp(), { x: spec(from) }, { seed });
      }),
      { numRuns: 15 },
    );
  });
});
