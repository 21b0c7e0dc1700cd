/**
 * Numerics shared by the float64 reference interpreter and the WGSL code generator:
 * erf, rounding to narrow float formats, half-float bit conversions, and WGSL snippets
 * for erf/tanh that stay accurate and NaN-free on every driver.
 */

// ---------------------------------------------------------------------------------------------
// erf in float64

const SQRT_PI = 1.7724538509055159;

/**
 * erf(x) to ~1e-15, the algorithm CPython's math.erf used before it deferred to libm:
 * a positive-term series (no cancellation) for |x| < 1.5, and a continued fraction for erfc
 * above, where 1 - erfc loses nothing because erfc < 0.034 there.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a < 1.5) return erfSeries(x);
  const c = erfcContinuedFraction(a);
  return x > 0 ? 1 - c : c - 1;
}

/** erf(x) = 2/sqrt(pi) exp(-x²) Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)), summed backwards by Horner. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let acc = 0;
  let fk = 25 + 0.5;
  for (let i = 0; i < 25; i++) {
    acc = 2 + (x2 * acc) / fk;
    fk -= 1;
  }
  return (acc * x * Math.exp(-x2)) / SQRT_PI;
}

/** erfc(x) for x >= 1.5: 50 convergents of its continued fraction, by the three-term recurrence for numerator and denominator. */
function erfcContinuedFraction(x: number): number {
  if (x >= 30) return 0; // erfc(30) < 1e-392: below the smallest double
  const x2 = x * x;
  let a = 0;
  let da = 0.5;
  let p = 1;
  let pLast = 0;
  let q = da + x2;
  let qLast = 1;
  for (let i = 0; i < 50; i++) {
    a += da;
    da += 2;
    const b = da + x2;
    [p, pLast] = [b * p - a * pLast, p];
    [q, qLast] = [b * q - a * qLast, q];
  }
  return ((p / q) * x * Math.exp(-x2)) / SQRT_PI;
}

// ---------------------------------------------------------------------------------------------
// Rounding a float64 to narrower binary formats

/** Round-half-to-even for 0 <= y < 2^52: adding 2^52 leaves no fraction bits, and IEEE addition rounds ties to even. */
function roundTiesEven(y: number): number {
  return y + 2 ** 52 - 2 ** 52;
}

/** floor(log2(a)) exactly for finite a > 0 (Math.log2 may be off by one next to powers of two). */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return e;
}

/**
 * Round x once, directly from float64 (no double rounding through f32), to a binary format with
 * `mantissaBits` stored fraction bits and normal exponents eMin..eMax. Ties go to even, values
 * below the normal range become subnormals, and results that round past the largest finite
 * value become ±Infinity.
 */
function roundToFormat(x: number, mantissaBits: number, eMin: number, eMax: number): number {
  if (!Number.isFinite(x) || x === 0) return x; // NaN, ±Infinity and ±0 pass through
  const a = Math.abs(x);
  // The spacing of representable values at a's magnitude; subnormals share the spacing of the lowest binade.
  const quantum = 2 ** (Math.max(exponentOf(a), eMin) - mantissaBits);
  const r = roundTiesEven(a / quantum) * quantum; // both scalings by a power of two are exact
  const y = r >= 2 ** (eMax + 1) ? Infinity : r;
  return x < 0 ? -y : y; // keeps -0 for negative values that underflow
}

/** Nearest IEEE binary16 value (ties to even; overflow → ±Infinity; subnormals kept; NaN preserved). */
export function roundF16(x: number): number {
  return roundToFormat(x, 10, -14, 15);
}

/** Nearest IEEE binary32 value. */
export const roundF32: (x: number) => number = Math.fround;

/** Nearest bfloat16 value (f32's exponent range with 7 fraction bits), ties to even. */
export function roundBF16(x: number): number {
  return roundToFormat(x, 7, -126, 127);
}

/** Bits of the binary16 nearest to x (so any float64 is accepted, not only f32 values). NaN becomes the quiet NaN 0x7e00. */
export function f32ToF16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const h = roundF16(x);
  const sign = h < 0 || Object.is(h, -0) ? 0x8000 : 0;
  const a = Math.abs(h);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | (a * 2 ** 24); // subnormal: a is an integer multiple of 2^-24
  const e = exponentOf(a);
  return sign | ((e + 15) << 10) | (a * 2 ** (10 - e) - 1024);
}

/** The value of a binary16 bit pattern (exact in f32 and in float64). */
export function f16BitsToF32(b: number): number {
  const sign = b & 0x8000 ? -1 : 1;
  const exp = (b >>> 10) & 0x1f;
  const mant = b & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

// ---------------------------------------------------------------------------------------------
// WGSL snippets

/** v rounded to f32, written with the digits of that exact value, so the shader sees the same constant as an f32 TS evaluation. */
function f32Literal(v: number): string {
  const s = String(Math.fround(v));
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** Horner evaluation of Σ c[i] v^i as WGSL text. */
function horner(coeffs: number[], v: string): string {
  return coeffs.reduceRight((acc, c) => (acc === '' ? f32Literal(c) : `${f32Literal(c)} + ${v} * (${acc})`), '');
}

const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));

/**
 * erf_f32: max abs error 1.5e-7 (measured on lavapipe over 2^20 points in [-6, 6]; test/rng.test.ts checks 3e-7).
 * |x| < 1: the Taylor series of erf(x)/x in x², 2/sqrt(pi) folded into the coefficients (one rounding
 * fewer); truncated after x^21, whose neighbour is < 1.3e-9.
 * |x| >= 1: Numerical Recipes' Chebyshev fit erfc(z) ≈ t·exp(-z² + P(t)), t = 1/(1 + z/2), relative
 * error < 1.2e-7, so < 2e-8 absolute where erfc(1) = 0.157. |x| is clamped to 10 (erf is 1 in f32
 * beyond 3.9) so z² and exp stay finite.
 */
const ERF_SERIES = Array.from({ length: 11 }, (_, n) => ((-1) ** n * 2) / (SQRT_PI * factorial(n) * (2 * n + 1)));
const ERFC_NR = [
  -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223,
  0.17087277,
];

export const WGSL_ERF = `
fn erf_f32(x: f32) -> f32 {
  let z = min(abs(x), 10.0);
  var r: f32;
  if (z < 1.0) {
    let s = z * z;
    r = z * (${horner(ERF_SERIES, 's')});
  } else {
    let t = 1.0 / (1.0 + 0.5 * z);
    r = 1.0 - t * exp(-z * z + (${horner(ERFC_NR, 't')}));
  }
  return select(r, -r, x < 0.0);
}
`;

/**
 * tanh_safe: some drivers lower tanh to (e^2x - 1)/(e^2x + 1), which is inf/inf = NaN once e^2x
 * overflows. Max abs error 1.4e-7 (lavapipe, 2^20 points in [-6, 6]). Here |x| < 0.25 uses the Taylor series (error < 1e-10 relative, keeps tiny inputs
 * exact); above, 1 - 2/(e^2z + 1) with z clamped to 10 (tanh(10) rounds to 1 in f32), whose
 * division only ever shrinks towards 0 instead of producing inf/inf.
 */
const TANH_SERIES = [1, -1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925];

export const WGSL_TANH = `
fn tanh_safe(x: f32) -> f32 {
  let z = min(abs(x), 10.0);
  var r: f32;
  if (z < 0.25) {
    let s = z * z;
    r = z * (${horner(TANH_SERIES, 's')});
  } else {
    r = 1.0 - 2.0 / (exp(2.0 * z) + 1.0);
  }
  return select(r, -r, x < 0.0);
}
`;
