/**
 * Tensor: a typed handle on an IR node. Every op builds a new node (checked at once by the
 * primitive's shape rule), so a model is a pure function from tensors to tensors, traced by
 * calling it. The type parameters carry the shape and dtype for the TypeScript compiler.
 */
import type { DType, Node } from '../compiler/ir';
import { fmtShape, isFloat, numel } from '../compiler/ir';
import { apply, shapeError } from '../compiler/primitive';
import { sliceLength } from '../compiler/primitives/views';
import '../compiler/primitives';
import type { Broadcast, BroadcastOk, Check, Dim, MatmulOk, MatmulShape, Shape } from './shape-types';

export type { DType } from '../compiler/ir';
export type Scalar = number;
export type TensorLike<D extends DType = DType> = Tensor<Shape, D> | number;

export class Tensor<S extends Shape = Shape, D extends DType = DType> {
  declare readonly __shape: S;
  declare readonly __dtype: D;
  constructor(readonly node: Node) {}

  get shape(): number[] {
    return [...this.node.type.shape];
  }
  get dtype(): D {
    return this.node.type.dtype as D;
  }
  get rank(): number {
    return this.node.type.shape.length;
  }
  get size(): number {
    return numel(this.node.type.shape);
  }
  toString(): string {
    return `Tensor<${this.dtype}${fmtShape(this.shape)}>`;
  }

  // elementwise (numpy broadcasting; numbers take the tensor's dtype)
  add<B extends Shape>(o: Tensor<B, D> & Check<BroadcastOk<S, B>, 'shapes do not broadcast'>): Tensor<Broadcast<S, B>, D>;
  add(o: number): Tensor<S, D>;
  add(o: TensorLike): Tensor {
    return binary('add', this, o);
  }
  sub<B extends Shape>(o: Tensor<B, D> & Check<BroadcastOk<S, B>, 'shapes do not broadcast'>): Tensor<Broadcast<S, B>, D>;
  sub(o: number): Tensor<S, D>;
  sub(o: TensorLike): Tensor {
    return binary('sub', this, o);
  }
  mul<B extends Shape>(o: Tensor<B, D> & Check<BroadcastOk<S, B>, 'shapes do not broadcast'>): Tensor<Broadcast<S, B>, D>;
  mul(o: number): Tensor<S, D>;
  mul(o: TensorLike): Tensor {
    return binary('mul', this, o);
  }
  div<B extends Shape>(o: Tensor<B, D> & Check<BroadcastOk<S, B>, 'shapes do not broadcast'>): Tensor<Broadcast<S, B>, D>;
  div(o: number): Tensor<S, D>;
  div(o: TensorLike): Tensor {
    return binary('div', this, o);
  }
  pow(o: TensorLike<D>): Tensor<S, D> {
    return binary('pow', this, o) as Tensor<S, D>;
  }
  maximum(o: TensorLike<D>): Tensor<S, D> {
    return binary('max', this, o) as Tensor<S, D>;
  }
  minimum(o: TensorLike<D>): Tensor<S, D> {
    return binary('min', this, o) as Tensor<S, D>;
  }
  eq(o: TensorLike<D>): Tensor<S, 'bool'> {
    return binary('eq', this, o) as Tensor<S, 'bool'>;
  }
  ne(o: TensorLike<D>): Tensor<S, 'bool'> {
    return binary('ne', this, o) as Tensor<S, 'bool'>;
  }
  lt(o: TensorLike<D>): Tensor<S, 'bool'> {
    return binary('lt', this, o) as Tensor<S, 'bool'>;
  }
  le(o: TensorLike<D>): Tensor<S, 'bool'> {
    return binary('le', this, o) as Tensor<S, 'bool'>;
  }
  gt(o: TensorLike<D>): Tensor<S, 'bool'> {
    return binary('gt', this, o) as Tensor<S, 'bool'>;
  }
  ge(o: TensorLike<D>): Tensor<S, 'bool'> {
    return binary('ge', this, o) as Tensor<S, 'bool'>;
  }
  neg = (): Tensor<S, D> => unary('neg', this);
  abs = (): Tensor<S, D> => unary('abs', this);
  exp = (): Tensor<S, D> => unary('exp', this);
  log = (): Tensor<S, D> => unary('log', this);
  sqrt = (): Tensor<S, D> => unary('sqrt', this);
  rsqrt = (): Tensor<S, D> => unary('rsqrt', this);
  sin = (): Tensor<S, D> => unary('sin', this);
  cos = (): Tensor<S, D> => unary('cos', this);
  tanh = (): Tensor<S, D> => unary('tanh', this);
  erf = (): Tensor<S, D> => unary('erf', this);
  sigmoid = (): Tensor<S, D> => unary('sigmoid', this);
  reciprocal = (): Tensor<S, D> => unary('reciprocal', this);
  floor = (): Tensor<S, D> => unary('floor', this);
  ceil = (): Tensor<S, D> => unary('ceil', this);
  sign = (): Tensor<S, D> => unary('sign', this);
  logicalNot = (): Tensor<S, 'bool'> => unary('not', this as Tensor<S, 'bool'>);
  logicalAnd(o: Tensor<Shape, 'bool'>): Tensor<Shape, 'bool'> {
    return binary('and', this, o) as Tensor<Shape, 'bool'>;
  }
  logicalOr(o: Tensor<Shape, 'bool'>): Tensor<Shape, 'bool'> {
    return binary('or', this, o) as Tensor<Shape, 'bool'>;
  }
  square = (): Tensor<S, D> => this.mul(this as never) as unknown as Tensor<S, D>;
  relu = (): Tensor<S, D> => this.maximum(0);
  cast<T extends DType>(dtype: T): Tensor<S, T> {
    return (dtype as DType) === this.dtype ? (this as unknown as Tensor<S, T>) : wrap(apply('cast', [this.node], { dtype }));
  }

