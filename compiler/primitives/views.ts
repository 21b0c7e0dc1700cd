/**
 * View primitives: each output element is one input element (or a pad value) at a computed
 * index, so they fuse into any consumer as index arithmetic and never need their own pass
 * over memory. Gather is here too: a view whose index comes from another tensor.
 */
import type { Attrs, TensorType } from '../ir';
import { fmtShape, isInt, numel, stridesOf } from '../ir';
import { definePrimitive, shapeError } from '../primitive';
import type { RefTensor } from '../primitive';
import { coerce, wgslLiteral } from '../dtype';
import { apply } from '../primitive';
import { concat, iota, scatterAddT, wrap } from '../../dsl/tensor';
import type { Tensor } from '../../dsl/tensor';

const view = (op: string, x: Tensor, attrs: Attrs): Tensor => wrap(apply(op, [x.node], attrs));

/** Reference helper: builds the output by mapping each output multi-index to a value. */
function gatherRef(out: TensorType, value: (idx: number[]) => number): Float64Array {
  const n = numel(out.shape);
  const r = new Float64Array(n);
  const rank = out.shape.length;
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < n; i++) {
    r[i] = coerce(value(idx), out.dtype);
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < out.shape[d]) break;
      idx[d] = 0;
    }
  }
  return r;
}

const at = (t: RefTensor, idx: readonly number[], strides: readonly number[]) => {
  let o = 0;
  for (let d = 0; d < idx.length; d++) o += idx[d] * strides[d];
  return t.data[o];
};

const nums = (a: Attrs, k: string) => a[k] as readonly number[];

