/** Primitives without tensor inputs (or, for random, with only a key): inputs, constants, fills, iota, random. */
import type { DType, TensorType } from '../ir';
import { numel, stridesOf } from '../ir';
import { definePrimitive, shapeError } from '../primitive';
import { coerce, wgslLiteral } from '../dtype';
import { WGSL_RNG, randomBits, uniformFromBits, normalAt } from '../../kernels/rng';

const typeFromAttrs = (a: { shape?: unknown; dtype?: unknown }): TensorType => ({ shape: a.shape as number[], dtype: a.dtype as DType });

definePrimitive({
  name: 'input',
  infer: (_i, attrs) => typeFromAttrs(attrs),
  reference: () => {
    throw new Error('input nodes are bound by the interpreter');
  },
  emission: { kind: 'source' },
});

/** A constant tensor held in a buffer (values in attrs.data). */
definePrimitive({
  name: 'const',
  infer: (_i, attrs) => {
    const t = typeFromAttrs(attrs);
    if ((attrs.data as Float64Array).length !== numel(t.shape)) shapeError('const', `data has ${(attrs.data as Float64Array).length} values for shape [${t.shape}]`);
    return t;
  },
  reference: (_i, attrs, out) => Float64Array.from(attrs.data as Float64Array, (v) => coerce(v, out.dtype)),
  emission: { kind: 'source' },
});

/** A tensor filled with one value; inlined as a literal wherever it is used. */
definePrimitive({
  name: 'fill',
  infer: (_i, attrs) => typeFromAttrs(attrs),
  reference: (_i, attrs, out) => new Float64Array(numel(out.shape)).fill(coerce(attrs.value as number, out.dtype)),
  emission: { kind: 'fusable', emit: (ctx, _idx, attrs) => wgslLiteral(attrs.value as number, ctx.out.dtype) },
});

/** The index along one axis: iota([2,3], axis 1) = [[0,1,2],[0,1,2]]. */
definePrimitive({
  name: 'iota',
  infer: (_i, attrs) => {
    const t = typeFromAttrs(attrs);
    const axis = attrs.axis as number;
    if (!(axis >= 0 && axis < t.shape.length)) shapeError('iota', `axis ${axis} out of range for rank ${t.shape.length}`);
    return t;
  },
  reference: (_i, attrs, out) => {
    const axis = attrs.axis as number;
    const st = stridesOf(out.shape);
    const r = new Float64Array(numel(out.shape));
    for (let i = 0; i < r.length; i++) r[i] = coerce(Math.floor(i / st[axis]) % out.shape[axis], out.dtype);
    return r;
  },
  emission: {
    kind: 'fusable',
    emit: (ctx, idx, attrs) => {
      const i = idx[attrs.axis as number];
      return ctx.out.dtype === 'i32' ? i : `${ctx.out.dtype === 'f16' ? 'f32' : ctx.out.dtype}(${i})`;
    },
  },
});

/**
 * Counter-based random numbers: element i of the output is a function of (key, offset + i),
 * so every backend produces the same stream. attrs.dist: 'bits' (u32), 'uniform' [0,1), 'normal'.
 * The key is a u32[2] tensor input, so changing it per step does not recompile.
 */
definePrimitive({
  name: 'random',
  infer: ([key], attrs) => {
    if (key.dtype !== 'u32' || key.shape.length !== 1 || key.shape[0] !== 2) shapeError('random', 'key must be u32[2]', key);
    const t = typeFromAttrs(attrs);
    const dist = attrs.dist as string;
    if (dist === 'bits' ? t.dtype !== 'u32' : t.dtype !== 'f32' && t.dtype !== 'f16') shapeError('random', `dist '${dist}' cannot produce ${t.dtype}`);
    return t;
  },
  reference: ([key], attrs, out) => {
    const n = numel(out.shape);
    const [k0, k1] = key.data;
    const off = (attrs.offset as number) ?? 0;
    const r = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const c = (off + i) >>> 0;
      const v = attrs.dist === 'bits' ? randomBits(k0, k1, c) : attrs.dist === 'uniform' ? uniformFromBits(randomBits(k0, k1, c)) : normalAt(k0, k1, c);
      r[i] = coerce(v, out.dtype);
    }
    return r;
  },
  emission: {
    kind: 'fusable',
    emit: (ctx, _idx, attrs) => {
      ctx.require('rng', WGSL_RNG);
      const k0 = ctx.load(0, ['0']);
      const k1 = ctx.load(0, ['1']);
      const c = `(u32(${ctx.linear()}) + ${((attrs.offset as number) ?? 0) >>> 0}u)`;
      const fn = attrs.dist === 'bits' ? 'rng_bits' : attrs.dist === 'uniform' ? 'rng_uniform' : 'rng_normal';
      return `${fn}(${k0}, ${k1}, ${c})`;
    },
  },
});
