import { describe, it } from 'vitest';
import fc from 'fast-check';
import { spec } from '../compiler/trace';
import type { Tensor } from '../dsl/tensor';
import { softmax } from '../compiler/composites';
import { checkGrads } from './helpers/gradcheck';

/** A random program over [3, 4] tensors: each step applies one op to earlier values. */
type Step = { op: number; a: number; b: number; axis: number };
const OPS: ((a: Tensor, b: Tensor, axis: number) => Tensor)[] = [
  (a) => a.tanh(),
  (a) => a.sin(),
  (a) => a.sigmoid(),
  (a, b) => a.add(b),
  (a, b) => a.sub(b.mul(0.5)),
  (a, b) => a.mul(b),
  (a, b) => a.maximum(b.add(0.3)),
  (a, _b, axis) => a.sub(a.mean(axis, true)),
  (a, _b, axis) => softmax(a, axis),
  (a, b) => a.matmul(b.transpose()).matmul(b).mul(0.25),
  (a) => a.mul(a).add(1).sqrt(),
  (a, _b, axis) => a.max(axis, true).add(a),
];

function program(steps: Step[]) {
  return ({ x, y }: { x: Tensor; y: Tensor }) => {
    const vals: Tensor[] = [x, y];
    for (const s of steps) vals.push(OPS[s.op % OPS.length](vals[s.a % vals.length], vals[s.b % vals.length], s.axis % 2));
    return vals[vals.length - 1].add(vals[vals.length - 2]);
  };
}

const stepArb = fc.record({ op: fc.nat(100), a: fc.nat(100), b: fc.nat(100), axis: fc.nat(1) });

describe('random composed graphs: reverse mode = finite differences', () => {
  it('on the reference interpreter (float64)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 7 }), fc.integer({ min: 1, max: 1000 }), async (steps, seed) => {
        await checkGrads(program(steps), { x: spec([3, 4]), y: spec([3, 4]) }, { seed, device: false, rtol: 1e-4, atol: 1e-5 });
      }),
      { numRuns: 40 },
    );
  });
  it('and the same gradient graphs on WebGPU', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 1000 }), async (steps, seed) => {
        await checkGrads(program(steps), { x: spec([3, 4]), y: spec([3, 4]) }, { seed, rtol: 1e-4, atol: 1e-5 });
      }),
      { numRuns: 6 },
    );
  });
});