// ---------------------------------------------------------------- reshape
definePrimitive({
  name: 'reshape',
  infer: ([x], attrs) => {
    const shape = nums(attrs, 'shape');
    if (!shape.every((d) => Number.isInteger(d) && d >= 0) || numel(shape) !== numel(x.shape)) shapeError('reshape', `cannot reshape ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
    return { shape, dtype: x.dtype };
  },
  reference: ([x], _a, out) => Float64Array.from(x.data, (v) => coerce(v, out.dtype)),
  emission: {
    kind: 'fusable',
    emit: (ctx, idx) => {
      const inShape = ctx.inputs[0].shape;
      const grouped = reshapeGroups(inShape, ctx.out.shape);
      if (!grouped) {
        const outStr = stridesOf(ctx.out.shape);
        const lin = ctx.bind(idx.map((e, d) => (ctx.out.shape[d] === 1 ? '0' : `${e} * ${outStr[d]}`)).join(' + ') || '0', 'i32');
        const inStr = stridesOf(inShape);
        return ctx.load(0, inShape.map((s, d) => (s === 1 ? '0' : d === 0 ? `(${lin} / ${inStr[d]})` : `((${lin} / ${inStr[d]}) % ${s})`)));
      }
      // axes map group by group: a kept axis is its index, merged axes a sum, and only split axes divide
      const src = inShape.map(() => '0');
      for (const { ins, outs } of grouped) {
        if (ins.length === 1 && outs.length === 1) {
          src[ins[0]] = idx[outs[0]];
          continue;
        }
        let lin = outs.length === 1 ? idx[outs[0]] : outs.map((o, k) => `${idx[o]} * ${outs.slice(k + 1).reduce((p, q) => p * ctx.out.shape[q], 1)}`).join(' + ');
        // (a bare index stays itself: a buffer read can then recognise the split, see mergeSplitAxes)
        if (ins.length > 1 && !/^\w+$/.test(lin)) lin = ctx.bind(lin, 'i32');
        ins.forEach((d, k) => {
          const inner = ins.slice(k + 1).reduce((p, q) => p * inShape[q], 1);
          const q = inner === 1 ? lin : `(${lin} / ${inner})`;
          src[d] = k === 0 ? `(${q})` : `(${q} % ${inShape[d]})`;
        });
      }
      return ctx.load(0, src);
    },
  },
  vjp: (ct, [x]) => [ct.reshape(x.shape)],
});

/**
 * The axes of a reshape in groups of equal size (axes of size 1 left out): [8, 4, 362] to
 * [8, 2, 2, 362] is {8}->{8}, {4}->{2, 2}, {362}->{362}. Undefined for empty tensors.
 */
export function reshapeGroups(from: readonly number[], to: readonly number[]): { ins: number[]; outs: number[] }[] | undefined {
  if (from.includes(0) || to.includes(0)) return undefined;
  const ins = from.flatMap((d, i) => (d === 1 ? [] : [i]));
  const outs = to.flatMap((d, i) => (d === 1 ? [] : [i]));
  const groups: { ins: number[]; outs: number[] }[] = [];
  let [i, o] = [0, 0];
  while (i < ins.length && o < outs.length) {
    const g = { ins: [ins[i]], outs: [outs[o]] };
    let [pi, po] = [from[ins[i++]], to[outs[o++]]];
    while (pi !== po) {
      if (pi < po && i < ins.length) pi *= from[(g.ins.push(ins[i]), ins[i++])];
      else if (po < pi && o < outs.length) po *= to[(g.outs.push(outs[o]), outs[o++])];
      else return undefined;
    }
    groups.push(g);
  }
  return i === ins.length && o === outs.length ? groups : undefined;
}

// ---------------------------------------------------------------- permute
definePrimitive({
  name: 'permute',
  infer: ([x], attrs) => {
    const p = nums(attrs, 'perm');
    const ok = p.length === x.shape.length && [...p].sort((a, b) => a - b).every((v, i) => v === i);
    if (!ok) shapeError('permute', `perm [${p}] is not a permutation of the axes of ${fmtShape(x.shape)}`);
    return { shape: p.map((i) => x.shape[i]), dtype: x.dtype };
  },
  reference: ([x], attrs, out) => {
    const p = nums(attrs, 'perm');
    const st = stridesOf(x.type.shape);
    const src = new Array<number>(p.length);
    return gatherRef(out, (idx) => {
      for (let d = 0; d < p.length; d++) src[p[d]] = idx[d];
      return at(x, src, st);
    });
  },
  emission: {
    kind: 'fusable',
    emit: (ctx, idx, attrs) => {
      const p = nums(attrs, 'perm');
      const src = new Array<string>(p.length);
      p.forEach((from, d) => (src[from] = idx[d]));
      return ctx.load(0, src);
    },
  },
  vjp: (ct, _x, _o, attrs) => {
    const p = nums(attrs, 'perm');
    const inv = new Array<number>(p.length);
    p.forEach((from, d) => (inv[from] = d));
    return [ct.permute(inv)];
  },
});

// ---------------------------------------------------------------- expand (broadcast size-1 dims)
definePrimitive({
  name: 'expand',
  infer: ([x], attrs) => {
    const shape = nums(attrs, 'shape');
    const ok = shape.length === x.shape.length && x.shape.every((d, i) => d === shape[i] || d === 1);
    if (!ok) shapeError('expand', `cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
    return { shape, dtype: x.dtype };
  },
  reference: ([x], _a, out) => {
    const st = stridesOf(x.type.shape);
    const s = x.type.shape;
    return gatherRef(out, (idx) => at(x, idx.map((v, d) => (s[d] === 1 ? 0 : v)), st));
  },
  emission: { kind: 'fusable', emit: (ctx, idx) => ctx.load(0, idx.map((e, d) => (ctx.inputs[0].shape[d] === 1 ? '0' : e))) },
  vjp: (ct, [x]) => {
    const axes = x.shape.flatMap((n, d) => (n === 1 && ct.shape[d] !== 1 ? [d] : []));
    return [axes.length ? ct.sum(axes, true) : ct];
  },
});

// ---------------------------------------------------------------- slice (python semantics, normalised by the DSL)
export function sliceLength(start: number, stop: number, step: number): number {
  return step > 0 ? Math.max(0, Math.ceil((stop - start) / step)) : Math.max(0, Math.ceil((start - stop) / -step));
}

definePrimitive({
  name: 'slice',
  infer: ([x], attrs) => {
    const [start, stop, step] = [nums(attrs, 'start'), nums(attrs, 'stop'), nums(attrs, 'step')];
    if (start.length !== x.shape.length || stop.length !== x.shape.length || step.length !== x.shape.length) shapeError('slice', 'needs start/stop/step for every axis', x);
    const shape = x.shape.map((n, d) => {
      const len = sliceLength(start[d], stop[d], step[d]);
      if (step[d] === 0) shapeError('slice', `step 0 on axis ${d}`, x);
      if (len > 0 && (start[d] < 0 || start[d] >= n || start[d] + (len - 1) * step[d] < 0 || start[d] + (len - 1) * step[d] >= n))
        shapeError('slice', `range ${start[d]}:${stop[d]}:${step[d]} out of bounds on axis ${d}`, x);
      return len;
    });
    return { shape, dtype: x.dtype };
  },
  reference: ([x], attrs, out) => {
    const [start, step] = [nums(attrs, 'start'), nums(attrs, 'step')];
    const st = stridesOf(x.type.shape);
    return gatherRef(out, (idx) => at(x, idx.map((v, d) => start[d] + v * step[d]), st));
  },
  emission: {
    kind: 'fusable',
    emit: (ctx, idx, attrs) => {
      const [start, step] = [nums(attrs, 'start'), nums(attrs, 'step')];
      return ctx.load(0, idx.map((e, d) => (start[d] === 0 && step[d] === 1 ? e : `(${start[d]} + ${e} * ${step[d]})`)));
    },
  },
  vjp: (ct, [x], _o, attrs) => [view('unslice', ct, { ...attrs, shape: x.shape })],
});

// ---------------------------------------------------------------- unslice (the transpose of slice)
/** Places x at the positions a slice with these attrs would read, zeros elsewhere. */
definePrimitive({
  name: 'unslice',
  infer: ([x], attrs) => {
    const [start, stop, step, shape] = [nums(attrs, 'start'), nums(attrs, 'stop'), nums(attrs, 'step'), nums(attrs, 'shape')];
    if (shape.length !== x.shape.length || x.shape.some((n, d) => n !== sliceLength(start[d], stop[d], step[d]))) shapeError('unslice', `x does not fit the slice ${fmtShape(shape)}`, x);
    return { shape, dtype: x.dtype };
  },
  reference: ([x], attrs, out) => {
    const [start, step] = [nums(attrs, 'start'), nums(attrs, 'step')];
    const st = stridesOf(x.type.shape);
    return gatherRef(out, (idx) => {
      const src = idx.map((v, d) => (v - start[d]) / step[d]);
      return src.every((q, d) => Number.isInteger(q) && q >= 0 && q < x.type.shape[d]) ? at(x, src, st) : 0;
    });
  },
  emission: {
    kind: 'fusable',
    emit: (ctx, idx, attrs) => {
      const [start, step] = [nums(attrs, 'start'), nums(attrs, 'step')];
      const inShape = ctx.inputs[0].shape;
      const conds: string[] = [];
      const src = idx.map((e, d) => {
        if (start[d] === 0 && step[d] === 1 && inShape[d] === ctx.out.shape[d]) return e;
        const rel = ctx.bind(`(${e} - ${start[d]})`, 'i32');
        const q = ctx.bind(`(${rel} / ${step[d]})`, 'i32');
        conds.push(`(${rel} % ${step[d]} == 0 && ${q} >= 0 && ${q} < ${inShape[d]})`);
        return `clamp(${q}, 0, ${Math.max(0, inShape[d] - 1)})`;
      });
      const v = ctx.load(0, src);
      return conds.length ? `select(${wgslLiteral(0, ctx.out.dtype)}, ${v}, ${conds.join(' && ')})` : v;
    },
  },
  vjp: (ct, _x, _o, attrs) => [view('slice', ct, { start: attrs.start, stop: attrs.stop, step: attrs.step })],
});

// ---------------------------------------------------------------- row_view (a buffer range)
/**
 * Rows [start, start + count) of x, as its own buffer binding: x's buffer bound at the byte
 * offset of row `start`. No kernel and no copy. The split pass (passes/split-oversized.ts) puts
 * it between a tensor larger than one storage binding and the kernels that read it.
 */
definePrimitive({
  name: 'row_view',
  infer: ([x], attrs) => {
    const [start, count] = [attrs.start as number, attrs.count as number];
    if (x.shape.length < 1) shapeError('row_view', 'needs rank >= 1', x);
    if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 1 && start + count <= x.shape[0]))
      shapeError('row_view', `rows ${start}..${start + count} outside axis 0 of size ${x.shape[0]}`, x);
    return { shape: [count, ...x.shape.slice(1)], dtype: x.dtype };
  },
  reference: ([x], attrs) => {
    const row = numel(x.type.shape.slice(1));
    const start = attrs.start as number;
    return x.data.slice(start * row, (start + (attrs.count as number)) * row);
  },
  emission: { kind: 'alias' },
  vjp: (ct, [x], _o, attrs) => {
    const start = attrs.start as number;
    const end = start + (attrs.count as number);
    return [view('unslice', ct, { start: x.shape.map((_, d) => (d === 0 ? start : 0)), stop: x.shape.map((n, d) => (d === 0 ? end : n)), step: x.shape.map(() => 1), shape: x.shape })];
  },
});

