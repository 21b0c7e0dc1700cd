import { describe, expect, it, afterAll } from 'vitest';
import fc from 'fast-check';
import { f16round } from '@petamoriken/float16';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  SafetensorsError,
  openSafetensors,
  openShardedSafetensors,
  parseSafetensors,
  serializeSafetensors,
  writeSafetensorsAtomic,
  type StDType,
  type TensorToWrite,
} from '../runtime/safetensors';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'safetensors-test-'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = () => {
  const d = path.join(tmpRoot, String(dirCount++));
  fs.mkdirSync(d);
  return d;
};

/** A file with a hand-written header (object or raw text) and `data` bytes after it. */
function raw(header: unknown, data: Uint8Array | number = 0): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

function u16s(bytes: Uint8Array): number[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.length / 2 }, (_, i) => v.getUint16(2 * i, true));
}

function errorOf(f: () => unknown): SafetensorsError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsError);
    return e as SafetensorsError;
  }
  throw new Error('expected a SafetensorsError');
}

function roundTrip(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>) {
  return parseSafetensors(serializeSafetensors(tensors, metadata), 'mem');
}

describe('round trip', () => {
  const cases: [StDType, TensorToWrite['data'], ArrayLike<number>, string][] = [
    ['F64', new Float64Array([1.5, -2, 1e300]), [1.5, -2, Infinity], 'Float32Array'],
    ['F32', new Float32Array([1.5, -2, 3.25, -0]), [1.5, -2, 3.25, -0], 'Float32Array'],
    ['F32', [0.1, 7], [Math.fround(0.1), 7], 'Float32Array'],
    ['F16', new Float32Array([1, -2.5, 65504, 0.5]), [1, -2.5, 65504, 0.5], 'Float32Array'],
    ['BF16', new Float32Array([1, -2.5, 3 * 2 ** 100, 0.5]), [1, -2.5, 3 * 2 ** 100, 0.5], 'Float32Array'],
    ['I64', new BigInt64Array([0n, -1n, 2147483647n, -2147483648n]), [0, -1, 2147483647, -2147483648], 'Int32Array'],
    ['I64', [5, -6], [5, -6], 'Int32Array'],
    ['I64', new Int32Array([7, -8]), [7, -8], 'Int32Array'],
    ['I32', new Int32Array([0, -1, 2 ** 31 - 1, -(2 ** 31)]), [0, -1, 2 ** 31 - 1, -(2 ** 31)], 'Int32Array'],
    ['I16', [-32768, 32767], [-32768, 32767], 'Int32Array'],
    ['I8', [-128, 127], [-128, 127], 'Int32Array'],
    ['U8', new Uint8Array([0, 255, 7, 8]), [0, 255, 7, 8], 'Uint8Array'],
    ['U32', new Uint32Array([0, 2 ** 32 - 1]), [0, 2 ** 32 - 1], 'Uint32Array'],
    ['U32', [1, 2], [1, 2], 'Uint32Array'],
    ['BOOL', new Uint8Array([1, 0, 1, 1]), [1, 0, 1, 1], 'Uint8Array'],
  ];

  it.each(cases)('%s from %o', (dtype, data, want, kind) => {
    const shape = data.length === 4 ? [2, 2] : [data.length];
    const f = roundTrip({ t: { dtype, shape, data } });
    expect(f.tensors.get('t')).toMatchObject({ name: 't', dtype, shape, begin: 0 });
    const got = f.read('t');
    expect(got.constructor.name).toBe(kind);
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it.each(['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'U32', 'BOOL'] as StDType[])(
    '%s empty and scalar tensors',
    (dtype) => {
      const f = roundTrip({
        empty: { dtype, shape: [0], data: [] },
        empty3: { dtype, shape: [2, 0, 3], data: [] },
        scalar: { dtype, shape: [], data: [1] },
      });
      expect(f.read('empty').length).toBe(0);
      expect(f.read('empty3').length).toBe(0);
      expect(f.tensors.get('scalar')!.shape).toEqual([]);
      expect(Array.from(f.read('scalar'))).toEqual([1]);
    },
  );

  it('lays out sorted names, keeps metadata, pads the header with spaces to 8 bytes', () => {
    const bytes = serializeSafetensors(
      {
        b: { dtype: 'F32', shape: [1], data: [2] },
        '10': { dtype: 'U8', shape: [3], data: [1, 2, 3] },
        a: { dtype: 'I32', shape: [2], data: [3, 4] },
      },
      { format: 'pt', note: 'x' },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(header).toMatch(/^\{.*\} *$/);
    expect(header.indexOf('"10"')).toBeLessThan(header.indexOf('"a"'));
    expect(header.indexOf('"a"')).toBeLessThan(header.indexOf('"b"'));
    const f = parseSafetensors(bytes, 'mem');
    expect(f.metadata).toEqual({ format: 'pt', note: 'x' });
    expect([...f.tensors.values()].map((e) => [e.name, e.begin, e.end])).toEqual([
      ['10', 0, 3],
      ['a', 3, 11],
      ['b', 11, 15],
    ]);
    expect(bytes.length).toBe(8 + n + 15);
  });

  it('writes full-range I64 and converts bigint data to floats', () => {
    const f = roundTrip({
      big: { dtype: 'I64', shape: [3], data: [2 ** 62, -(2 ** 63), 1 - 2 ** 53] },
      fromBig: { dtype: 'F32', shape: [2], data: new BigInt64Array([3n, -(2n ** 40n)]) },
    });
    const b = f.readBytes('big');
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    expect([0, 1, 2].map((i) => v.getBigInt64(8 * i, true))).toEqual([2n ** 62n, -(2n ** 63n), 1n - 2n ** 53n]);
    expect(Array.from(f.read('fromBig'))).toEqual([3, -(2 ** 40)]);
  });

  it('reads BOOL bytes as 0/1, I64 beyond int32 fails naming the tensor', () => {
    const data = new Uint8Array(16);
    data.set([0, 2, 255, 1]);
    new DataView(data.buffer).setBigInt64(8, 2n ** 31n, true);
    const f = parseSafetensors(
      raw({ m: { dtype: 'BOOL', shape: [4], data_offsets: [0, 4] }, big: { dtype: 'I64', shape: [1], data_offsets: [8, 16] } }, data),
      'x.safetensors',
    );
    expect(Array.from(f.read('m'))).toEqual([0, 1, 1, 1]);
    const e = errorOf(() => f.read('big'));
    expect(e.message).toBe("x.safetensors: tensor 'big': I64 value 2147483648 at index 0 is outside the int32 range");
    expect(e.tensor).toBe('big');
  });

  it('rejects data that cannot be written, naming the tensor', () => {
    const bad: [TensorToWrite, RegExp][] = [
      [{ dtype: 'I32', shape: [2], data: [1, 1.5] }, /tensor 't': data\[1\] = 1.5 does not fit I32/],
      [{ dtype: 'U8', shape: [1], data: [256] }, /data\[0\] = 256 does not fit U8/],
      [{ dtype: 'I64', shape: [1], data: [2 ** 63] }, /does not fit I64/],
      [{ dtype: 'BOOL', shape: [1], data: [2] }, /does not fit BOOL/],
      [{ dtype: 'U32', shape: [1], data: [-1] }, /does not fit U32/],
      [{ dtype: 'F32', shape: [3], data: [1, 2] }, /data has 2 elements but shape \[3\] needs 3/],
      [{ dtype: 'F32', shape: [-1], data: [] }, /shape \[-1\] is not an array of non-negative integers/],
      [{ dtype: 'X' as StDType, shape: [], data: [1] }, /dtype "X" is unknown/],
    ];
    for (const [t, re] of bad) {
      const e = errorOf(() => serializeSafetensors({ t }));
      expect(e.message).toMatch(re);
      expect(e.tensor).toBe('t');
    }
    expect(errorOf(() => serializeSafetensors({ __metadata__: { dtype: 'U8', shape: [], data: [1] } })).message).toMatch(
      /reserved/,
    );
    expect(errorOf(() => serializeSafetensors({}, { a: 1 as unknown as string })).message).toMatch(
      /__metadata__ value of 'a' is 1, not a string/,
    );
  });
});

describe('F16 / BF16 conversion', () => {
  const f16Cases: [number, number][] = [
    [1, 0x3c00],
    [-2.5, 0xc100],
    [65504, 0x7bff],
    [65519.99, 0x7bff],
    [65520, 0x7c00], // the tie above the largest finite rounds to even, i.e. to infinity
    [1e6, 0x7c00],
    [-Infinity, 0xfc00],
    [NaN, 0x7e00],
    [0, 0x0000],
    [-0, 0x8000],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // tie between 0 and 2^-24 -> even (0)
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 ulps -> even (2)
    [2 ** -14 - 2 ** -25, 0x0400], // tie between largest subnormal 0x3ff and 0x400 -> 0x400
    [1 + 2 ** -11, 0x3c00], // tie -> even mantissa 0
    [1 + 3 * 2 ** -11, 0x3c02], // tie -> even mantissa 2
    [1 + 2 ** -11 + 2 ** -30, 0x3c01], // just above the tie
    [(1 + 2 ** -10 + 2 ** -11) * 4, 0x4402], // tie between mantissa 1 and 2 -> 2
    [2 ** -40, 0x0000], // far below the smallest subnormal
  ];

  it.each(f16Cases)('F16(%s) = %i', (x, bits) => {
    for (const data of [new Float64Array([x]), [x]]) {
      const f = roundTrip({ t: { dtype: 'F16', shape: [], data } });
      expect(u16s(f.readBytes('t'))).toEqual([bits]);
      const back = f.read('t')[0]!;
      if (Number.isNaN(x)) expect(back).toBeNaN();
      else expect(Object.is(back, f16round(x))).toBe(true);
    }
  });

  const bf16Cases: [number, number][] = [
    [1, 0x3f80],
    [-2.5, 0xc020],
    [NaN, 0x7fc0],
    [-0, 0x8000],
    [Infinity, 0x7f80],
    [1 + 2 ** -8, 0x3f80], // tie -> even
    [1 + 3 * 2 ** -8, 0x3f82], // tie -> even
    [1 + 2 ** -8 + 2 ** -20, 0x3f81],
    [2 ** -133, 0x0001], // smallest subnormal
    [2 ** -134, 0x0000], // tie -> 0
    [3 * 2 ** -134, 0x0002], // tie -> 2
    [2 ** -126, 0x0080],
    [(2 - 2 ** -7) * 2 ** 127, 0x7f7f], // largest finite
    [(2 - 2 ** -8) * 2 ** 127, 0x7f80], // tie above it -> infinity
    [3.4028234663852886e38, 0x7f80], // float32 max rounds up to infinity
    [65504, 0x4780],
  ];
  it.each(bf16Cases)('BF16(%s) = %i', (x, bits) => {
    const f = roundTrip({ t: { dtype: 'BF16', shape: [1], data: new Float64Array([x]) } });
    expect(u16s(f.readBytes('t'))).toEqual([bits]);
  });

  it('F16 encoding agrees with @petamoriken/float16 on any double, and decoding is exact', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.double(), fc.double({ min: -70000, max: 70000 }), fc.double({ min: -1e-4, max: 1e-4 }))), (xs) => {
        const got = roundTrip({ t: { dtype: 'F16', shape: [xs.length], data: xs } }).read('t');
        return xs.every((x, i) => Object.is(got[i], Number.isNaN(x) ? NaN : f16round(x)));
      }),
      { numRuns: 300 },
    );
  });

  it('BF16 encoding of float32 agrees with the usual rounding-bias bit trick', () => {
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    const trick = (x: number) => {
      f32[0] = x;
      const b = u32[0]!;
      if (Number.isNaN(x)) return 0x7fc0;
      return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
    };
    fc.assert(
      fc.property(fc.array(fc.float()), (xs) => {
        const data = new Float32Array(xs);
        const bytes = roundTrip({ t: { dtype: 'BF16', shape: [xs.length], data } }).readBytes('t');
        const got = u16s(bytes);
        return xs.every((x, i) => got[i] === trick(x));
      }),
      { numRuns: 300 },
    );
  });

  it('reads F16 subnormals, infinities and BF16 bit patterns exactly', () => {
    const data = new Uint8Array(12);
    const v = new DataView(data.buffer);
    [0x0001, 0x03ff, 0xfc00, 0x7bff].forEach((b, i) => v.setUint16(2 * i, b, true));
    [0x3f80, 0xc020].forEach((b, i) => v.setUint16(8 + 2 * i, b, true));
    const f = parseSafetensors(
      raw({ h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] }, b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] } }, data),
      'm',
    );
    expect(Array.from(f.read('h'))).toEqual([2 ** -24, 1023 * 2 ** -24, -Infinity, 65504]);
    expect(Array.from(f.read('b'))).toEqual([1, -2.5]);
  });
});

