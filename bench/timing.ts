/**
 * How a bench row is timed, the same way for every contestant:
 * - each contestant's `run()` is the op, its submit and a wait until the device queue is idle
 *   (readback excluded); each peer file says which wait it uses;
 * - every contestant gets the same warm-up calls (compiles, allocations, uploads; only one when
 *   a single call takes half the time budget), then the timed calls go round-robin (ours,
 *   peer 1, peer 2, ..., then again), so a burst of load on this shared machine hits everyone;
 * - every call runs inside `awaitGpu`, so the `webgpu` binding's polling goes through the same
 *   tamed `setImmediate` for us and for the peers (see runtime/poll.ts);
 * - the figure is the median of the timed calls.
 */
import { awaitGpu } from '../runtime/poll';
import type { Case } from './types';

export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** One timed call: `prepare` (untimed), then `run` under the tamed poller. */
export async function timeOnce(c: Case): Promise<number> {
  await c.prepare?.();
  const t0 = performance.now();
  await awaitGpu(() => c.run());
  return performance.now() - t0;
}

/**
 * max |ours - peer| / max |peer|: the error relative to the peer's largest magnitude (an
 * element-wise relative error is meaningless where the true value is near zero).
 */
export function maxRelDiff(ours: ArrayLike<number>, peer: ArrayLike<number>): number {
  if (ours.length !== peer.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < peer.length; i++) {
    const d = Math.abs(ours[i] - peer[i]);
    if (!(d <= diff)) diff = d; // NaN propagates
    scale = Math.max(scale, Math.abs(peer[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

/** Deterministic data: uniform in [lo, hi) from a seeded generator (mulberry32). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** Integers in [0, k) from the same generator. */
export const integers = (n: number, seed: number, k: number): Int32Array => Int32Array.from(uniform(n, seed, 0, k), (v) => Math.min(k - 1, Math.floor(v)));

/** Rounds values to f16 (so an f16 row feeds every contestant exactly the same numbers). */
export function roundToF16(x: Float32Array): Float32Array {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    // f16 subnormals are flushed to zero; others keep 10 mantissa bits, rounded to nearest even
    f[0] = Math.abs(x[i]) < 2 ** -14 ? 0 : x[i];
    const bits = u[0];
    const lsb = (bits >>> 13) & 1;
    u[0] = ((bits + 0xfff + lsb) >>> 13) << 13;
    out[i] = f[0];
  }
  return out;
}

/** Copies `data` laid out as `shape` into the axis order `perm` (out.shape[i] = shape[perm[i]]). */
export function permute(data: ArrayLike<number>, shape: readonly number[], perm: readonly number[]): Float32Array {
  const r = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(r);
  for (let i = r - 1, s = 1; i >= 0; i--) (inStrides[i] = s), (s *= shape[i]);
  const stride = perm.map((p) => inStrides[p]);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(r).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = data[src];
    for (let d = r - 1; d >= 0; d--) {
      idx[d]++;
      src += stride[d];
      if (idx[d] < outShape[d]) break;
      src -= stride[d] * idx[d];
      idx[d] = 0;
    }
  }
  return out;
}