// ---------------------------------------------------------------- pad (constant value)
definePrimitive({
  name: 'pad',
  infer: ([x], attrs) => {
    const [lo, hi] = [nums(attrs, 'lo'), nums(attrs, 'hi')];
    if (lo.length !== x.shape.length || hi.length !== x.shape.length || [...lo, ...hi].some((v) => !(Number.isInteger(v) && v >= 0)))
      shapeError('pad', `needs non-negative lo/hi for every axis, got lo [${lo}] hi [${hi}]`, x);
    return { shape: x.shape.map((n, d) => n + lo[d] + hi[d]), dtype: x.dtype };
  },
  reference: ([x], attrs, out) => {
    const lo = nums(attrs, 'lo');
    const st = stridesOf(x.type.shape);
    const value = attrs.value as number;
    return gatherRef(out, (idx) => {
      const src = idx.map((v, d) => v - lo[d]);
      return src.every((v, d) => v >= 0 && v < x.type.shape[d]) ? at(x, src, st) : value;
    });
  },
  emission: {
    kind: 'fusable',
    emit: (ctx, idx, attrs) => {
      const lo = nums(attrs, 'lo');
      const inShape = ctx.inputs[0].shape;
      const conds: string[] = [];
      const src = idx.map((e, d) => {
        if (lo[d] === 0 && inShape[d] === ctx.out.shape[d]) return e;
        const s = ctx.bind(`(${e} - ${lo[d]})`, 'i32');
        conds.push(`(${s} >= 0 && ${s} < ${inShape[d]})`);
        return `clamp(${s}, 0, ${Math.max(0, inShape[d] - 1)})`;
      });
      const v = ctx.load(0, src);
      return conds.length ? `select(${wgslLiteral(attrs.value as number, ctx.out.dtype)}, ${v}, ${conds.join(' && ')})` : v;
    },
  },
  vjp: (ct, [x], _o, attrs) => {
    const lo = nums(attrs, 'lo');
    return [view('slice', ct, { start: lo, stop: lo.map((l, d) => l + x.shape[d]), step: lo.map(() => 1) })];
  },
});

