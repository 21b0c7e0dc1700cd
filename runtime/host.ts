/** Host-side tensors: what callers pass in and get back. f16 travels as Float32Array. */
import type { DType } from '../compiler/ir';
import { fmtShape, numel } from '../compiler/ir';

import type { HostData } from './bytes';
export type { HostData };
export interface HostTensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly data: HostData;
}

export class InputError extends Error {
  override name = 'InputError';
}

export function hostArrayFor(dtype: DType, n: number): HostData {
  switch (dtype) {
    case 'f32':
    case 'f16':
      return new Float32Array(n);
    case 'i32':
      return new Int32Array(n);
    case 'u32':
      return new Uint32Array(n);
    case 'bool':
      return new Uint8Array(n);
  }
}

export function toHost(values: ArrayLike<number>, shape: readonly number[], dtype: DType): HostTensor {
  const data = hostArrayFor(dtype, values.length);
  for (let i = 0; i < values.length; i++) data[i] = dtype === 'bool' ? (values[i] ? 1 : 0) : values[i];
  return { shape: [...shape], dtype, data };
}

/** Checks a caller's value for an input and returns it as host data of the right kind. */
export function checkInput(name: string, value: unknown, shape: readonly number[], dtype: DType): HostData {
  const n = numel(shape);
  let arr: ArrayLike<number>;
  if (value && typeof value === 'object' && 'data' in value && 'shape' in value) {
    const t = value as HostTensor;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new InputError(`input '${name}': expected shape ${fmtShape(shape)}, got ${fmtShape(t.shape)}`);
    if (t.dtype !== undefined && t.dtype !== dtype) throw new InputError(`input '${name}': expected dtype ${dtype}, got ${t.dtype}`);
    arr = t.data;
  } else if (ArrayBuffer.isView(value) || Array.isArray(value)) {
    arr = value as ArrayLike<number>;
  } else if (typeof value === 'number' && n === 1) {
    arr = [value];
  } else {
    throw new InputError(`input '${name}': expected ${dtype}${fmtShape(shape)} data, got ${value === undefined ? 'nothing' : typeof value}`);
  }
  if (arr.length !== n) throw new InputError(`input '${name}': expected ${n} values for ${dtype}${fmtShape(shape)}, got ${arr.length}`);
  const out = hostArrayFor(dtype, n);
  // TypedArray#set converts as element assignment does, and is a memcpy between arrays of one
  // kind: a per-element loop over a batch took 0.3 ms of a 5.5 ms training step
  if (dtype !== 'bool') out.set(arr);
  else for (let i = 0; i < n; i++) out[i] = arr[i] ? 1 : 0;
  return out;
}

export { toDeviceBytes, fromDeviceBytes } from './bytes';

const isLeafValue = (v: unknown) =>
  typeof v === 'number' ||
  (Array.isArray(v) && (v.length === 0 || typeof v[0] === 'number' || typeof v[0] === 'boolean')) ||
  ArrayBuffer.isView(v) ||
  (typeof v === 'object' && v !== null && (('data' in v && 'shape' in v) || (v as { kind?: string }).kind === 'device'));

/** Accepts inputs as a tree (e.g. { params: {...}, x }) and names leaves by dotted paths. */
export function flattenInputs(values: Readonly<Record<string, unknown>>, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [k, v] of Object.entries(values)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (isLeafValue(v) || v === undefined || v === null) out[name] = v;
    else flattenInputs(v as Record<string, unknown>, name, out);
  }
  return out;
}
