/** Ops beyond the Tensor methods: convolution, pooling, embedding, scatter, random numbers. */
import type { DType } from '../compiler/ir';
import { apply, shapeError } from '../compiler/primitive';
import { convOutSize } from '../compiler/primitives/conv';
import { convWindows } from '../compiler/composites/conv-windows';
import type { Shape } from './shape-types';
import type { Tensor } from './tensor';
import { concat, normAxis, where, wrap } from './tensor';

export type Padding = number | readonly [number, number];
const pair = (p: Padding): [number, number] => (typeof p === 'number' ? [p, p] : [p[0], p[1]]);
const perAxis = <T>(v: T | readonly T[], n: number): T[] => (Array.isArray(v) ? [...(v as T[])] : Array(n).fill(v));

export interface ConvOptions {
  stride?: number | readonly number[];
  /** one number for every axis, or per axis a symmetric amount or (lo, hi) */
  padding?: number | readonly Padding[];
  dilation?: number | readonly number[];
  groups?: number;
  /** keep the direct convolution kernel (default: ungrouped convolutions run as a matmul) */
  direct?: boolean;
}

/** N-d convolution: x [B, Cin, ...S], w [Cout, Cin/groups, ...K], optional bias [Cout]. */
export function conv(x: Tensor, w: Tensor, bias?: Tensor, opts: ConvOptions = {}): Tensor {
  const nd = x.rank - 2;
  const pads: Padding[] = typeof opts.padding === 'number' || opts.padding === undefined ? Array(nd).fill(opts.padding ?? 0) : [...(opts.padding as Padding[])];
  if (pads.length !== nd) shapeError('conv', `padding needs ${nd} entries, got ${pads.length}`);
  const attrs = {
    stride: perAxis(opts.stride ?? 1, nd),
    dilation: perAxis(opts.dilation ?? 1, nd),
    padLo: pads.map((p) => pair(p)[0]),
    padHi: pads.map((p) => pair(p)[1]),
    groups: opts.groups ?? 1,
  };
  // the primitive checks every shape; then ungrouped convolutions take the matmul path, whose
  // kernels (and gradients) are several times faster than the direct loops
  const direct = wrap(apply('conv', [x.node, w.node], attrs));
  const y = attrs.groups === 1 && !opts.direct && x.size > 0 && direct.size > 0 ? convAsMatmul(x, w, attrs, direct.shape) : direct;
  return bias ? y.add(bias.reshape([bias.shape[0], ...Array(nd).fill(1)])) : y;
}

/**
 * Convolution as one matmul: the input windows are rows [B*O, Cin*K], times W [Cout, Cin*K]^T.
 * Windows that tile the input are a plain reshape of it; overlapping 1-D and 2-D windows are
 * read in place by conv_windows (an implicit GEMM on CPU rasterisers); else strided slices.
 */
function convAsMatmul(x: Tensor, w: Tensor, a: { stride: number[]; dilation: number[]; padLo: number[]; padHi: number[] }, outShape: readonly number[]): Tensor {
  const nd = x.rank - 2;
  const [B, Cin] = x.shape;
  const Cout = w.shape[0];
  const K = w.shape.slice(2);
  const O = outShape.slice(2);
  const nK = K.reduce((p, q) => p * q, 1);
  const nO = O.reduce((p, q) => p * q, 1);
  const xp = x.pad([[0, 0], [0, 0], ...a.padLo.map((lo, d) => [lo, a.padHi[d]] as [number, number])]);
  let rows: Tensor;
  const tiles = K.every((k, d) => a.stride[d] === k && a.dilation[d] === 1);
  if (tiles) {
    // windows tile the (cropped) input: [B, Cin, O0, K0, O1, K1, ...] -> [B, O0, O1, .., Cin, K0, K1, ..]
    const cropped = xp.slice([null, null, ...O.map((o, d) => [0, o * K[d]] as [number, number])]);
    const split = cropped.reshape([B, Cin, ...O.flatMap((o, d) => [o, K[d]])]);
    const perm = [0, ...O.map((_, d) => 2 + 2 * d), 1, ...K.map((_, d) => 3 + 2 * d)];
    rows = split.permute(perm).reshape([B * nO, Cin * nK]);
  } else if (nd <= 2 && [...a.padLo, ...a.padHi].every((p) => p >= 0)) {
    return convByWindows(x, w, a, O);
  } else {
    const offsets: number[][] = [[]];
    for (const k of K) offsets.splice(0, offsets.length, ...offsets.flatMap((o) => Array.from({ length: k }, (_, i) => [...o, i])));
    const cols = offsets.map((off) =>
      xp.slice([null, null, ...off.map((k, d) => [k * a.dilation[d], k * a.dilation[d] + (O[d] - 1) * a.stride[d] + 1, a.stride[d]] as [number, number, number])]).unsqueeze(2),
    );
    const stacked = concat(cols, 2); // [B, Cin, K, O...]
    rows = stacked.permute([0, ...O.map((_, d) => 3 + d), 1, 2]).reshape([B * nO, Cin * nK]);
  }
  const y = rows.matmul(w.reshape([Cout, Cin * nK]).transpose()); // [B*O, Cout]
  return y.reshape([B, ...O, Cout]).permute([0, nd + 1, ...O.map((_, d) => 1 + d)]);
}

/** Overlapping windows of a 1-D (as one row) or 2-D convolution, read in place: conv_windows. */
function convByWindows(x: Tensor, w: Tensor, a: { stride: number[]; dilation: number[]; padLo: number[]; padHi: number[] }, O: readonly number[]): Tensor {
  const nd = x.rank - 2;
  const [B, Cin] = x.shape;
  const Cout = w.shape[0];
  // channels padded to a multiple of 4, so a texel of four never straddles two taps
  const c = Math.ceil(Cin / 4) * 4;
  const xp = x.pad([[0, 0], [0, c - Cin], ...a.padLo.map((lo, d) => [lo, a.padHi[d]] as [number, number])]);
  const two = <T>(v: readonly T[], one: T): [T, T] => (nd === 1 ? [one, v[0]] : [v[0], v[1]]);
  const [hp, wp] = two(xp.shape.slice(2), 1);
  const [kh, kw] = two(w.shape.slice(2), 1);
  const [oh, ow] = two(O, 1);
  const [sh, sw] = two(a.stride, 1);
  const [dh, dw] = two(a.dilation, 1);
  const spatial = Array.from({ length: nd }, (_, d) => 2 + d);
  const xcl = xp.permute([0, ...spatial, 1]).reshape([B, hp * wp, c]);
  const wm = w.pad([[0, 0], [0, c - Cin], ...spatial.map(() => [0, 0] as [number, number])]).permute([0, ...spatial, 1]).reshape([Cout, kh * kw * c]);
  const y = convWindows(xcl, wm, { hp, wp, oh, ow, kh, kw, sh, sw, dh, dw });
  return y.reshape([B, ...O, Cout]).permute([0, nd + 1, ...O.map((_, d) => 1 + d)]);
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