// ---------------------------------------------------------------- concat
definePrimitive({
  name: 'concat',
  infer: (xs, attrs) => {
    const axis = attrs.axis as number;
    if (xs.length === 0) shapeError('concat', 'needs at least one tensor');
    const r = xs[0].shape.length;
    if (!(axis >= 0 && axis < r)) shapeError('concat', `axis ${axis} out of range for rank ${r}`, xs[0]);
    for (const x of xs) {
      if (x.dtype !== xs[0].dtype || x.shape.length !== r || x.shape.some((n, d) => d !== axis && n !== xs[0].shape[d]))
        shapeError('concat', `shapes differ off axis ${axis}`, xs[0], x);
    }
    const shape = [...xs[0].shape];
    shape[axis] = xs.reduce((a, x) => a + x.shape[axis], 0);
    return { shape, dtype: xs[0].dtype };
  },
  reference: (xs, attrs, out) => {
    const axis = attrs.axis as number;
    const strides = xs.map((x) => stridesOf(x.type.shape));
    return gatherRef(out, (idx) => {
      let k = 0;
      let p = idx[axis];
      while (p >= xs[k].type.shape[axis]) p -= xs[k++].type.shape[axis];
      const src = [...idx];
      src[axis] = p;
      return at(xs[k], src, strides[k]);
    });
  },
  emission: {
    kind: 'fusable',
    emit: (ctx, idx, attrs) => {
      const axis = attrs.axis as number;
      const parts = ctx.inputs.map((t, k) => ({ k, n: t.shape[axis] })).filter((p) => p.n > 0);
      let offset = 0;
      const segs = parts.map(({ k, n }) => {
        const local = offset === 0 ? idx[axis] : `(${idx[axis]} - ${offset})`;
        const src = [...idx];
        src[axis] = `clamp(${local}, 0, ${n - 1})`;
        const seg = { v: ctx.load(k, src), end: offset + n };
        offset += n;
        return seg;
      });
      let expr = segs[segs.length - 1].v;
      for (let s = segs.length - 2; s >= 0; s--) expr = `select(${expr}, ${segs[s].v}, ${idx[axis]} < ${segs[s].end})`;
      return expr;
    },
  },
  vjp: (ct, xs, _o, attrs) => {
    const axis = attrs.axis as number;
    let off = 0;
    return xs.map((x) => {
      const n = x.shape[axis];
      const start = ct.shape.map((_, d) => (d === axis ? off : 0));
      off += n;
      return view('slice', ct, { start, stop: ct.shape.map((c, d) => (d === axis ? start[d] + n : c)), step: ct.shape.map(() => 1) });
    });
  },
});