  // reductions: axes default to all; negative axes count from the end
  sum(axes?: number | readonly number[], keepdims = false): Tensor<Shape, D> {
    return reduce('reduce_sum', this, axes, keepdims) as Tensor<Shape, D>;
  }
  max(axes?: number | readonly number[], keepdims = false): Tensor<Shape, D> {
    return reduce('reduce_max', this, axes, keepdims) as Tensor<Shape, D>;
  }
  min(axes?: number | readonly number[], keepdims = false): Tensor<Shape, D> {
    return reduce('reduce_min', this, axes, keepdims) as Tensor<Shape, D>;
  }
  mean(axes?: number | readonly number[], keepdims = false): Tensor<Shape, D> {
    const ax = normAxes(axes, this.rank);
    const n = ax.reduce((a, d) => a * this.shape[d], 1);
    return this.sum(ax, keepdims).div(n) as Tensor<Shape, D>;
  }
  argmax(axis = -1, keepdims = false): Tensor<Shape, 'i32'> {
    return reduce('argmax', this, [axis], keepdims) as Tensor<Shape, 'i32'>;
  }
  argmin(axis = -1, keepdims = false): Tensor<Shape, 'i32'> {
    return reduce('argmin', this, [axis], keepdims) as Tensor<Shape, 'i32'>;
  }

  // views
  reshape<T extends Shape>(shape: T): Tensor<T, D> {
    return reshape(this, shape as readonly number[]) as Tensor<T, D>;
  }
  permute(perm: readonly number[]): Tensor<Shape, D> {
    const p = perm.map((a) => normAxis(a, this.rank, 'permute'));
    return p.every((v, i) => v === i) ? (this as Tensor<Shape, D>) : wrap(apply('permute', [this.node], { perm: p }));
  }
  transpose(a = -2, b = -1): Tensor<Shape, D> {
    const p = [...Array(this.rank).keys()];
    const [i, j] = [normAxis(a, this.rank, 'transpose'), normAxis(b, this.rank, 'transpose')];
    [p[i], p[j]] = [p[j], p[i]];
    return this.permute(p);
  }
  get T(): Tensor<Shape, D> {
    return this.transpose();
  }
  broadcastTo<T extends Shape>(shape: T): Tensor<T, D> {
    return broadcastTo(this, shape as readonly number[]) as Tensor<T, D>;
  }
  unsqueeze(axis: number): Tensor<Shape, D> {
    const a = normAxis(axis, this.rank + 1, 'unsqueeze');
    const s = this.shape;
    s.splice(a, 0, 1);
    return this.reshape(s);
  }
  squeeze(axes?: number | readonly number[]): Tensor<Shape, D> {
    const ax = axes === undefined ? this.shape.flatMap((n, i) => (n === 1 ? [i] : [])) : normAxes(axes, this.rank);
    for (const a of ax) if (this.shape[a] !== 1) shapeError('squeeze', `axis ${a} has size ${this.shape[a]}, not 1`, this.node.type);
    return this.reshape(this.shape.filter((_, i) => !ax.includes(i)));
  }
  flatten(start = 0, end = -1): Tensor<Shape, D> {
    const [s, e] = [normAxis(start, this.rank, 'flatten'), normAxis(end, this.rank, 'flatten')];
    const sh = this.shape;
    return this.reshape([...sh.slice(0, s), sh.slice(s, e + 1).reduce((a, b) => a * b, 1), ...sh.slice(e + 1)]);
  }
  /** Python-style slicing: one entry per leading axis: an index, [start, stop, step?], or null for all. */
  slice(spec: readonly (number | readonly (number | null | undefined)[] | null)[]): Tensor<Shape, D> {
    return slice(this, spec) as Tensor<Shape, D>;
  }
  pad(padding: readonly (readonly [number, number])[], value = 0): Tensor<Shape, D> {
    return pad(this, padding, value) as Tensor<Shape, D>;
  }
  matmul<B extends Shape>(o: Tensor<B, D> & Check<MatmulOk<S, B>, 'matmul inner dimensions differ'>): Tensor<MatmulShape<S, B>, D> {
    return matmul(this, o as Tensor) as Tensor<MatmulShape<S, B>, D>;
  }
  /** take(indices, axis): out[..., i, ...] = x[..., indices[i], ...] */
  take(indices: Tensor<Shape, 'i32' | 'u32'>, axis = 0): Tensor<Shape, D> {
    return wrap(apply('gather', [this.node, indices.node], { axis: normAxis(axis, this.rank, 'take') }));
  }
}

