/**
 * Type-level shape checks: the `@ts-expect-error` lines must fail to type-check (tsc runs
 * over test/ in `npm test`, and an unused @ts-expect-error is itself an error), and the
 * trace-time checks must throw errors that name the op and both shapes.
 */
import { describe, it, expect, expectTypeOf } from 'vitest';
import { spec, trace } from '../compiler/trace';
import type { Tensor } from '../dsl/tensor';
import { matmul } from '../dsl/tensor';
import { conv2d } from '../dsl/ops';
import { attention } from '../compiler/composites';
import { ShapeError } from '../compiler/ir';

// Functions that are only type-checked, never called.
export function typeLevel(a: Tensor<[2, 3], 'f32'>, b: Tensor<[3, 4], 'f32'>, c: Tensor<[5, 4], 'f32'>, s: Tensor<['B', 'T', 8], 'f32'>, w: Tensor<[8, 16], 'f32'>, row: Tensor<[1, 3], 'f32'>, v4: Tensor<[4], 'f32'>) {
  const ab = a.matmul(b);
  expectTypeOf(ab).toEqualTypeOf<Tensor<[2, 4], 'f32'>>();
  // @ts-expect-error inner dimensions 3 and 5 differ
  a.matmul(c);
  const sw = s.matmul(w);
  expectTypeOf(sw).toEqualTypeOf<Tensor<['B', 'T', 16], 'f32'>>();
  // @ts-expect-error 8 vs 5
  s.matmul(c);
  const added = a.add(row);
  expectTypeOf(added).toEqualTypeOf<Tensor<[2, 3], 'f32'>>();
  // @ts-expect-error [2, 3] and [5, 4] do not broadcast
  a.add(c);
  // @ts-expect-error [2, 3] and [3, 4] do not broadcast
  a.mul(b);
  const bc = b.add(v4);
  expectTypeOf(bc).toEqualTypeOf<Tensor<[3, 4], 'f32'>>();
  // @ts-expect-error a rank-1 tensor cannot be a matmul's left operand at the type level
  (null as unknown as Tensor<[3], 'f32'>).matmul(b);
}

describe('shape errors at trace time name the op and both shapes', () => {
  const shapes = { a: spec([2, 3]), b: spec([5, 4]) };
  it('matmul', () => {
    expect(() => trace(({ a, b }: { a: Tensor; b: Tensor }) => matmul(a, b), shapes)).toThrow(/matmul: inner dimensions differ: 3 vs 5 .*f32\[2, 3\] and f32\[5, 4\]/);
  });
  it('broadcasting', () => {
    expect(() => trace(({ a, b }: { a: Tensor; b: Tensor }) => a.add(b), shapes)).toThrow(/add: shapes \[2, 3\] and \[5, 4\] do not broadcast/);
  });
  it('dtype mismatch', () => {
    expect(() => trace(({ a, i }: { a: Tensor; i: Tensor }) => a.add(i as never), { a: spec([2]), i: spec([2], 'i32') })).toThrow(ShapeError);
  });
  it('wrong rank for conv2d and attention', () => {
    expect(() => trace(({ a }: { a: Tensor }) => conv2d(a, a), { a: spec([2, 3]) })).toThrow(/conv2d: .*f32\[2, 3\]/);
    expect(() => trace(({ a }: { a: Tensor }) => attention(a, a, a), { a: spec([2, 3, 4]) })).toThrow(/attention/);
  });
  it('reshape, slice and unknown named dims', () => {
    expect(() => trace(({ a }: { a: Tensor }) => a.reshape([4, 2]), { a: spec([2, 3]) })).toThrow(/reshape: cannot reshape \[2, 3\] to \[4, 2\]/);
    expect(() => trace(({ a }: { a: Tensor }) => a.slice([5]), { a: spec([2, 3]) })).toThrow(/index 5 out of range for axis 0 of size 2/);
    expect(() => trace(({ a }: { a: Tensor }) => a, { a: spec(['B', 3]) })).toThrow(/dimension 'B' has no size/);
    expect(trace(({ a }: { a: Tensor }) => a.sum(), { a: spec(['B', 3]) }, { B: 4 }).inputs[0].shape).toEqual([4, 3]);
  });
});