describe('validation', () => {
  const ok = { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] };
  const cases: [string, Uint8Array, RegExp, { tensor?: string; field?: string }][] = [
    ['short file', new Uint8Array(5), /^f\.st: header length: file is 5 bytes, shorter than the 8-byte header length$/, { field: 'header length' }],
    ['empty file', new Uint8Array(0), /file is 0 bytes/, { field: 'header length' }],
    [
      'absurd header length',
      (() => {
        const b = new Uint8Array(64);
        new DataView(b.buffer).setBigUint64(0, 2n ** 62n, true);
        return b;
      })(),
      /header length 4611686018427387904 exceeds the 100000000-byte limit/,
      { field: 'header length' },
    ],
    [
      'header length beyond the file',
      (() => {
        const b = raw({});
        new DataView(b.buffer).setBigUint64(0, 100n, true);
        return b;
      })(),
      /header length 100 exceeds the file size 10/,
      { field: 'header length' },
    ],
    ['not JSON', raw('{"a": '), /^f\.st: header is not valid UTF-8 JSON/, { field: 'header' }],
    ['empty header', raw(''), /header is not valid UTF-8 JSON/, { field: 'header' }],
    ['array header', raw([]), /^f\.st: header is not a JSON object$/, { field: 'header' }],
    ['null header', raw('null'), /header is not a JSON object/, { field: 'header' }],
    ['entry not object', raw({ w: 3 }), /^f\.st: tensor 'w': entry is 3, not an object$/, { tensor: 'w' }],
    ['entry null', raw({ w: null }), /tensor 'w': entry is null/, { tensor: 'w' }],
    ['unknown dtype', raw({ w: { ...ok, dtype: 'F8' } }, 24), /^f\.st: tensor 'w': dtype "F8" is unknown$/, { tensor: 'w', field: 'dtype' }],
    ['dtype from the prototype', raw({ w: { ...ok, dtype: 'toString' } }, 24), /dtype "toString" is unknown/, { tensor: 'w', field: 'dtype' }],
    ['missing dtype', raw({ w: { shape: [1], data_offsets: [0, 4] } }, 4), /dtype undefined is unknown/, { tensor: 'w', field: 'dtype' }],
    ['shape not array', raw({ w: { ...ok, shape: 6 } }, 24), /tensor 'w': shape 6 is not an array of non-negative integers/, { tensor: 'w', field: 'shape' }],
    ['negative dim', raw({ w: { ...ok, shape: [-2, -3] } }, 24), /shape \[-2,-3\] is not an array/, { tensor: 'w', field: 'shape' }],
    ['fractional dim', raw({ w: { ...ok, shape: [2.5] } }, 24), /shape \[2\.5\] is not an array/, { tensor: 'w', field: 'shape' }],
    ['unsafe dim', raw('{"w": {"dtype": "U8", "shape": [1e20], "data_offsets": [0, 1]}}', 1), /shape \[100000000000000000000\] is not an array/, { tensor: 'w', field: 'shape' }],
    ['string dim', raw({ w: { ...ok, shape: ['2'] } }, 24), /shape \["2"\] is not an array/, { tensor: 'w', field: 'shape' }],
    ['numel overflow', raw({ w: { ...ok, shape: [2 ** 30, 2 ** 30, 2 ** 30] } }, 24), /shape \[1073741824,1073741824,1073741824\] has too many elements/, { tensor: 'w', field: 'shape' }],
    ['bytes overflow', raw({ w: { ...ok, dtype: 'F64', shape: [2 ** 51] } }, 24), /has too many elements/, { tensor: 'w', field: 'shape' }],
    ['offsets missing', raw({ w: { dtype: 'F32', shape: [1] } }, 4), /tensor 'w': data_offsets undefined are not two integers \[begin, end\] with begin <= end/, { tensor: 'w', field: 'data_offsets' }],
    ['offsets three', raw({ w: { ...ok, data_offsets: [0, 24, 48] } }, 48), /data_offsets \[0,24,48\] are not two integers/, { tensor: 'w', field: 'data_offsets' }],
    ['offsets reversed', raw({ w: { ...ok, data_offsets: [24, 0] } }, 24), /data_offsets \[24,0\] are not two integers/, { tensor: 'w', field: 'data_offsets' }],
    ['offsets negative', raw({ w: { ...ok, data_offsets: [-24, 0] } }, 24), /data_offsets \[-24,0\] are not/, { tensor: 'w', field: 'data_offsets' }],
    ['offsets fractional', raw({ w: { ...ok, data_offsets: [0.5, 24.5] } }, 25), /data_offsets \[0\.5,24\.5\] are not/, { tensor: 'w', field: 'data_offsets' }],
    [
      'size mismatch',
      raw({ 'encoder.w': { ...ok, data_offsets: [0, 12] } }, 24),
      /^f\.st: tensor 'encoder\.w': data_offsets \[0, 12\] hold 12 bytes but F32 \[2, 3\] needs 24$/,
      { tensor: 'encoder.w', field: 'data_offsets' },
    ],
    ['beyond data', raw({ w: { ...ok, data_offsets: [8, 32] } }, 24), /tensor 'w': data_offsets \[8, 32\] go beyond the data section of 24 bytes/, { tensor: 'w', field: 'data_offsets' }],
    [
      'overlap',
      raw({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [2, 6] } }, 8),
      /tensor 'b': data_offsets \[2, 6\] overlap tensor 'a' at \[0, 4\]/,
      { tensor: 'b', field: 'data_offsets' },
    ],
    ['metadata not object', raw({ __metadata__: [] }), /^f\.st: __metadata__ is not an object$/, { field: '__metadata__' }],
    ['metadata value not string', raw({ __metadata__: { a: 'x', n: 3 } }), /__metadata__ value of 'n' is 3, not a string/, { field: '__metadata__' }],
  ];

  it.each(cases)('%s', (_, bytes, re, where) => {
    const e = errorOf(() => parseSafetensors(bytes, 'f.st'));
    expect(e.message).toMatch(re);
    expect(e.message).not.toContain('\n');
    expect(e.file).toBe('f.st');
    expect(e.tensor).toBe(where.tensor);
    if (where.field) expect(e.field).toBe(where.field);
  });

  it('invalid UTF-8 is reported as such', () => {
    const bytes = raw('{"w": "x"}');
    bytes[8 + 7] = 0xff;
    expect(errorOf(() => parseSafetensors(bytes, 'f.st')).message).toMatch(/^f\.st: header is not valid UTF-8 JSON/);
  });

  it('allows gaps, adjacent and empty ranges, null metadata, trailing spaces', () => {
    const f = parseSafetensors(
      raw(
        JSON.stringify({
          __metadata__: null,
          a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] },
          b: { dtype: 'U8', shape: [2], data_offsets: [4, 6] },
          c: { dtype: 'U8', shape: [2], data_offsets: [6, 8] },
          e: { dtype: 'U8', shape: [0], data_offsets: [1, 1] },
        }) + '    ',
        new Uint8Array([1, 2, 0, 0, 3, 4, 5, 6]),
      ),
      'm',
    );
    expect(f.metadata).toEqual({});
    expect(Array.from(f.read('b'))).toEqual([3, 4]);
    expect(Array.from(f.read('c'))).toEqual([5, 6]);
    expect(f.read('e').length).toBe(0);
  });

  it('keeps hostile names on one line and unknown names are errors', () => {
    const f = parseSafetensors(raw({ 'a\nb': { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, 1), 'm');
    const e = errorOf(() => f.read('nope\n'));
    expect(e.message).toBe("m: tensor 'nope\\u000a': no such tensor");
    expect(Array.from(f.read('a\nb'))).toEqual([0]);
    f.close();
    expect(errorOf(() => f.read('a\nb')).message).toMatch(/file is closed/);
  });
});

