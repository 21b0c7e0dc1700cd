import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { f16round } from '@petamoriken/float16';
import { erf, f16BitsToF32, f32ToF16Bits, roundBF16, roundF16, roundF32 } from '../compiler/numerics';

describe('erf', () => {
  // float64 values of erf computed with mpmath at 40 digits
  const known: [number, number][] = [
    [1e-5, 1.1283791670578999e-5],
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [-0.75, -0.7111556336535151],
    [1, 0.8427007929497149],
    [1.4999999999, 0.9661051464634177],
    [1.5, 0.9661051464753108],
    [-2, -0.9953222650189527],
    [2.5, 0.999593047982555],
    [3, 0.9999779095030014],
    [4.5, 0.9999999998033839],
    [6, 1],
  ];
  it.each(known)('erf(%s)', (x, want) => {
    expect(Math.abs(erf(x) - want)).toBeLessThanOrEqual(1e-14 * Math.abs(want));
  });

  it('is odd, saturates, and keeps NaN and ±0', () => {
    fc.assert(fc.property(fc.double({ min: -40, max: 40, noNaN: true }), (x) => erf(-x) === -erf(x)));
    expect(erf(Infinity)).toBe(1);
    expect(erf(-1e300)).toBe(-1);
    expect(erf(NaN)).toBeNaN();
    expect(Object.is(erf(-0), -0)).toBe(true);
  });
});

describe('narrow float rounding', () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
    [65504, 0x7bff],
    [65519.99, 0x7bff],
    [65520, 0x7c00], // the tie above the largest finite half rounds to even, i.e. overflows
    [-1e6, 0xfc00],
    [2 ** -14, 0x0400],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal: even is 0
    [3 * 2 ** -26, 0x0001],
    [1 + 2 ** -11, 0x3c00], // tie: to even
    [1 + 3 * 2 ** -11, 0x3c02], // tie: to even
    [1 + 2 ** -11 + 2 ** -40, 0x3c01], // through f32 this would round twice and land on 0x3c00
    [-0, 0x8000],
    [Infinity, 0x7c00],
  ];
  it.each(cases)('f32ToF16Bits(%s)', (x, bits) => {
    expect(f32ToF16Bits(x)).toBe(bits);
    expect(Object.is(roundF16(x), f16BitsToF32(bits))).toBe(true);
  });

  it('keeps NaN', () => {
    expect(roundF16(NaN)).toBeNaN();
    expect(roundBF16(NaN)).toBeNaN();
    expect(f16BitsToF32(f32ToF16Bits(NaN))).toBeNaN();
    expect(f16BitsToF32(0x7c01)).toBeNaN();
  });

  it('every non-NaN half is a fixed point of roundF16 and round-trips its bits', () => {
    const isNaNBits = (b: number) => (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }).filter((b) => !isNaNBits(b)),
        (b) => {
          const v = f16BitsToF32(b);
          return Object.is(roundF16(v), v) && f32ToF16Bits(v) === b;
        },
      ),
      { numRuns: 20000 },
    );
  });

  it('roundF16 agrees with @petamoriken/float16 on arbitrary doubles', () => {
    fc.assert(fc.property(fc.double(), (x) => Object.is(roundF16(x), f16round(x))), { numRuns: 20000 });
    fc.assert(fc.property(fc.double({ min: -70000, max: 70000 }), (x) => Object.is(roundF16(x), f16round(x))), {
      numRuns: 20000,
    });
  });

  it('roundBF16 rounds to the nearest bfloat16, ties to even', () => {
    expect(roundBF16(1 + 2 ** -8)).toBe(1);
    expect(roundBF16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
    expect(roundBF16(1 + 2 ** -8 + 2 ** -30)).toBe(1 + 2 ** -7);
    expect(roundBF16(3.4e38)).toBe(Infinity); // above the largest bfloat16, 0x7f7f
    expect(roundBF16(2 ** -134)).toBe(0); // tie between 0 and the smallest subnormal 2^-133: even is 0
    expect(roundBF16(3 * 2 ** -135)).toBe(2 ** -133);
    const bits = new Uint32Array(new Float32Array(1).buffer);
    const f = new Float32Array(bits.buffer);
    fc.assert(
      fc.property(fc.double({ noNaN: true, min: 0, max: 3e38 }), (x) => {
        const r = roundBF16(x);
        if (!Object.is(roundBF16(-x), -r)) return false;
        f[0] = r;
        if (f[0] !== r || (bits[0] & 0xffff) !== 0) return false; // a bfloat16 is an f32 with 16 zero low bits
        // nearest: neither bfloat16 neighbour is closer
        const next = (b: number) => new Float32Array(new Uint32Array([b]).buffer)[0];
        const up = next(bits[0] + 0x10000);
        const down = bits[0] === 0 ? -Infinity : next(bits[0] - 0x10000);
        return Math.abs(r - x) <= up - x && Math.abs(r - x) <= x - down;
      }),
      { numRuns: 20000 },
    );
  });

  it('roundF32 is Math.fround', () => {
    expect(roundF32(0.1)).toBe(Math.fround(0.1));
  });
});
