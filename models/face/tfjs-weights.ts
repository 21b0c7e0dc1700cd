/**
 * TensorFlow.js compatibility for the face-api ports (expression-net.ts, tiny-face-detector.ts):
 *
 * 1. a reader for tfjs weight manifests (`<model>-weights_manifest.json` + `.bin` shards), with
 *    tfjs' dequantisation of uint8/uint16 weights (`v * scale + min`, stored as float32) and
 *    float16 weights;
 * 2. face-api's input pipeline for an image: pad to a square with zeros (at the end, or centred
 *    as face-api's `padToSquare(img, isCenter)` splits it) and `tf.image.resizeBilinear(x, [n, n],
 *    alignCorners=false, halfPixelCenters=false)`, i.e. TF1's legacy sampling `src = dst * in/out`
 *    (NOT PyTorch's half-pixel centres), computed in float32 as tfjs' wasm/XNNPACK kernel does;
 * 3. TF "same" padding amounts and a 2x2 "same" max pool on NCHW tensors.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { getFloat16 } from '@petamoriken/float16';
import type { Tensor } from '../../dsl/tensor';

// ------------------------------------------------------------------ weight manifests

export interface TfjsQuantization {
  readonly dtype: 'uint8' | 'uint16' | 'float16';
  readonly scale?: number;
  readonly min?: number;
}
export interface TfjsWeightEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32' | 'bool';
  readonly quantization?: TfjsQuantization;
}
export interface TfjsWeightGroup {
  readonly paths: readonly string[];
  readonly weights: readonly TfjsWeightEntry[];
}
export interface TfjsWeight {
  /** tfjs layout (conv filters HWIO, depthwise [kh, kw, C, 1], dense [in, out]) */
  readonly shape: number[];
  readonly data: Float32Array;
}
export type TfjsWeights = Map<string, TfjsWeight>;

const BYTES = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 } as const;

/** Decodes the weights of a manifest from its shards' bytes (per group, the shards concatenated in order). */
export function decodeTfjsWeights(manifest: readonly TfjsWeightGroup[], shardsOf: (group: TfjsWeightGroup) => Uint8Array[]): TfjsWeights {
  const out: TfjsWeights = new Map();
  for (const group of manifest) {
    const shards = shardsOf(group);
    const total = shards.reduce((s, b) => s + b.byteLength, 0);
    const buf = new Uint8Array(total);
    let at = 0;
    for (const s of shards) {
      buf.set(s, at);
      at += s.byteLength;
    }
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let off = 0;
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      const kind = q ? q.dtype : w.dtype;
      if (!(kind in BYTES)) throw new Error(`tfjs weights: '${w.name}' has unsupported dtype ${kind}`);
      const bytes = n * BYTES[kind as keyof typeof BYTES];
      if (off + bytes > total) throw new Error(`tfjs weights: '${w.name}' (${kind}[${w.shape.join(', ')}]) runs past the end of its shards (${total} bytes)`);
      if (out.has(w.name)) throw new Error(`tfjs weights: '${w.name}' appears twice`);
      const data = new Float32Array(n); // float32 store: tfjs keeps dequantised weights in a Float32Array
      for (let i = 0; i < n; i++) {
        const p = off + i * BYTES[kind as keyof typeof BYTES];
        switch (kind) {
          case 'uint8':
            data[i] = view.getUint8(p) * q!.scale! + q!.min!;
            break;
          case 'uint16':
            data[i] = view.getUint16(p, true) * q!.scale! + q!.min!;
            break;
          case 'float16':
            data[i] = getFloat16(view, p, true);
            break;
          case 'float32':
            data[i] = view.getFloat32(p, true);
            break;
          case 'int32':
            data[i] = view.getInt32(p, true);
            break;
          case 'bool':
            data[i] = view.getUint8(p) ? 1 : 0;
            break;
        }
      }
      out.set(w.name, { shape: [...w.shape], data });
      off += bytes;
    }
    if (off !== total) throw new Error(`tfjs weights: group ${group.paths.join(', ')} holds ${total} bytes, its manifest describes ${off}`);
  }
  return out;
}

