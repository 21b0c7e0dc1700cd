/** Reductions over a set of axes (dims kept as size 1; the DSL drops them when asked). */
import type { Attrs, TensorType } from '../ir';
import { numel, stridesOf } from '../ir';
import { definePrimitive, shapeError } from '../primitive';
import { coerce } from '../dtype';
import type { VjpRule } from '../primitive';

export type Combine = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';

function inferReduce(name: string, x: TensorType, attrs: Attrs, outDtype = x.dtype): TensorType {
  const axes = attrs.axes as readonly number[];
  const r = x.shape.length;
  if (!axes.every((a, i) => Number.isInteger(a) && a >= 0 && a < r && (i === 0 || a > axes[i - 1]))) shapeError(name, `axes [${axes}] must be sorted, distinct and within rank ${r}`, x);
  if (x.dtype === 'bool') shapeError(name, 'cannot reduce bool (cast first)', x);
  if (name !== 'reduce_sum' && axes.some((a) => x.shape[a] === 0)) shapeError(name, `cannot take ${name.replace('reduce_', '')} over an empty axis`, x);
  return { shape: x.shape.map((n, d) => (axes.includes(d) ? 1 : n)), dtype: outDtype };
}

function reduceRef(x: { type: TensorType; data: Float64Array }, out: TensorType, combine: Combine, axes: readonly number[]): Float64Array {
  const n = numel(out.shape);
  const acc = new Float64Array(n).fill(combine === 'sum' ? 0 : combine === 'max' || combine === 'argmax' ? -Infinity : Infinity);
  const arg = new Float64Array(n).fill(-1);
  const outStr = stridesOf(out.shape);
  const inShape = x.type.shape;
  const rank = inShape.length;
  const idx = new Array<number>(rank).fill(0);
  const axisStr = stridesOf(axes.map((a) => inShape[a]));
  for (let i = 0; i < x.data.length; i++) {
    let o = 0;
    let along = 0;
    for (let d = 0; d < rank; d++) if (!axes.includes(d)) o += idx[d] * outStr[d];
    axes.forEach((a, k) => (along += idx[a] * axisStr[k]));
    const v = x.data[i];
    if (combine === 'sum') acc[o] += v;
    else if (combine === 'max') acc[o] = Math.max(acc[o], v);
    else if (combine === 'min') acc[o] = Math.min(acc[o], v);
    // first index wins on ties; NaN counts as the extreme (as torch does)
    else if (arg[o] < 0 || (combine === 'argmax' ? v > acc[o] || (Number.isNaN(v) && !Number.isNaN(acc[o])) : v < acc[o] || (Number.isNaN(v) && !Number.isNaN(acc[o])))) {
      acc[o] = v;
      arg[o] = along;
    }
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < inShape[d]) break;
      idx[d] = 0;
    }
  }
  const res = combine === 'argmax' || combine === 'argmin' ? arg : acc;
  return res.map((v) => coerce(v, out.dtype));
}

const sumVjp: VjpRule = (ct, [x]) => [x.dtype === 'f32' || x.dtype === 'f16' ? ct.broadcastTo(x.shape) : undefined];
/** The cotangent is shared equally by the elements that attain the extreme (as PyTorch's amax). */
const extremeVjp: VjpRule = (ct, [x], out, attrs) => {
  if (x.dtype !== 'f32' && x.dtype !== 'f16') return [undefined];
  const hit = x.eq(out.broadcastTo(x.shape)).cast(x.dtype);
  return [ct.div(hit.sum(attrs.axes as number[], true)).broadcastTo(x.shape).mul(hit)];
};

for (const combine of ['sum', 'max', 'min'] as const) {
  const name = `reduce_${combine}`;
  definePrimitive({
    name,
    infer: ([x], attrs) => inferReduce(name, x, attrs),
    reference: ([x], attrs, out) => reduceRef(x, out, combine, attrs.axes as number[]),
    emission: { kind: 'reduce', combine },
    vjp: combine === 'sum' ? sumVjp : extremeVjp,
  });
}

for (const combine of ['argmax', 'argmin'] as const) {
  definePrimitive({
    name: combine,
    infer: ([x], attrs) => inferReduce(combine, x, attrs, 'i32'),
    reference: ([x], attrs, out) => reduceRef(x, out, combine, attrs.axes as number[]),
    emission: { kind: 'reduce', combine },
  });
}
