/**
 * face-api's expression net and tiny face detector on our kernels (models/face/expression-net.ts,
 * tiny-face-detector.ts) with the package's own weights (data/fixtures/face-api/model), against
 * the ORIGINAL @vladmandic/face-api 1.7.15 on tfjs' wasm backend: committed goldens
 * test/goldens/face-api/*.json made by scripts/goldens/make_faceapi_golden.mjs on the demo photos
 * in data/fixtures/face-api/images (decoded with sharp on both sides).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { BACKEND } from './helpers/check';
import { GOLDENS } from './helpers/goldens';
import { FACE_API_MODEL_DIR, FACE_EXPRESSION_LABELS, loadExpressionNet } from '../models/face/expression-net';
import { decodeTinyFaceGrid, faceCrop, loadTinyFaceDetector, nonMaxSuppression } from '../models/face/tiny-face-detector';
import { decodeTfjsWeights, faceApiInput, legacyBilinearTaps, loadTfjsWeights, samePadding } from '../models/face/tfjs-weights';

const ROOT = join(__dirname, '..');
const DIR = join(GOLDENS, 'face-api');
const TOL = 1e-3;
const PHOTOS = ['sample1', 'sample4', 'sample5'];

interface GoldenFace {
  score: number;
  box: number[];
  crop: number[];
  expressions: number[];
}
interface GoldenPhoto {
  image: string;
  width: number;
  height: number;
  runs: { inputSize: number; scoreThreshold: number; faces: GoldenFace[] }[];
}
const golden = <T>(name: string): T => JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as T;
const b64f32 = (s: string) => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

const images = new Map<string, Promise<{ data: Uint8Array; width: number; height: number }>>();
function photo(file: string) {
  let p = images.get(file);
  if (!p) {
    p = sharp(join(ROOT, file))
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true })
      .then(({ data, info }) => ({ data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height }));
    images.set(file, p);
  }
  return p;
}

function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  return (w * h) / (a[2] * a[3] + b[2] * b[3] - w * h);
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

const report: string[] = [];

describe('tfjs weights and face-api preprocessing', () => {
  it('reads both manifests, dequantising uint8 as v * scale + min', () => {
    const e = loadTfjsWeights(join(FACE_API_MODEL_DIR, 'face_expression_model-weights_manifest.json'));
    const d = loadTfjsWeights(join(FACE_API_MODEL_DIR, 'tiny_face_detector_model-weights_manifest.json'));
    expect(e.size).toBe(49);
    expect(d.size).toBe(19);
    expect(e.get('fc/weights')!.shape).toEqual([256, 7]);
    // the first uint8 of the shard, dequantised
    const manifest = JSON.parse(readFileSync(join(FACE_API_MODEL_DIR, 'tiny_face_detector_model-weights_manifest.json'), 'utf8'));
    const q = manifest[0].weights[0].quantization;
    const byte = readFileSync(join(FACE_API_MODEL_DIR, 'tiny_face_detector_model.bin'))[0];
    expect(d.get('conv0/filters')!.data[0]).toBe(Math.fround(byte * q.scale + q.min));
    // other encodings, and a manifest that does not fit its shards
    const f32 = new Uint8Array(new Float32Array([1.5, -2]).buffer);
    const u16 = new Uint8Array(new Uint16Array([0, 1000]).buffer);
    const w = decodeTfjsWeights(
      [{ paths: ['a'], weights: [{ name: 'f', shape: [2], dtype: 'float32' }, { name: 'q', shape: [2], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.5, min: -1 } }] }],
      () => [f32, u16],
    );
    expect([...w.get('f')!.data]).toEqual([1.5, -2]);
    expect([...w.get('q')!.data]).toEqual([-1, 499]);
    expect(() => decodeTfjsWeights([{ paths: ['a'], weights: [{ name: 'f', shape: [3], dtype: 'float32' }] }], () => [f32])).toThrow(/runs past the end/);
  });

  it('TF same padding, legacy bilinear taps, pad-to-square', () => {
    expect(samePadding(112, 3, 2)).toEqual([0, 1]); // TF pads the odd pixel at the end
    expect(samePadding(56, 3, 1)).toEqual([1, 1]);
    expect(samePadding(207, 2, 2)).toEqual([0, 1]);
    // tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false): src = dst * in / out
    const t = legacyBilinearTaps(4, 3);
    expect([...t.i0]).toEqual([0, 1, 2]);
    expect([...t.i1]).toEqual([1, 2, 3]);
    expect([...t.w].map((v) => +v.toFixed(5))).toEqual([0, 0.33333, 0.66667]);
    // a 1x3 image centred in a 3x3 square: one zero row after it (round(2 / 2) = 1) and one before
    const img = { data: [10, 10, 10, 20, 20, 20, 30, 30, 30], width: 3, height: 1 };
    expect([...faceApiInput(img, 3, true).slice(0, 9)]).toEqual([0, 0, 0, 10, 20, 30, 0, 0, 0]);
    // not centred: the zeros go after the image (bottom)
    expect([...faceApiInput(img, 3, false).slice(0, 9)]).toEqual([10, 20, 30, 0, 0, 0, 0, 0, 0]);
  });
});

describe('face-api expression net (7 classes) vs @vladmandic/face-api', () => {
  const net = loadExpressionNet({ backend: BACKEND });

  it('fixed inputs: 112x112, and 90x130 (pad to square + resize)', async () => {
    const g = golden<{ cases: { height: number; width: number; probabilities: number[]; pixels: string }[] }>('expression-fixed');
    for (const c of g.cases) {
      const px = new Uint8Array(Buffer.from(c.pixels, 'base64'));
      const e = await net.predictExpressions(px, c.width, c.height);
      const got = FACE_EXPRESSION_LABELS.map((l) => e[l]);
      const d = maxDiff(got, c.probabilities);
      report.push(`fixed ${c.height}x${c.width}: ${d.toExponential(1)}`);
      expect(d, `${c.height}x${c.width}`).toBeLessThan(TOL);
      expect(got.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
  }, 60_000);

  it('the face crops face-api takes from its detections', async () => {
    let worst = 0;
    let n = 0;
    for (const name of PHOTOS) {
      const g = golden<GoldenPhoto>(name);
      const img = await photo(g.image);
      for (const f of g.runs[0].faces) {
        const [x, y, width, height] = f.crop;
        // the crop rule (clip at the borders, floor) gives face-api's crop from face-api's box
        expect(Object.values(faceCrop(f.box, img.width, img.height))).toEqual(f.crop);
        const e = await net.predictExpressions(img.data, img.width, img.height, { x, y, width, height });
        const d = maxDiff(
          FACE_EXPRESSION_LABELS.map((l) => e[l]),
          f.expressions,
        );
        worst = Math.max(worst, d);
        n++;
        expect(d, `${name} face at ${f.crop}`).toBeLessThan(TOL);
      }
    }
    report.push(`${n} face crops: ${worst.toExponential(1)}`);
  }, 60_000);
});

describe('face-api tiny face detector vs @vladmandic/face-api', () => {
  const det = loadTinyFaceDetector({ backend: BACKEND });

  it('raw output grid on sample1 at 416', async () => {
    const g = golden<{ image: string; inputSize: number; shape: number[]; data: string }>('raw-sample1');
    const want = b64f32(g.data); // NHWC [1, 13, 13, 25]
    const img = await photo(g.image);
    const got = await det.grid(img, g.inputSize); // [25, 13, 13]
    const n = g.shape[1];
    let d = 0;
    let top = 0;
    for (let r = 0; r < n; r++)
      for (let c = 0; c < n; c++)
        for (let k = 0; k < 25; k++) {
          const w = want[(r * n + c) * 25 + k];
          d = Math.max(d, Math.abs(got[(k * n + r) * n + c] - w));
          top = Math.max(top, Math.abs(w));
        }
    report.push(`detector grid: ${d.toExponential(1)} (largest |value| ${top.toFixed(1)})`);
    expect(d).toBeLessThan(TOL);
  }, 60_000);

  it('boxes and scores on the demo photos', async () => {
    let worstIou = 1;
    let worstScore = 0;
    let faces = 0;
    for (const name of PHOTOS) {
      const g = golden<GoldenPhoto>(name);
      const img = await photo(g.image);
      for (const run of g.runs) {
        const got = await det.detectFaces(img.data, img.width, img.height, { inputSize: run.inputSize, scoreThreshold: run.scoreThreshold });
        expect(got.length, `${name} @${run.inputSize}: faces`).toBe(run.faces.length);
        for (const want of run.faces) {
          const best = got.reduce((a, b) => (iou(b.box, want.box) > iou(a.box, want.box) ? b : a));
          const o = iou(best.box, want.box);
          worstIou = Math.min(worstIou, o);
          worstScore = Math.max(worstScore, Math.abs(best.score - want.score));
          expect(o, `${name} @${run.inputSize}: box ${want.box}`).toBeGreaterThan(0.95);
          expect(Math.abs(best.score - want.score)).toBeLessThan(TOL);
          faces++;
        }
        // ordered by score, as face-api's NMS returns them
        expect(got.map((f) => f.score)).toEqual([...got.map((f) => f.score)].sort((a, b) => b - a));
      }
    }
    report.push(`${faces} boxes: min IoU ${worstIou.toFixed(6)}, max |score diff| ${worstScore.toExponential(1)}`);
  }, 60_000);

  it('decoding: threshold, correction for the padding, NMS', () => {
    // one confident cell: (row 2, col 3), anchor 0, all offsets 0 -> centre (3.5, 2.5) / 13
    const n = 13;
    const grid = new Float32Array(25 * n * n).fill(-10);
    const set = (ch: number, v: number) => (grid[(ch * n + 2) * n + 3] = v);
    [0, 1, 2, 3].forEach((ch) => set(ch, 0));
    set(4, 3);
    // a second anchor in the same cell: a much larger box, IoU < 0.4, kept
    [5, 6, 7, 8].forEach((ch) => set(ch, ch === 7 || ch === 8 ? 0.05 : 0));
    set(9, 2);
    const out = decodeTinyFaceGrid(grid, n, 832, 416, 416, 0.5);
    expect(out.length).toBe(2);
    expect(out[0].score).toBeCloseTo(1 / (1 + Math.exp(-3)), 12);
    // the image is 2:1, padded at the bottom: y coordinates are stretched by 416 / 208 = 2
    const [x, y, w, h] = out[0].box;
    expect(x + w / 2).toBeCloseTo((3.5 / 13) * 832, 9);
    expect(y + h / 2).toBeCloseTo((2.5 / 13) * 2 * 416, 9);
    expect(nonMaxSuppression([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 5, 5]], [0.6, 0.9, 0.7], 0.4)).toEqual([1, 2]);
    console.log(`face-api parity, max |ours - face-api| (tolerance ${TOL}): ${report.join('; ')}`);
  });
});
