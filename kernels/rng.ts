/**
 * Counter-based random numbers with bit-identical streams in TypeScript and WGSL.
 *
 * Generator: Threefry-2x32 with 20 rounds (Salmon et al. 2011, Random123), the generator behind
 * JAX's PRNG. It was chosen over Philox-4x32-10 because it needs only u32 add, xor and rotate:
 * WGSL has no 64-bit integers and no mulhi, so Philox would need a hand-written 16-bit-half
 * multiply on both sides, while Threefry maps one to one onto `(a + b) >>> 0` in TypeScript and
 * wrapping u32 arithmetic in WGSL.
 *
 * Stream layout: a key is two u32 words (keyFromSeed, splitKey). Element i of a draw uses the
 * counter c = (offset + i) >>> 0, where offset is a u32 stream offset chosen by the caller; the
 * block input is (c, 0) and the first output word is the element's 32 random bits. So each key
 * has 2^32 counters; take a fresh key (splitKey) rather than overlapping offsets for a new stream.
 * normalAt(c) consumes counters 2c and 2c+1, so a key should not feed both uniform and normal
 * draws that must be independent.
 *
 * Agreement: bits and uniforms are identical on both sides (uniforms are integers times 2^-24,
 * exact in f32). Normals use log/sqrt/cos, computed in float64 here and f32 on the GPU, so they
 * agree to ~1e-6 (max 8.4e-7 on lavapipe over 2^20 counters), not bitwise.
 */

const ROT_A = [13, 15, 26, 6];
const ROT_B = [17, 29, 16, 24];

/** Four Threefry rounds: x0 += x1; x1 = rotl(x1, r) ^ x0. */
function mix4(x: [number, number], rot: number[]): void {
  for (const r of rot) {
    x[0] = (x[0] + x[1]) >>> 0;
    x[1] = (((x[1] << r) | (x[1] >>> (32 - r))) ^ x[0]) >>> 0;
  }
}

/** Threefry-2x32-20 block function: two u32 key words and two u32 counter words in, two u32 words out. */
export function threefry2x32(key0: number, key1: number, c0: number, c1: number): [number, number] {
  const k0 = key0 >>> 0;
  const k1 = key1 >>> 0;
  const k2 = (k0 ^ k1 ^ 0x1bd11bda) >>> 0; // the third key-schedule word (Threefish's parity constant)
  const ks = [k0, k1, k2];
  const x: [number, number] = [(c0 + k0) >>> 0, (c1 + k1) >>> 0];
  for (let s = 1; s <= 5; s++) {
    mix4(x, s % 2 === 1 ? ROT_A : ROT_B);
    // Key injection after every four rounds, with the injection count added to break symmetry.
    x[0] = (x[0] + ks[s % 3]) >>> 0;
    x[1] = (x[1] + ks[(s + 1) % 3] + s) >>> 0;
  }
  return x;
}

/** 32 random bits (u32) for one counter. */
export function randomBits(key0: number, key1: number, counter: number): number {
  return threefry2x32(key0, key1, counter >>> 0, 0)[0];
}

/** Float in [0, 1) from the top 24 bits: an integer times 2^-24, exact in f32, so the same on the GPU. */
export function uniformFromBits(bits: number): number {
  return (bits >>> 8) * 2 ** -24;
}

export function uniformAt(key0: number, key1: number, counter: number): number {
  return uniformFromBits(randomBits(key0, key1, counter));
}

/**
 * Standard normal by Box–Muller from the uniforms at counters 2c and 2c+1. The radius uses
 * 1 - u1, which lies in (0, 1] (exact in f32), so log never sees 0; the angle 2π(u2 - 1/2) lies in
 * [-π, π), where GPU cos is accurate (WGSL bounds cos's error only on [-π, π]).
 */
export function normalAt(key0: number, key1: number, counter: number): number {
  const c = counter >>> 0;
  const u1 = uniformAt(key0, key1, (2 * c) >>> 0);
  const u2 = uniformAt(key0, key1, (2 * c + 1) >>> 0);
  return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(Math.PI * (2 * u2 - 1));
}

