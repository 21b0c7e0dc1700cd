// safetensors reader and writer: https://github.com/huggingface/safetensors (format section).
// Everything read from a file is treated as hostile: every length is checked before it is used.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either';

export type StDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'U32' | 'BOOL';

export interface TensorEntry {
  name: string;
  dtype: StDType;
  shape: number[];
  begin: number;
  end: number;
}

export type TensorData = Float32Array | Int32Array | Uint8Array | Uint32Array;

export interface SafetensorsFile {
  path: string;
  metadata: Record<string, string>;
  tensors: Map<string, TensorEntry>;
  read(name: string): TensorData;
  readBytes(name: string): Uint8Array;
  close(): void;
}

export interface TensorToWrite {
  dtype: StDType;
  shape: number[];
  data: Float32Array | Float64Array | Int32Array | Uint8Array | Uint32Array | BigInt64Array | number[];
}

export interface ShardedSafetensors {
  metadata: Record<string, unknown>;
  tensors: Map<string, TensorEntry & { file: SafetensorsFile }>;
  read(name: string): TensorData;
  close(): void;
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  readonly file: string;
  readonly tensor?: string;
  readonly field?: string;

  constructor(file: string, detail: string, where: { tensor?: string; field?: string } = {}) {
    const parts = [clean(file)];
    if (where.tensor !== undefined) parts.push(`tensor ${quote(where.tensor)}`);
    // Most details already begin with the field they are about; the rest get it as a prefix.
    if (where.field !== undefined && !detail.startsWith(where.field)) parts.push(where.field);
    parts.push(clean(detail));
    super(parts.join(': '));
    this.file = file;
    if (where.tensor !== undefined) this.tensor = where.tensor;
    if (where.field !== undefined) this.field = where.field;
  }
}

// Messages must stay on one line even when names or values come from a hostile header.
function clean(s: string): string {
  return s.replace(/[\x00-\x1f\x7f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
function quote(s: string): string {
  return `'${clean(s.length > 200 ? `${s.slice(0, 200)}...` : s)}'`;
}
function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
}

const ITEMSIZE: ReadonlyMap<string, number> = new Map<StDType, number>([
  ['F64', 8], ['F32', 4], ['F16', 2], ['BF16', 2], ['I64', 8], ['I32', 4],
  ['I16', 2], ['I8', 1], ['U8', 1], ['U32', 4], ['BOOL', 1],
]);

// Same bound as the reference implementation; it also caps what a header can make us allocate.
const MAX_HEADER = 100_000_000;
const METADATA_KEY = '__metadata__';
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isSafeNat(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** numel of a validated shape, or undefined when it is not a safe integer. */
function numelOf(shape: number[]): number | undefined {
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const d of shape) {
    if (n > Number.MAX_SAFE_INTEGER / d) return undefined;
    n *= d;
  }
  return n;
}

function checkShape(file: string, tensor: string, shape: unknown, dtype: StDType): { shape: number[]; bytes: number } {
  if (!Array.isArray(shape) || !shape.every(isSafeNat)) {
    throw new SafetensorsError(file, `shape ${show(shape)} is not an array of non-negative integers`, { tensor, field: 'shape' });
  }
  const numel = numelOf(shape);
  const size = ITEMSIZE.get(dtype)!;
  if (numel === undefined || numel > Number.MAX_SAFE_INTEGER / size) {
    throw new SafetensorsError(file, `shape ${show(shape)} has too many elements`, { tensor, field: 'shape' });
  }
  return { shape: [...shape], bytes: numel * size };
}

function parseHeader(file: string, headerBytes: Uint8Array, dataSize: number): { metadata: Record<string, string>; tensors: Map<string, TensorEntry> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes));
  } catch (e) {
    throw new SafetensorsError(file, `header is not valid UTF-8 JSON (${(e as Error).message})`, { field: 'header' });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError(file, `header is not a JSON object`, { field: 'header' });
  }

  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorEntry>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (entry === null) continue;
      if (typeof entry !== 'object' || Array.isArray(entry)) {
        throw new SafetensorsError(file, `${METADATA_KEY} is not an object`, { field: METADATA_KEY });
      }
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') {
          throw new SafetensorsError(file, `${METADATA_KEY} value of ${quote(k)} is ${show(v)}, not a string`, { field: METADATA_KEY });
        }
        metadata[k] = v;
      }
      continue;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new SafetensorsError(file, `entry is ${show(entry)}, not an object`, { tensor: name });
    }
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== 'string' || !ITEMSIZE.has(dtype)) {
      throw new SafetensorsError(file, `dtype ${show(dtype)} is unknown`, { tensor: name, field: 'dtype' });
    }
    const st = dtype as StDType;
    const checked = checkShape(file, name, shape, st);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !isSafeNat(offsets[0]) || !isSafeNat(offsets[1]) || offsets[0] > offsets[1]) {
      throw new SafetensorsError(file, `data_offsets ${show(offsets)} are not two integers [begin, end] with begin <= end`, { tensor: name, field: 'data_offsets' });
    }
    const [begin, end] = offsets as [number, number];
    if (end - begin !== checked.bytes) {
      throw new SafetensorsError(file, `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${st} [${checked.shape.join(', ')}] needs ${checked.bytes}`, { tensor: name, field: 'data_offsets' });
    }
    if (end > dataSize) {
      throw new SafetensorsError(file, `data_offsets [${begin}, ${end}] go beyond the data section of ${dataSize} bytes`, { tensor: name, field: 'data_offsets' });
    }
    tensors.set(name, { name, dtype: st, shape: checked.shape, begin, end });
  }

  const ranges = [...tensors.values()].filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1]!;
    const cur = ranges[i]!;
    if (cur.begin < prev.end) {
      throw new SafetensorsError(file, `data_offsets [${cur.begin}, ${cur.end}] overlap tensor ${quote(prev.name)} at [${prev.begin}, ${prev.end}]`, { tensor: cur.name, field: 'data_offsets' });
    }
  }
  return { metadata, tensors };
}