describe('files on disk', () => {
  it('opens lazily, reads on demand, validates up front', () => {
    const dir = freshDir();
    const p = path.join(dir, 'w.safetensors');
    writeSafetensorsAtomic(p, { x: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }, y: { dtype: 'I64', shape: [1], data: [9] } }, { k: 'v' });
    const f = openSafetensors(p);
    expect(f.path).toBe(p);
    expect(f.metadata).toEqual({ k: 'v' });
    expect(Array.from(f.read('x'))).toEqual([1, 2, 3, 4]);
    expect(Array.from(f.read('y'))).toEqual([9]);
    f.close();
    expect(errorOf(() => f.read('x')).message).toMatch(/closed/);

    fs.writeFileSync(path.join(dir, 'short'), new Uint8Array(3));
    expect(errorOf(() => openSafetensors(path.join(dir, 'short'))).message).toMatch(/short: header length: file is 3 bytes/);
    fs.writeFileSync(path.join(dir, 'bad'), raw({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] } }, 20));
    expect(errorOf(() => openSafetensors(path.join(dir, 'bad'))).message).toMatch(/bad: tensor 'w': data_offsets \[0, 24\] go beyond the data section of 20 bytes/);
    expect(errorOf(() => openSafetensors(path.join(dir, 'missing'))).message).toMatch(/missing: cannot open/);
  });

  it('atomic write replaces the file and leaves no temp file', () => {
    const dir = freshDir();
    const p = path.join(dir, 'ckpt.safetensors');
    writeSafetensorsAtomic(p, { a: { dtype: 'U8', shape: [1], data: [1] } });
    writeSafetensorsAtomic(p, { a: { dtype: 'U8', shape: [1], data: [2] } });
    expect(fs.readdirSync(dir)).toEqual(['ckpt.safetensors']);
    expect(Array.from(openSafetensors(p).read('a'))).toEqual([2]);
  });

  it('a failing write leaves the old file intact and no temp file', () => {
    const dir = freshDir();
    const p = path.join(dir, 'ckpt.safetensors');
    writeSafetensorsAtomic(p, { a: { dtype: 'F16', shape: [1], data: [1] } });
    const before = fs.readFileSync(p);
    const e = errorOf(() =>
      writeSafetensorsAtomic(p, { a: { dtype: 'F16', shape: [1], data: [5] }, b: { dtype: 'I32', shape: [1], data: [0.5] } }),
    );
    expect(e.file).toBe(p);
    expect(e.tensor).toBe('b');
    expect(fs.readFileSync(p)).toEqual(before);
    expect(fs.readdirSync(dir)).toEqual(['ckpt.safetensors']);
  });

  it('a failing rename removes the fully written temp file', () => {
    const dir = freshDir();
    const target = path.join(dir, 'occupied');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'keep'), 'x');
    expect(() => writeSafetensorsAtomic(target, { a: { dtype: 'U8', shape: [1], data: [1] } })).toThrow();
    expect(fs.readdirSync(dir)).toEqual(['occupied']);
    expect(fs.readdirSync(target)).toEqual(['keep']);
    expect(() => writeSafetensorsAtomic(path.join(dir, 'no-such-dir', 'x'), {})).toThrow();
    expect(fs.readdirSync(dir)).toEqual(['occupied']);
  });
});