export const wrap = <S extends Shape = Shape, D extends DType = DType>(n: Node): Tensor<S, D> => new Tensor<S, D>(n);

// ------------------------------------------------------------------ helpers used by ops

export function normAxis(a: number, rank: number, op: string): number {
  const r = a < 0 ? a + rank : a;
  if (!(Number.isInteger(r) && r >= 0 && r < Math.max(rank, 1))) shapeError(op, `axis ${a} out of range for rank ${rank}`);
  return r;
}

export function normAxes(axes: number | readonly number[] | undefined, rank: number, op = 'reduce'): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : axes;
  const r = [...new Set(list.map((a) => normAxis(a, rank, op)))].sort((a, b) => a - b);
  if (r.length !== list.length) shapeError(op, `repeated axis in [${list}]`);
  return r;
}

export function full<D extends DType = 'f32'>(shape: readonly number[], value: number, dtype: D = 'f32' as D): Tensor<Shape, D> {
  return wrap(apply('fill', [], { shape: [...shape], dtype, value }));
}

export function scalarLike(x: Tensor, v: number): Tensor {
  return full(x.shape, v, x.dtype);
}

export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) shapeError(op, `shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast (axis ${i})`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const s = [...shape];
  const hole = s.indexOf(-1);
  if (hole >= 0) {
    const rest = s.reduce((a, d, i) => (i === hole ? a : a * d), 1);
    if (rest === 0 || x.size % rest !== 0) shapeError('reshape', `cannot infer -1 reshaping ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
    s[hole] = x.size / rest;
  }
  if (s.length === x.rank && s.every((d, i) => d === x.shape[i])) return x;
  // a reshape of a reshape stays two nodes here (simplify folds them later): folding at trace
  // time would let an expansion differentiated for a VJP rule bypass the very input node its
  // gradient is asked for (conv_windows' 2-D gradient came out zero)
  return wrap(apply('reshape', [x.node], { shape: s }));
}

export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  if (shape.length < x.rank) shapeError('broadcast', `cannot broadcast ${fmtShape(x.shape)} to lower rank ${fmtShape(shape)}`);
  const padded = [...Array(shape.length - x.rank).fill(1), ...x.shape];
  const t = padded.length === x.rank ? x : reshape(x, padded);
  if (padded.every((d, i) => d === shape[i])) return t;
  return wrap(apply('expand', [t.node], { shape: [...shape] }));
}

function toTensor(v: TensorLike, like: Tensor): Tensor {
  return typeof v === 'number' ? full([], v, like.dtype) : v;
}

export function binary(op: string, a: TensorLike, b: TensorLike): Tensor {
  if (typeof a === 'number' && typeof b === 'number') throw new TypeError(`${op}: at least one operand must be a tensor`);
  const ta = typeof a === 'number' ? toTensor(a, b as Tensor) : a;
  const tb = typeof b === 'number' ? toTensor(b, ta) : b;
  if (ta.dtype !== tb.dtype) shapeError(op, `dtypes differ: ${ta.dtype} and ${tb.dtype} (cast one first)`, ta.node.type, tb.node.type);
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  return wrap(apply(op, [broadcastTo(ta, shape).node, broadcastTo(tb, shape).node]));
}

export function unary<S extends Shape, D extends DType>(op: string, x: Tensor<S, D>): Tensor<S, D> {
  return wrap(apply(op, [x.node]));
}

export function where<D extends DType>(cond: Tensor<Shape, 'bool'>, a: TensorLike<D>, b: TensorLike<D>): Tensor<Shape, D> {
  const like = typeof a !== 'number' ? a : typeof b !== 'number' ? b : undefined;
  if (!like) throw new TypeError('where: at least one branch must be a tensor');
  const ta = toTensor(a, like);
  const tb = toTensor(b, like);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, ta.shape), tb.shape);
  return wrap(apply('where', [broadcastTo(cond, shape).node, broadcastTo(ta, shape).node, broadcastTo(tb, shape).node]));
}

function reduce(op: string, x: Tensor, axes: number | readonly number[] | undefined, keepdims: boolean): Tensor {
  const ax = normAxes(axes, x.rank, op);
  if (ax.length === 0) return op === 'argmax' || op === 'argmin' ? full(x.shape, 0, 'i32') : x;
  const r = wrap(apply(op, [x.node], { axes: ax }));
  return keepdims ? r : reshape(r, x.shape.filter((_, i) => !ax.includes(i)));
}

export function slice(x: Tensor, spec: readonly (number | readonly (number | null | undefined)[] | null)[]): Tensor {
  if (spec.length > x.rank) shapeError('slice', `${spec.length} indices for rank ${x.rank}`, x.node.type);
  const start: number[] = [];
  const stop: number[] = [];
  const step: number[] = [];
  const drop: number[] = [];
  x.shape.forEach((n, d) => {
    const s = spec[d];
    if (s === undefined || s === null) {
      start.push(0), stop.push(n), step.push(1);
    } else if (typeof s === 'number') {
      const i = s < 0 ? s + n : s;
      if (!(i >= 0 && i < n)) shapeError('slice', `index ${s} out of range for axis ${d} of size ${n}`, x.node.type);
      start.push(i), stop.push(i + 1), step.push(1), drop.push(d);
    } else {
      const st = s[2] ?? 1;
      if (st === 0) shapeError('slice', `step 0 on axis ${d}`, x.node.type);
      const clampIdx = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v < 0 ? v + n : v));
      const b = s[0] == null ? (st > 0 ? 0 : n - 1) : clampIdx(s[0], st > 0 ? 0 : -1, st > 0 ? n : n - 1);
      const e = s[1] == null ? (st > 0 ? n : -1) : clampIdx(s[1], st > 0 ? 0 : -1, st > 0 ? n : n - 1);
      const len = sliceLength(b, e, st);
      start.push(len > 0 ? b : 0), stop.push(len > 0 ? e : 0), step.push(len > 0 ? st : 1);
    }
  });
  const full = start.every((b, d) => b === 0 && step[d] === 1 && stop[d] === x.shape[d]);
  const r = full ? x : wrap(apply('slice', [x.node], { start, stop, step }));
  return drop.length ? reshape(r, r.shape.filter((_, d) => !drop.includes(d))) : r;
}

export function pad(x: Tensor, padding: readonly (readonly [number, number])[], value = 0): Tensor {
  // padding lists (lo, hi) from the first axis; negative amounts crop
  const lo = x.shape.map((_, d) => padding[d]?.[0] ?? 0);
  const hi = x.shape.map((_, d) => padding[d]?.[1] ?? 0);
  let t = x;
  if ([...lo, ...hi].some((v) => v < 0)) {
    t = slice(t, t.shape.map((n, d) => [Math.max(0, -lo[d]), n - Math.max(0, -hi[d])] as const));
  }
  const plo = lo.map((v) => Math.max(0, v));
  const phi = hi.map((v) => Math.max(0, v));
  if ([...plo, ...phi].every((v) => v === 0)) return t;
  return wrap(apply('pad', [t.node], { lo: plo, hi: phi, value }));
}

/** If x is a transpose of its last two axes, the tensor before it (the matmul takes a flag instead). */
function untransposed(x: Tensor): Tensor | undefined {
  const n = x.node;
  if (n.op !== 'permute') return undefined;
  const p = n.attrs.perm as number[];
  const r = p.length;
  return r >= 2 && p[r - 2] === r - 1 && p[r - 1] === r - 2 && p.slice(0, -2).every((v, i) => v === i) ? new Tensor(n.inputs[0]) : undefined;
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank === 0 || b.rank === 0) shapeError('matmul', 'operands must have rank >= 1', a.node.type, b.node.type);
  if (!isFloat(a.dtype) || a.dtype !== b.dtype) shapeError('matmul', 'operands need the same float dtype', a.node.type, b.node.type);
  // vectors become matrices, as in numpy, and the added axis is removed again
  const A = a.rank === 1 ? reshape(a, [1, a.shape[0]]) : a;
  const B = b.rank === 1 ? reshape(b, [b.shape[0], 1]) : b;
  const [k1, k2] = [A.shape[A.rank - 1], B.shape[B.rank - 2]];
  if (k1 !== k2) shapeError('matmul', `inner dimensions differ: ${k1} vs ${k2}`, a.node.type, b.node.type);
  const batch = broadcastShapes('matmul', A.shape.slice(0, -2), B.shape.slice(0, -2));
  let r: Tensor;
  if (B.rank === 2 && A.rank > 2 && !untransposed(A)) {
    // [..., M, K] x [K, N]: one 2-D product over all rows instead of broadcasting the weight
    const rows = A.shape.slice(0, -1);
    r = reshape(mm2(reshape(A, [rows.reduce((x, y) => x * y, 1), k1]), B), [...rows, B.shape[1]]);
  } else {
    const Ab = broadcastTo(A, [...batch, ...A.shape.slice(-2)]);
    const Bb = broadcastTo(B, [...batch, ...B.shape.slice(-2)]);
    r = mm2(Ab, Bb);
  }
  if (a.rank === 1) r = reshape(r, [...r.shape.slice(0, -2), r.shape[r.rank - 1]]);
  if (b.rank === 1) r = reshape(r, r.shape.slice(0, -1));
  return r;
}

/** The matmul primitive on equal-rank operands, with transposes folded into its flags. */
function mm2(a: Tensor, b: Tensor): Tensor {
  const at = untransposed(a);
  const bt = untransposed(b);
  return wrap(apply('matmul', [(at ?? a).node, (bt ?? b).node], { ta: !!at, tb: !!bt }));
}

export function concat<D extends DType>(xs: readonly Tensor<Shape, D>[], axis = 0): Tensor<Shape, D> {
  if (xs.length === 0) shapeError('concat', 'needs at least one tensor');
  const a = normAxis(axis, xs[0].rank, 'concat');
  if (xs.length === 1) return xs[0];
  // a kernel binds a handful of buffers: many parts are joined in a tree of concats, so the
  // scheduler can give each inner one a buffer when the parts are buffers themselves
  if (xs.length > CONCAT_FAN_IN) {
    const groups = Array.from({ length: Math.ceil(xs.length / CONCAT_FAN_IN) }, (_, i) => concat(xs.slice(i * CONCAT_FAN_IN, (i + 1) * CONCAT_FAN_IN), a));
    return concat(groups, a);
  }
  return wrap(apply('concat', xs.map((x) => x.node), { axis: a }));
}
const CONCAT_FAN_IN = 8;

export function split<D extends DType>(x: Tensor<Shape, D>, sizes: number | readonly number[], axis = 0): Tensor<Shape, D>[] {
  const a = normAxis(axis, x.rank, 'split');
  const n = x.shape[a];
  const parts = typeof sizes === 'number' ? Array(Math.ceil(n / sizes)).fill(sizes).map((s, i) => Math.min(s, n - i * sizes)) : [...sizes];
  if (parts.reduce((p, q) => p + q, 0) !== n) shapeError('split', `sizes [${parts}] do not add up to ${n} on axis ${a}`, x.node.type);
  let off = 0;
  return parts.map((s) => {
    const spec = x.shape.map((_, d) => (d === a ? [off, off + s] : null));
    off += s;
    return slice(x, spec) as Tensor<Shape, D>;
  });
}

export function iota<D extends DType = 'i32'>(shape: readonly number[], axis: number, dtype: D = 'i32' as D): Tensor<Shape, D> {
  return wrap(apply('iota', [], { shape: [...shape], axis: normAxis(axis, shape.length, 'iota'), dtype }));
}

export function constant<D extends DType = 'f32'>(data: ArrayLike<number>, shape: readonly number[], dtype: D = 'f32' as D): Tensor<Shape, D> {
  return wrap(apply('const', [], { shape: [...shape], dtype, data: Float64Array.from(data) }));
}

export type { Dim, Shape };

/** scatter_add as a tensor op (the transpose of take); dsl/ops.ts exposes it as scatterAdd. */
export function scatterAddT(updates: Tensor, indices: Tensor, axis: number, size: number): Tensor {
  return wrap(apply('scatter_add', [updates.node, indices.node], { axis, size }));
}

/** Blocks gradients: identity forward, zero cotangent backward. */
export function stopGradient<S extends Shape, D extends DType>(x: Tensor<S, D>): Tensor<S, D> {
  return wrap(apply('stop_gradient', [x.node]));
}