// ---------------------------------------------------------------- gather (take along an axis)
definePrimitive({
  name: 'gather',
  infer: ([x, ix], attrs) => {
    const axis = attrs.axis as number;
    if (!isInt(ix.dtype)) shapeError('gather', 'indices must be i32 or u32', ix);
    if (!(axis >= 0 && axis < x.shape.length)) shapeError('gather', `axis ${axis} out of range for rank ${x.shape.length}`, x);
    if (x.shape[axis] === 0 && numel(ix.shape) > 0) shapeError('gather', `cannot take from an empty axis ${axis}`, x);
    return { shape: [...x.shape.slice(0, axis), ...ix.shape, ...x.shape.slice(axis + 1)], dtype: x.dtype };
  },
  reference: ([x, ix], attrs, out) => {
    const axis = attrs.axis as number;
    const r = ix.type.shape.length;
    const xs = stridesOf(x.type.shape);
    const is = stridesOf(ix.type.shape);
    const n = x.type.shape[axis];
    return gatherRef(out, (idx) => {
      const i = at(ix, idx.slice(axis, axis + r), is);
      if (!(i >= 0 && i < n)) throw new RangeError(`gather: index ${i} out of range for axis ${axis} of size ${n}`);
      return at(x, [...idx.slice(0, axis), i, ...idx.slice(axis + r)], xs);
    });
  },
  emission: {
    kind: 'fusable',
    emit: (ctx, idx, attrs) => {
      const axis = attrs.axis as number;
      const r = ctx.inputs[1].shape.length;
      const n = ctx.inputs[0].shape[axis];
      const i = ctx.load(1, idx.slice(axis, axis + r));
      // out-of-range indices are clamped on the device (the reference interpreter reports them)
      const ci = `clamp(i32(${i}), 0, ${n - 1})`;
      return ctx.load(0, [...idx.slice(0, axis), ci, ...idx.slice(axis + r)]);
    },
  },
  vjp: (ct, [x, ix], _o, attrs) => {
    const axis = attrs.axis as number;
    const [V, N] = [x.shape[axis], ix.size];
    const D = x.size / Math.max(1, V);
    // a table lookup (axis 0): the transpose is one-hot(ids)^T x ct, a matmul on the fast path;
    // scatter_add sums per output element over every index, which is quadratic. The one-hot
    // matrix is N x V (a small vocabulary times the batch's tokens); the bound on V*N*D keeps the
    // matmul under ~2 GFLOP (a 152k-token vocabulary takes scatter_add)
    if (axis === 0 && x.rank === 2 && V * N <= 1 << 24 && V * N * D <= 2 ** 30 && N > 0) {
      const oneHot = iota([N, V], 1, ix.dtype).eq(ix.reshape([N, 1])).cast(ct.dtype);
      return [wrap(apply('matmul', [oneHot.node, ct.reshape([N, D]).node], { ta: true, tb: false })), undefined];
    }
    return [scatterAddT(ct, ix, axis, V), undefined];
  },
});