/** Validates the 8-byte prefix; returns the header length. */
function headerLength(file: string, prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8) {
    throw new SafetensorsError(file, `file is ${fileSize} bytes, shorter than the 8-byte header length`, { field: 'header length' });
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (n > MAX_HEADER || n > fileSize - 8) {
    const shown = hi === 0 ? String(n) : (BigInt(hi) << 32n | BigInt(lo)).toString();
    throw new SafetensorsError(file, `header length ${shown} exceeds ${n > MAX_HEADER ? `the ${MAX_HEADER}-byte limit` : `the file size ${fileSize}`}`, { field: 'header length' });
  }
  return n;
}

function decodeF16(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/**
 * Rounds a double straight to a 16-bit float with `mant` mantissa bits (F16: 10, bias 15;
 * BF16: 7, bias 127), ties to even. Going through float32 first would round twice.
 */
function encodeHalf(x: number, mant: number, bias: number): number {
  const inf = (2 * bias + 1) * 2 ** mant;
  if (Number.isNaN(x)) return inf | (1 << (mant - 1));
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | inf;
  let bits: number;
  if (a < 2 ** (1 - bias)) {
    bits = roundHalfEven(a * 2 ** (bias - 1 + mant));
  } else {
    let e = Math.floor(Math.log2(a));
    if (2 ** e > a) e--;
    else if (2 ** (e + 1) <= a) e++;
    // q lands in [2^mant, 2^(mant+1)]; a carry to 2^(mant+1) correctly bumps the exponent.
    const q = roundHalfEven(a * 2 ** (mant - e));
    bits = Math.min((e + bias - 1) * 2 ** mant + q, inf);
  }
  return sign | bits;
}

function convert(file: string, e: TensorEntry, bytes: Uint8Array): TensorData {
  const n = (e.end - e.begin) / ITEMSIZE.get(e.dtype)!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fill = <T extends TensorData>(out: T, at: (i: number) => number): T => {
    for (let i = 0; i < n; i++) out[i] = at(i);
    return out;
  };
  // `bytes` is always a fresh copy at offset 0, so native views over it are aligned and private.
  switch (e.dtype) {
    case 'F64': return fill(new Float32Array(n), (i) => view.getFloat64(8 * i, true));
    case 'F32': return LITTLE_ENDIAN ? new Float32Array(bytes.buffer, 0, n) : fill(new Float32Array(n), (i) => view.getFloat32(4 * i, true));
    case 'F16': return fill(new Float32Array(n), (i) => decodeF16(view.getUint16(2 * i, true)));
    case 'BF16': {
      // Bit copy rather than arithmetic, so NaN payloads survive.
      const out = new Float32Array(n);
      fill(new Uint32Array(out.buffer), (i) => view.getUint16(2 * i, true) << 16);
      return out;
    }
    case 'I64': return fill(new Int32Array(n), (i) => {
      const lo = view.getInt32(8 * i, true);
      if (view.getInt32(8 * i + 4, true) !== lo >> 31) {
        throw new SafetensorsError(file, `I64 value ${view.getBigInt64(8 * i, true)} at index ${i} is outside the int32 range`, { tensor: e.name });
      }
      return lo;
    });
    case 'I32': return LITTLE_ENDIAN ? new Int32Array(bytes.buffer, 0, n) : fill(new Int32Array(n), (i) => view.getInt32(4 * i, true));
    case 'I16': return fill(new Int32Array(n), (i) => view.getInt16(2 * i, true));
    case 'I8': return fill(new Int32Array(n), (i) => view.getInt8(i));
    case 'U8': return bytes;
    case 'U32': return LITTLE_ENDIAN ? new Uint32Array(bytes.buffer, 0, n) : fill(new Uint32Array(n), (i) => view.getUint32(4 * i, true));
    case 'BOOL': return fill(new Uint8Array(n), (i) => (bytes[i] ? 1 : 0));
  }
}

/** Builds a SafetensorsFile over `fetch(offset, length)`, which reads from the data section. */
function makeFile(
  file: string,
  header: { metadata: Record<string, string>; tensors: Map<string, TensorEntry> },
  fetch: (offset: number, length: number) => Uint8Array,
  release: () => void,
): SafetensorsFile {
  let closed = false;
  const readBytes = (name: string): Uint8Array => {
    if (closed) throw new SafetensorsError(file, 'file is closed', { tensor: name });
    const e = header.tensors.get(name);
    if (!e) throw new SafetensorsError(file, 'no such tensor', { tensor: name });
    return fetch(e.begin, e.end - e.begin);
  };
  return {
    path: file,
    metadata: header.metadata,
    tensors: header.tensors,
    readBytes,
    read(name) {
      const bytes = readBytes(name);
      return convert(file, header.tensors.get(name)!, bytes);
    },
    close() {
      if (!closed) release();
      closed = true;
    },
  };
}

export function parseSafetensors(bytes: Uint8Array, label: string): SafetensorsFile {
  const n = headerLength(label, bytes, bytes.byteLength);
  const header = parseHeader(label, bytes.subarray(8, 8 + n), bytes.byteLength - 8 - n);
  const data = bytes.subarray(8 + n);
  return makeFile(label, header, (offset, length) => data.slice(offset, offset + length), () => {});
}

function readFully(file: string, fd: number, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    // readSync takes at most 2 GiB per call.
    const got = fs.readSync(fd, out, done, Math.min(length - done, 1 << 30), position + done);
    if (got === 0) throw new SafetensorsError(file, `file ended at byte ${position + done}, expected ${position + length}`, { field: 'data' });
    done += got;
  }
  return out;
}