describe('sharded checkpoints', () => {
  function twoShards() {
    const dir = freshDir();
    writeSafetensorsAtomic(path.join(dir, 'model-00001-of-00002.safetensors'), {
      'embed.weight': { dtype: 'BF16', shape: [2], data: [1, 2] },
      'layer.0.w': { dtype: 'F32', shape: [1], data: [3] },
    });
    writeSafetensorsAtomic(path.join(dir, 'model-00002-of-00002.safetensors'), {
      'layer.1.w': { dtype: 'F16', shape: [1], data: [4] },
      'extra': { dtype: 'F16', shape: [1], data: [5] },
    });
    const index = {
      metadata: { total_size: 10 },
      weight_map: {
        'embed.weight': 'model-00001-of-00002.safetensors',
        'layer.0.w': 'model-00001-of-00002.safetensors',
        'layer.1.w': 'model-00002-of-00002.safetensors',
      },
    };
    const indexPath = path.join(dir, 'model.safetensors.index.json');
    const writeIndex = (v: unknown) => fs.writeFileSync(indexPath, typeof v === 'string' ? v : JSON.stringify(v));
    writeIndex(index);
    return { dir, index, indexPath, writeIndex };
  }

  it('reads tensors across two shards', () => {
    const { indexPath } = twoShards();
    const s = openShardedSafetensors(indexPath);
    expect([...s.tensors.keys()].sort()).toEqual(['embed.weight', 'layer.0.w', 'layer.1.w']);
    expect(s.metadata).toEqual({ total_size: 10 });
    expect(Array.from(s.read('embed.weight'))).toEqual([1, 2]);
    expect(Array.from(s.read('layer.0.w'))).toEqual([3]);
    expect(Array.from(s.read('layer.1.w'))).toEqual([4]);
    expect(s.tensors.get('layer.1.w')).toMatchObject({ dtype: 'F16', shape: [1] });
    expect(s.tensors.get('layer.1.w')!.file.path).toMatch(/model-00002-of-00002\.safetensors$/);
    expect(errorOf(() => s.read('extra')).message).toMatch(/tensor 'extra': no such tensor/);
    s.close();
  });

  it('reports missing shards, names absent from their shard, and malformed indexes', () => {
    const { dir, index, indexPath, writeIndex } = twoShards();
    writeIndex({ ...index, weight_map: { ...index.weight_map, 'lm_head.weight': 'model-00003-of-00003.safetensors' } });
    let e = errorOf(() => openShardedSafetensors(indexPath));
    expect(e.message).toBe(`${indexPath}: tensor 'lm_head.weight': weight_map shard 'model-00003-of-00003.safetensors' is missing`);

    writeIndex({ ...index, weight_map: { ...index.weight_map, 'lm_head.weight': 'model-00002-of-00002.safetensors' } });
    e = errorOf(() => openShardedSafetensors(indexPath));
    expect(e.message).toMatch(/tensor 'lm_head\.weight': weight_map lists it in 'model-00002-of-00002\.safetensors' but that shard does not hold it/);
    expect(e.file).toBe(indexPath);

    writeIndex({ weight_map: { a: 3 } });
    e = errorOf(() => openShardedSafetensors(indexPath));
    expect(e.message).toBe(`${indexPath}: weight_map.a is 3, expected string`);
    expect(e.field).toBe('weight_map.a');

    writeIndex({ weight_map: {}, metadata: [1] });
    expect(errorOf(() => openShardedSafetensors(indexPath)).message).toMatch(/: metadata is \[1\], expected \(UnknownRecord \| null \| undefined\)$/);

    writeIndex({ metadata: {} });
    expect(errorOf(() => openShardedSafetensors(indexPath)).message).toMatch(/: weight_map is undefined, expected/);

    writeIndex('{');
    expect(errorOf(() => openShardedSafetensors(indexPath)).message).toMatch(/index is not readable JSON/);

    writeIndex({ weight_map: { a: '../elsewhere.safetensors' } });
    expect(errorOf(() => openShardedSafetensors(indexPath)).message).toMatch(/is not a file name inside/);

    fs.writeFileSync(path.join(dir, 'model-00002-of-00002.safetensors'), new Uint8Array(4));
    writeIndex(index);
    expect(errorOf(() => openShardedSafetensors(indexPath)).message).toMatch(/model-00002-of-00002\.safetensors: header length: file is 4 bytes/);
  });
});