/** Reads `<dir>/<model>-weights_manifest.json` (or any manifest path) and its shards from disk. */
export function loadTfjsWeights(manifestPath: string): TfjsWeights {
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as TfjsWeightGroup[];
  if (!Array.isArray(manifest)) throw new Error(`${manifestPath}: not a tfjs weights manifest (expected an array of weight groups)`);
  const dir = dirname(manifestPath);
  return decodeTfjsWeights(manifest, (g) => g.paths.map((p) => new Uint8Array(readFileSync(join(dir, p)))));
}

/** The weight `name`, checked against the expected tfjs shape. */
export function tfjsWeight(w: TfjsWeights, name: string, shape: readonly number[]): TfjsWeight {
  const t = w.get(name);
  if (!t) throw new Error(`tfjs weights: missing '${name}' (have ${[...w.keys()].join(', ')})`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) throw new Error(`tfjs weights: '${name}' is [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  return t;
}

/** Transposes a row-major array of `shape` by `perm` (out axis i = in axis perm[i]). */
export function transposeData(data: Float32Array, shape: readonly number[], perm: readonly number[]): { data: Float32Array; shape: number[] } {
  const r = shape.length;
  const oshape = perm.map((p) => shape[p]);
  const istr = new Array<number>(r);
  let s = 1;
  for (let d = r - 1; d >= 0; d--) {
    istr[d] = s;
    s *= shape[d];
  }
  const out = new Float32Array(data.length);
  const idx = new Array<number>(r).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < r; d++) src += idx[d] * istr[perm[d]];
    out[o] = data[src];
    for (let d = r - 1; d >= 0; d--) {
      if (++idx[d] < oshape[d]) break;
      idx[d] = 0;
    }
  }
  return { data: out, shape: oshape };
}

/** A tfjs conv filter [kh, kw, Cin, Cout] (or depthwise [kh, kw, C, 1]) in PyTorch's layout [Cout, Cin, kh, kw] (depthwise: [C, 1, kh, kw]). */
export function convFilterToOIHW(w: TfjsWeight, depthwise = false): { data: Float32Array; shape: number[] } {
  return transposeData(w.data, w.shape, depthwise ? [2, 3, 0, 1] : [3, 2, 0, 1]);
}

// ------------------------------------------------------------------ face-api's input pipeline

/** An 8-bit (or float) RGB image, row-major [h, w, 3]. */
export interface RgbImage {
  readonly data: ArrayLike<number>;
  readonly width: number;
  readonly height: number;
}

/** A rectangle of an image in whole pixels. */
export interface PixelRect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Source taps of one axis of tf.image.resizeBilinear (alignCorners=false, halfPixelCenters=false), in float32. */
export function legacyBilinearTaps(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; w: Float32Array } {
  const f = Math.fround;
  const scale = f(inSize / outSize);
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const src = f(o * scale);
    const a = Math.min(Math.floor(src), inSize - 1);
    i0[o] = a;
    i1[o] = Math.min(a + 1, inSize - 1);
    w[o] = f(src - a);
  }
  return { i0, i1, w };
}

/**
 * face-api's `NetInput.toBatchTensor(size, isCenter)` for one image tensor, optionally cut to
 * `crop` first (face-api's `extractFaceTensors`): the region padded with zeros to a square (the
 * shorter side grows at its end, or with `center` by round(diff / 2) at the end and the rest at
 * the start), then resized to size x size with the legacy bilinear sampling.
 * Returns the float image as planar NCHW [1, 3, size, size] (values 0..255).
 */
export function faceApiInput(img: RgbImage, size: number, center: boolean, crop?: PixelRect): Float32Array {
  const { x: cx, y: cy, width: w, height: h } = crop ?? { x: 0, y: 0, width: img.width, height: img.height };
  if (w <= 0 || h <= 0) throw new Error(`face-api input: empty region ${w}x${h}`);
  if (cx < 0 || cy < 0 || cx + w > img.width || cy + h > img.height || !Number.isInteger(cx + cy + w + h))
    throw new Error(`face-api input: crop [${cx}, ${cy}, ${w}, ${h}] is not a whole-pixel region of the ${img.width}x${img.height} image`);
  if (img.data.length !== img.width * img.height * 3) throw new Error(`face-api input: expected ${img.width * img.height * 3} RGB values for ${img.width}x${img.height}, got ${img.data.length}`);
  const S = Math.max(w, h);
  const diff = S - Math.min(w, h);
  // padToSquare: `append` zeros after the image on the short axis, `prepend` before it
  const append = Math.round(diff * (center ? 0.5 : 1));
  const prepend = diff - append;
  const [offY, offX] = h < w ? [prepend, 0] : [0, prepend];
  const src = img.data;
  const at = (yy: number, xx: number, c: number): number => {
    const y = yy - offY;
    const x = xx - offX;
    return y < 0 || y >= h || x < 0 || x >= w ? 0 : src[((cy + y) * img.width + cx + x) * 3 + c];
  };
  const out = new Float32Array(3 * size * size);
  const plane = size * size;
  if (S === size) {
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) for (let c = 0; c < 3; c++) out[c * plane + y * size + x] = at(y, x, c);
    return out;
  }
  const f = Math.fround;
  const ty = legacyBilinearTaps(S, size);
  const tx = legacyBilinearTaps(S, size);
  for (let y = 0; y < size; y++) {
    const [y0, y1, wy] = [ty.i0[y], ty.i1[y], ty.w[y]];
    for (let x = 0; x < size; x++) {
      const [x0, x1, wx] = [tx.i0[x], tx.i1[x], tx.w[x]];
      for (let c = 0; c < 3; c++) {
        const tl = at(y0, x0, c);
        const tr = at(y0, x1, c);
        const bl = at(y1, x0, c);
        const br = at(y1, x1, c);
        const top = f(tl + f(f(tr - tl) * wx));
        const bottom = f(bl + f(f(br - bl) * wx));
        out[c * plane + y * size + x] = f(top + f(f(bottom - top) * wy));
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------ TF padding and pooling

/** TF "same" padding of one axis: [before, after] (the odd pixel goes after). */
export function samePadding(n: number, k: number, s: number): [number, number] {
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + k - n, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** A stand-in for -infinity in max pooling: below any activation, and finite in WGSL. */
const POOL_FLOOR = -3.0e38;

/**
 * tf.maxPool(x, [2, 2], [s, s], 'same') on NCHW x (s = 1 or 2). TF pads "same" pooling at the
 * end only (here: one cell when the side is odd for s = 2, always for s = 1) and ignores the
 * padded cells. Built as the maximum of four strided slices of x, each padded with a large
 * negative value where its window leaves x: every tap is a view of x used once, so the whole
 * pool fuses into the kernel that consumes it.
 */
export function maxPool2x2Same(x: Tensor, stride: 1 | 2): Tensor {
  const [n, m] = [x.shape[2], x.shape[3]];
  const [on, om] = [Math.ceil(n / stride), Math.ceil(m / stride)];
  const tap = (dy: number, dx: number) => {
    // window offset d along a side of length len with out outputs: indices d, d + s, ... < len
    const axis = (d: number, len: number, out: number): { sl: [number, number, number]; hi: number } => {
      const cnt = Math.max(0, Math.ceil((len - d) / stride));
      return { sl: [d, d + (cnt - 1) * stride + 1, stride], hi: out - cnt };
    };
    const ay = axis(dy, n, on);
    const ax = axis(dx, m, om);
    const t = x.slice([null, null, ay.sl, ax.sl]);
    return ay.hi || ax.hi ? t.pad([[0, 0], [0, 0], [0, ay.hi], [0, ax.hi]], POOL_FLOOR) : t;
  };
  return tap(0, 0).maximum(tap(0, 1)).maximum(tap(1, 0)).maximum(tap(1, 1));
}
