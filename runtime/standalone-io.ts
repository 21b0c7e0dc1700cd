/**
 * The small file layer of a generated inference module (`omni-emotion compile`): reads
 * safetensors (F32, F16, BF16, I32, I64) by name and writes F32 results atomically. It depends
 * on nothing but node:fs, because the module must run without this repository beside it.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';

export interface StTensor {
  readonly dtype: string;
  readonly shape: number[];
  readonly data: Float32Array | Int32Array;
}

export class ModuleInputError extends Error {
  override name = 'ModuleInputError';
}

export function readSafetensorsFile(path: string): Map<string, StTensor> {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new ModuleInputError(`${path}: cannot read (${(e as Error).message})`);
  }
  if (buf.length < 8) throw new ModuleInputError(`${path}: not a safetensors file (shorter than 8 bytes)`);
  const n = Number(buf.readBigUInt64LE(0));
  if (n > buf.length - 8) throw new ModuleInputError(`${path}: header length ${n} runs past the end of the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch {
    throw new ModuleInputError(`${path}: the header is not valid JSON`);
  }
  const base = 8 + n;
  const out = new Map<string, StTensor>();
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [b, end] = e.data_offsets;
    const count = e.shape.reduce((a, d) => a * d, 1);
    const bytes = buf.subarray(base + b, base + end);
    const size = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8 }[e.dtype];
    if (size === undefined) throw new ModuleInputError(`${path}: tensor '${name}' has dtype ${e.dtype}; this module reads F32, F16, BF16, I32 and I64`);
    if (bytes.length !== count * size || base + end > buf.length) throw new ModuleInputError(`${path}: tensor '${name}' holds ${bytes.length} bytes, ${e.dtype} [${e.shape}] needs ${count * size}`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let data: Float32Array | Int32Array;
    if (e.dtype === 'F32') data = Float32Array.from({ length: count }, (_, i) => dv.getFloat32(i * 4, true));
    else if (e.dtype === 'F16') data = Float32Array.from({ length: count }, (_, i) => halfToFloat(dv.getUint16(i * 2, true)));
    else if (e.dtype === 'BF16') data = Float32Array.from({ length: count }, (_, i) => new Float32Array(new Uint32Array([dv.getUint16(i * 2, true) << 16]).buffer)[0]);
    else if (e.dtype === 'I32') data = Int32Array.from({ length: count }, (_, i) => dv.getInt32(i * 4, true));
    else data = Int32Array.from({ length: count }, (_, i) => Number(dv.getBigInt64(i * 8, true)));
    out.set(name, { dtype: e.dtype, shape: e.shape, data });
  }
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Writes F32 tensors to `path` through a temporary file, fsync and rename. */
export function writeSafetensorsF32(path: string, tensors: ReadonlyMap<string, { shape: readonly number[]; data: ArrayLike<number> }>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, head);
    writeSync(fd, Buffer.from(json, 'utf8'));
    for (const name of names) writeSync(fd, Buffer.from(Float32Array.from(tensors.get(name)!.data).buffer));
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