describe('fuzz: parseSafetensors only ever throws SafetensorsError', () => {
  const valid = serializeSafetensors(
    {
      a: { dtype: 'F32', shape: [2, 2], data: [1, 2, 3, 4] },
      b: { dtype: 'F16', shape: [3], data: [1, 2, 3] },
      c: { dtype: 'I64', shape: [2], data: [5, -6] },
      d: { dtype: 'BOOL', shape: [], data: [1] },
      e: { dtype: 'BF16', shape: [0], data: [] },
      f: { dtype: 'U32', shape: [1], data: [7] },
    },
    { format: 'pt' },
  );

  const attempt = (bytes: Uint8Array) => {
    try {
      const f = parseSafetensors(bytes, 'fuzz');
      for (const name of f.tensors.keys()) f.read(name);
    } catch (e) {
      if (!(e instanceof SafetensorsError)) throw e;
      expect(e.message).toMatch(/^fuzz: /);
    }
    return true;
  };

  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), attempt), { numRuns: 2000 });
  });

  it('random single-byte mutations and truncations of a valid file', () => {
    const mutation = fc.oneof(
      fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
        const out = valid.slice();
        out[i] = b;
        return out;
      }),
      fc.nat(valid.length).map((n) => valid.slice(0, n)),
      fc.tuple(fc.nat(valid.length - 1), fc.constantFrom(0x7b, 0x7d, 0x22, 0x2c, 0x3a, 0x5b, 0x5d, 0x30, 0x39, 0x2d, 0x20)).map(([i, b]) => {
        const out = valid.slice();
        out[i] = b;
        return out;
      }),
    );
    fc.assert(fc.property(mutation, attempt), { numRuns: 2000 });
  });

  it('random JSON headers', () => {
    const entry = fc.record(
      {
        dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F64'), fc.jsonValue()),
        shape: fc.oneof(fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 3 }), fc.jsonValue()),
        data_offsets: fc.oneof(fc.tuple(fc.integer({ min: -1, max: 40 }), fc.integer({ min: -1, max: 40 })), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    const header = fc.dictionary(fc.oneof(fc.string(), fc.constant('__metadata__')), fc.oneof(entry, fc.jsonValue()), { maxKeys: 4 });
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 40 }), (h, data) => attempt(raw(h, data))),
      { numRuns: 2000 },
    );
  });
});
