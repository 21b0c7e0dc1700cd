/** Ops beyond the Tensor methods: convolution, pooling, embedding, scatter, random numbers. */
import type { DType } from '../compiler/ir';
import { apply, shapeError } from '../compiler/primitive';
import { convOutSize } from '../compiler/primitives/conv';
import type { Shape } from './shape-types';
import type { Tensor } from './tensor';
import { normAxis, where, wrap } from './tensor';

export type Padding = number | readonly [number, number];
const pair = (p: Padding): [number, number] => (typeof p === 'number' ? [p, p] : [p[0], p[1]]);
const perAxis = <T>(v: T | readonly T[], n: number): T[] => (Array.isArray(v) ? [...(v as T[])] : Array(n).fill(v));

export interface ConvOptions {
  stride?: number | readonly number[];
  /** one number for every axis, or per axis a symmetric amount or (lo, hi) */
  padding?: number | readonly Padding[];
  dilation?: number | readonly number[];
  groups?: number;
}

/** N-d convolution: x [B, Cin, ...S], w [Cout, Cin/groups, ...K], optional bias [Cout]. */
export function conv(x: Tensor, w: Tensor, bias?: Tensor, opts: ConvOptions = {}): Tensor {
  const nd = x.rank - 2;
  const pads: Padding[] = typeof opts.padding === 'number' || opts.padding === undefined ? Array(nd).fill(opts.padding ?? 0) : [...(opts.padding as Padding[])];
  if (pads.length !== nd) shapeError('conv', `padding needs ${nd} entries, got ${pads.length}`);
  const y = wrap(
    apply('conv', [x.node, w.node], {
      stride: perAxis(opts.stride ?? 1, nd),
      dilation: perAxis(opts.dilation ?? 1, nd),
      padLo: pads.map((p) => pair(p)[0]),
      padHi: pads.map((p) => pair(p)[1]),
      groups: opts.groups ?? 1,
    }),
  );
  return bias ? y.add(bias.reshape([bias.shape[0], ...Array(nd).fill(1)])) : y;
}

export function conv1d(x: Tensor, w: Tensor, bias?: Tensor, opts: ConvOptions = {}): Tensor {
  if (x.rank !== 3 || w.rank !== 3) shapeError('conv1d', 'input [B, C, T] and weight [Cout, Cin/groups, K] needed', x.node.type, w.node.type);
  // for one axis a pair of numbers is (lo, hi), not a list of axes
  const p = opts.padding;
  return conv(x, w, bias, Array.isArray(p) && p.length === 2 && typeof p[0] === 'number' ? { ...opts, padding: [p as unknown as Padding] } : opts);
}

export function conv2d(x: Tensor, w: Tensor, bias?: Tensor, opts: ConvOptions = {}): Tensor {
  if (x.rank !== 4 || w.rank !== 4) shapeError('conv2d', 'input [B, C, H, W] and weight [Cout, Cin/groups, Kh, Kw] needed', x.node.type, w.node.type);
  return conv(x, w, bias, opts);
}

export { convOutSize };

/** avg_pool1d over the last axis (count_include_pad, floor mode, as PyTorch's defaults). */
export function avgPool1d(x: Tensor, kernel: number, stride = kernel, padding = 0): Tensor {
  const T = x.shape[x.rank - 1];
  const out = convOutSize(T, kernel, stride, 1, padding, padding);
  if (out <= 0) shapeError('avg_pool1d', `kernel ${kernel} longer than the padded input ${T + 2 * padding}`, x.node.type);
  const xp = padding ? x.pad([...Array(x.rank - 1).fill([0, 0]), [padding, padding]]) : x;
  // the sum of `kernel` strided slices: fuses into one elementwise kernel
  let acc: Tensor | undefined;
  for (let j = 0; j < kernel; j++) {
    const s = xp.slice([...Array(x.rank - 1).fill(null), [j, j + (out - 1) * stride + 1, stride]]);
    acc = acc ? acc.add(s) : s;
  }
  return acc!.div(kernel);
}

/** Embedding lookup: table [V, D], ids [...] -> [..., D]. */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  if (table.rank !== 2) shapeError('embedding', 'table must be [vocab, dim]', table.node.type);
  return table.take(ids as Tensor<Shape, 'i32'>, 0);
}

/** scatterAdd(updates, indices, axis, size): zeros with `size` on axis, plus updates at indices. */
export function scatterAdd(updates: Tensor, indices: Tensor, axis: number, size: number): Tensor {
  return wrap(apply('scatter_add', [updates.node, indices.node], { axis: normAxis(axis, updates.rank, 'scatter_add'), size }));
}

// ------------------------------------------------------------------ counter-based random numbers
/** A key is a u32[2] tensor (see kernels/rng.ts: keyFromSeed, splitKey). */
export function randomUniform(key: Tensor, shape: readonly number[], dtype: DType = 'f32', offset = 0): Tensor {
  return wrap(apply('random', [key.node], { shape: [...shape], dtype, dist: 'uniform', offset }));
}
export function randomNormal(key: Tensor, shape: readonly number[], dtype: DType = 'f32', offset = 0): Tensor {
  return wrap(apply('random', [key.node], { shape: [...shape], dtype, dist: 'normal', offset }));
}
export function randomBits(key: Tensor, shape: readonly number[], offset = 0): Tensor {
  return wrap(apply('random', [key.node], { shape: [...shape], dtype: 'u32', dist: 'bits', offset }));
}
/** Inverted dropout: zeroes with probability p and scales the rest by 1/(1-p). */
export function dropout(x: Tensor, key: Tensor, p: number, offset = 0): Tensor {
  if (!(p >= 0 && p < 1)) shapeError('dropout', `p must be in [0, 1), got ${p}`);
  if (p === 0) return x;
  const keep = randomUniform(key, x.shape, 'f32', offset).ge(p);
  return where(keep, x.div(1 - p), 0);
}
