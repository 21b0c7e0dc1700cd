/** Dtype semantics shared by the reference interpreter and the code generator. */
import type { DType } from './ir';
import { roundF16 } from './numerics';

/** The WGSL type values of a dtype take inside a kernel: floats compute in f32 (f16 is storage). */
export function valueType(d: DType): string {
  return d === 'f32' || d === 'f16' ? 'f32' : d;
}

/** The WGSL element type of a storage buffer holding a dtype (bool is stored as u32). */
export function storageType(d: DType): string {
  return d === 'bool' ? 'u32' : d;
}

export function byteSize(d: DType): number {
  return d === 'f16' ? 2 : 4;
}

const I32_MIN = -2147483648;
const I32_MAX = 2147483647;

/** Rounds a float64 result to what the dtype can hold (f32 is kept in float64: the oracle). */
export function coerce(x: number, d: DType): number {
  switch (d) {
    case 'f32':
      return x;
    case 'f16':
      return roundF16(x);
    case 'i32':
      return Number.isFinite(x) ? Math.trunc(x) | 0 : 0;
    case 'u32':
      return Number.isFinite(x) ? Math.trunc(x) >>> 0 : 0;
    case 'bool':
      return x !== 0 && !Number.isNaN(x) ? 1 : 0;
  }
}

/** Float -> integer conversion as WGSL does it: truncate, then clamp; NaN -> 0. */
export function convert(x: number, from: DType, to: DType): number {
  if (to === 'bool') return x !== 0 ? 1 : 0;
  if (from === 'f32' || from === 'f16') {
    if (to === 'i32') return Number.isNaN(x) ? 0 : Math.min(I32_MAX, Math.max(I32_MIN, Math.trunc(x)));
    if (to === 'u32') return Number.isNaN(x) ? 0 : Math.min(4294967295, Math.max(0, Math.trunc(x)));
  }
  if (from === 'i32' && to === 'u32') return x >>> 0;
  if (from === 'u32' && to === 'i32') return x | 0;
  return coerce(x, to);
}

/** A WGSL literal of a value in a dtype's value type. */
export function wgslLiteral(v: number, d: DType): string {
  switch (valueType(d)) {
    case 'f32':
      // Tint rejects NaN and infinities in constant expressions, so they come from functions
      if (Number.isNaN(v)) return 'nan_f32()';
      if (v === Infinity) return 'inf_f32()';
      if (v === -Infinity) return '(-inf_f32())';
      {
        const f = Math.fround(v);
        if (f === Infinity || f === -Infinity) return f > 0 ? 'inf_f32()' : '(-inf_f32())';
        // the bit pattern keeps the exact f32 value, including -0 and subnormals
        const bits = new Uint32Array(new Float32Array([f]).buffer)[0];
        return Number.isInteger(f) && Math.abs(f) < 1e7 && !Object.is(f, -0) ? `${f}.0` : `bitcast<f32>(0x${bits.toString(16)}u)`;
      }
    case 'i32':
      return v === -2147483648 ? 'i32(-2147483647 - 1)' : `${v | 0}i`;
    case 'u32':
      return `${v >>> 0}u`;
    case 'bool':
      return v ? 'true' : 'false';
  }
  throw new Error(`no literal for ${d}`);
}

/** Non-finite values at run time (included in every kernel; see wgslLiteral). */
export const WGSL_SPECIAL_FLOATS = `fn inf_f32() -> f32 { var b = 0x7f800000u; return bitcast<f32>(b); }
fn nan_f32() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); }`;