export function openSafetensors(file: string): SafetensorsFile {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new SafetensorsError(file, `cannot open (${(e as Error).message})`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const n = headerLength(file, size >= 8 ? readFully(file, fd, 0, 8) : new Uint8Array(8), size);
    const header = parseHeader(file, readFully(file, fd, 8, n), size - 8 - n);
    return makeFile(file, header, (offset, length) => readFully(file, fd, 8 + n + offset, length), () => fs.closeSync(fd));
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

const INT_RANGE: Partial<Record<StDType, [bigint, bigint]>> = {
  I64: [-(2n ** 63n), 2n ** 63n - 1n],
  I32: [-(2n ** 31n), 2n ** 31n - 1n],
  I16: [-(2n ** 15n), 2n ** 15n - 1n],
  I8: [-128n, 127n],
  U8: [0n, 255n],
  U32: [0n, 2n ** 32n - 1n],
  BOOL: [0n, 1n],
};

// Typed arrays whose little-endian bytes already are the safetensors encoding of that dtype.
const NATIVE: Partial<Record<StDType, Function>> = {
  F64: Float64Array, F32: Float32Array, I64: BigInt64Array, I32: Int32Array, U8: Uint8Array, U32: Uint32Array,
};

function setter(view: DataView, dtype: StDType): (i: number, x: number | bigint) => void {
  switch (dtype) {
    case 'F64': return (i, x) => view.setFloat64(8 * i, Number(x), true);
    case 'F32': return (i, x) => view.setFloat32(4 * i, Number(x), true);
    case 'F16': return (i, x) => view.setUint16(2 * i, encodeHalf(Number(x), 10, 15), true);
    case 'BF16': return (i, x) => view.setUint16(2 * i, encodeHalf(Number(x), 7, 127), true);
    case 'I64': return (i, x) => view.setBigInt64(8 * i, BigInt(x), true);
    case 'I32': return (i, x) => view.setInt32(4 * i, Number(x), true);
    case 'I16': return (i, x) => view.setInt16(2 * i, Number(x), true);
    case 'I8': return (i, x) => view.setInt8(i, Number(x));
    case 'U32': return (i, x) => view.setUint32(4 * i, Number(x), true);
    case 'U8': case 'BOOL': return (i, x) => view.setUint8(i, Number(x));
  }
}

function encodeTensor(file: string, name: string, tensor: TensorToWrite): Uint8Array {
  const { dtype, data } = tensor;
  if (!ITEMSIZE.has(dtype)) throw new SafetensorsError(file, `dtype ${show(dtype)} is unknown`, { tensor: name, field: 'dtype' });
  const { bytes } = checkShape(file, name, tensor.shape, dtype);
  const size = ITEMSIZE.get(dtype)!;
  if (data.length * size !== bytes) {
    throw new SafetensorsError(file, `data has ${data.length} elements but shape ${show(tensor.shape)} needs ${bytes / size}`, { tensor: name, field: 'data' });
  }
  const native = NATIVE[dtype];
  if (LITTLE_ENDIAN && native && data instanceof native) {
    const src = data as Exclude<typeof data, number[]>;
    return new Uint8Array(src.buffer, src.byteOffset, src.byteLength).slice();
  }
  const out = new Uint8Array(bytes);
  const put = setter(new DataView(out.buffer), dtype);
  const range = INT_RANGE[dtype];
  for (let i = 0; i < data.length; i++) {
    const v: unknown = data[i];
    const ok = typeof v === 'bigint'
      ? !range || (v >= range[0] && v <= range[1])
      : typeof v === 'number' && (!range || (Number.isInteger(v) && BigInt(v) >= range[0] && BigInt(v) <= range[1]));
    if (!ok) throw new SafetensorsError(file, `data[${i}] = ${show(v)} does not fit ${dtype}`, { tensor: name, field: 'data' });
    put(i, v as number | bigint);
  }
  return out;
}

function serialize(file: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts: string[] = [];
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(file, `${METADATA_KEY} value of ${quote(k)} is ${show(v)}, not a string`, { field: METADATA_KEY });
    }
    parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === METADATA_KEY) throw new SafetensorsError(file, `${METADATA_KEY} is reserved`, { tensor: name });
    const blob = encodeTensor(file, name, tensors[name]!);
    const entry = { dtype: tensors[name]!.dtype, shape: tensors[name]!.shape, data_offsets: [offset, offset + blob.byteLength] };
    // Built by hand: JSON.stringify of an object would move integer-like names to the front.
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(entry)}`);
    blobs.push(blob);
    offset += blob.byteLength;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLen);
  let at = 8 + headerLen;
  for (const blob of blobs) {
    out.set(blob, at);
    at += blob.byteLength;
  }
  return out;
}

export function serializeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  return serialize('<memory>', tensors, metadata);
}

export function writeSafetensorsAtomic(file: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): void {
  const bytes = serialize(file, tensors, metadata);
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx');
    let done = 0;
    while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, 1 << 30));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      if (fd !== undefined) fs.closeSync(fd);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    throw e;
  }
  // Makes the rename itself durable; some platforms cannot fsync a directory, which is fine.
  try {
    const dir = fs.openSync(path.dirname(file), 'r');
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
  } catch {
    /* best effort */
  }
}

const ShardIndex = t.type({
  weight_map: t.record(t.string, t.string),
  metadata: t.union([t.UnknownRecord, t.null, t.undefined]),
});

export function openShardedSafetensors(indexPath: string): ShardedSafetensors {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  } catch (e) {
    throw new SafetensorsError(indexPath, `index is not readable JSON (${(e as Error).message})`, { field: 'index' });
  }
  const decoded = ShardIndex.decode(raw);
  if (isLeft(decoded)) {
    // Keys under unions and intersections are member indices, not positions in the JSON.
    const { context, value } = decoded.left[0]!;
    const keys: string[] = [];
    let expected = context[0]!.type.name;
    context.forEach((c, i) => {
      const parent = context[i - 1]?.type;
      if (parent && !(parent instanceof t.UnionType || parent instanceof t.IntersectionType)) {
        keys.push(c.key);
        expected = c.type.name;
      }
    });
    const at = keys.join('.') || 'index';
    throw new SafetensorsError(indexPath, `${at} is ${show(value)}, expected ${expected}`, { field: at });
  }
  const index = decoded.right;
  const dir = path.dirname(indexPath);
  const shards = new Map<string, SafetensorsFile>();
  const tensors = new Map<string, TensorEntry & { file: SafetensorsFile }>();
  const close = () => {
    for (const s of shards.values()) s.close();
  };
  try {
    for (const [name, shard] of Object.entries(index.weight_map)) {
      if (shard === '' || path.isAbsolute(shard) || shard.split(/[\\/]/).includes('..')) {
        throw new SafetensorsError(indexPath, `weight_map shard ${quote(shard)} is not a file name inside ${quote(dir)}`, { tensor: name, field: 'weight_map' });
      }
      let file = shards.get(shard);
      if (!file) {
        const shardPath = path.join(dir, shard);
        if (!fs.existsSync(shardPath)) {
          throw new SafetensorsError(indexPath, `weight_map shard ${quote(shard)} is missing`, { tensor: name, field: 'weight_map' });
        }
        file = openSafetensors(shardPath);
        shards.set(shard, file);
      }
      const entry = file.tensors.get(name);
      if (!entry) {
        throw new SafetensorsError(indexPath, `weight_map lists it in ${quote(shard)} but that shard does not hold it`, { tensor: name, field: 'weight_map' });
      }
      tensors.set(name, { ...entry, file });
    }
  } catch (e) {
    close();
    throw e;
  }
  return {
    metadata: index.metadata ?? {},
    tensors,
    read(name) {
      const e = tensors.get(name);
      if (!e) throw new SafetensorsError(indexPath, 'no such tensor', { tensor: name });
      return e.file.read(name);
    },
    close,
  };
}