/** A key from an integer seed, as jax.random.PRNGKey: the seed's 64-bit two's complement as [high, low]. */
export function keyFromSeed(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`keyFromSeed: seed ${seed} is not a safe integer`);
  const s = BigInt.asUintN(64, BigInt(seed));
  return [Number(s >> 32n), Number(s & 0xffffffffn)];
}

/**
 * n new keys from one, exactly as jax.random.split (threefry, original split): the block function
 * runs on counters (i, n + i) for i < n, and the 2n output words, first words then second words,
 * are read in pairs.
 */
export function splitKey(key0: number, key1: number, n: number): [number, number][] {
  const words = new Array<number>(2 * n);
  for (let i = 0; i < n; i++) {
    const [a, b] = threefry2x32(key0, key1, i, n + i);
    words[i] = a;
    words[n + i] = b;
  }
  return Array.from({ length: n }, (_, j) => [words[2 * j], words[2 * j + 1]] as [number, number]);
}

/** WGSL twins of randomBits, uniformFromBits/uniformAt and normalAt (helpers are prefixed rng_). */
export const WGSL_RNG = `
fn rng_rotl(x: u32, r: u32) -> u32 { return (x << r) | (x >> (32u - r)); }

fn rng_mix4(v: vec2<u32>, r: vec4<u32>) -> vec2<u32> {
  var x = v;
  x.x += x.y; x.y = rng_rotl(x.y, r.x) ^ x.x;
  x.x += x.y; x.y = rng_rotl(x.y, r.y) ^ x.x;
  x.x += x.y; x.y = rng_rotl(x.y, r.z) ^ x.x;
  x.x += x.y; x.y = rng_rotl(x.y, r.w) ^ x.x;
  return x;
}

// Threefry-2x32-20; u32 addition wraps in WGSL, matching (a + b) >>> 0 in TypeScript.
fn rng_threefry(k0: u32, k1: u32, c0: u32, c1: u32) -> vec2<u32> {
  let k2 = k0 ^ k1 ^ 0x1bd11bdau;
  let ra = vec4<u32>(${ROT_A.map((r) => `${r}u`).join(', ')});
  let rb = vec4<u32>(${ROT_B.map((r) => `${r}u`).join(', ')});
  var x = vec2<u32>(c0 + k0, c1 + k1);
  x = rng_mix4(x, ra) + vec2<u32>(k1, k2 + 1u);
  x = rng_mix4(x, rb) + vec2<u32>(k2, k0 + 2u);
  x = rng_mix4(x, ra) + vec2<u32>(k0, k1 + 3u);
  x = rng_mix4(x, rb) + vec2<u32>(k1, k2 + 4u);
  x = rng_mix4(x, ra) + vec2<u32>(k2, k0 + 5u);
  return x;
}

fn rng_bits(k0: u32, k1: u32, c: u32) -> u32 { return rng_threefry(k0, k1, c, 0u).x; }

fn rng_uniform(k0: u32, k1: u32, c: u32) -> f32 {
  return f32(rng_bits(k0, k1, c) >> 8u) * (1.0 / 16777216.0); // exact: a 24-bit integer times 2^-24
}

// -log(1 - u) for u in [0, 1). GPU log is only accurate in absolute terms next to 1 (lavapipe: ~4e-8),
// and Box-Muller's sqrt turns that into errors of ~2e-5 when the radius is small; below u = 1/32 the
// series u + u^2/2 + ... + u^5/5 is accurate to 5e-9 relative.
fn rng_neg_log1m(u: f32) -> f32 {
  if (u < 0.03125) {
    return u * (1.0 + u * (0.5 + u * (${1 / 3} + u * (0.25 + u * 0.2))));
  }
  return -log(1.0 - u);
}

fn rng_normal(k0: u32, k1: u32, c: u32) -> f32 {
  let u1 = rng_uniform(k0, k1, 2u * c);
  let u2 = rng_uniform(k0, k1, 2u * c + 1u);
  return sqrt(2.0 * rng_neg_log1m(u1)) * cos(${Math.PI} * (2.0 * u2 - 1.0));
}
`;
