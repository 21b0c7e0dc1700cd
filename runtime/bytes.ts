/**
 * Host data <-> the device's storage layout (f16 packed two to a word, bool as u32).
 * Self-contained (numerics only), so generated inference modules can carry it.
 */
import type { DType } from '../compiler/ir';
import { f16BitsToF32, f32ToF16Bits } from '../compiler/numerics';

export type HostData = Float32Array | Int32Array | Uint32Array | Uint8Array;

export function toDeviceBytes(data: HostData, dtype: DType): Uint8Array {
  if (dtype === 'f16') {
    const u = new Uint16Array(data.length + (data.length & 1));
    for (let i = 0; i < data.length; i++) u[i] = f32ToF16Bits(data[i]);
    return new Uint8Array(u.buffer);
  }
  if (dtype === 'bool') return new Uint8Array(Uint32Array.from(data).buffer);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function fromDeviceBytes(bytes: ArrayBuffer, n: number, dtype: DType): HostData {
  switch (dtype) {
    case 'f32':
      return new Float32Array(bytes.slice(0, n * 4));
    case 'f16': {
      const u = new Uint16Array(bytes, 0, n);
      return Float32Array.from(u, (b) => f16BitsToF32(b));
    }
    case 'i32':
      return new Int32Array(bytes.slice(0, n * 4));
    case 'u32':
      return new Uint32Array(bytes.slice(0, n * 4));
    case 'bool':
      return Uint8Array.from(new Uint32Array(bytes, 0, n), (v) => (v ? 1 : 0));
  }
}

/** writeBuffer needs a multiple of 4 bytes. */
export function padTo4(b: Uint8Array): Uint8Array {
  if (b.byteLength % 4 === 0 && b.byteLength > 0) return b;
  const p = new Uint8Array(Math.max(4, Math.ceil(b.byteLength / 4) * 4));
  p.set(b);
  return p;
}
