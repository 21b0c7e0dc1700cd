/**
 * face-api's TinyFaceDetector (@vladmandic/face-api 1.7.15 `tinyFaceDetector`; a Tiny-YOLOv2 with
 * depthwise-separable convolutions), ported to the DSL and run with the package's own trained
 * weights (data/fixtures/face-api/model/tiny_face_detector_model*: 19 uint8-quantised tensors,
 * biases included).
 *
 *   image RGB 0..255 [H, W, 3]
 *   -> pad to a square with zeros at the END of the short side (padToSquare(x, false): bottom or right)
 *   -> tf.image.resizeBilinear to inputSize^2 (default 416; alignCorners=false, halfPixelCenters=false)  [host]
 *   -> (x - [117.001, 114.697, 97.404]) / 255
 *   -> conv0: 3x3 conv 3 -> 16, "valid" (no padding: 416 -> 414), + bias, leaky(0.1)
 *   -> maxPool 2x2/2 "same" -> sep(16 -> 32) -> maxPool/2 -> sep(32 -> 64) -> maxPool/2
 *      -> sep(64 -> 128) -> maxPool/2 -> sep(128 -> 256) -> maxPool/2 -> sep(256 -> 512)
 *      -> maxPool 2x2 stride 1 "same"            (sides 414, 207, 104, 52, 26, 13, 13)
 *      sep: pad 1, depthwise 3x3 + pointwise 1x1 (valid), + bias, leaky(0.1)
 *   -> conv8: 1x1 conv 512 -> 25 (+ bias) = 5 anchors x (x, y, w, h, score)  [1, 25, n, n], n = inputSize / 32
 *
 * Decoding (host, as face-api's TinyYolov2Base.extractBoxes + detect, in float64 like its JS):
 *   channel a * 5 + k of cell (row, col); score = sigmoid(t4), kept if > scoreThreshold;
 *   centre = ((col, row) + sigmoid(t0, t1)) / n, size = exp(t2, t3) * anchor_a / n, both times
 *   the correction inputSize / (reshaped side), where the reshaped side = round(side * inputSize /
 *   max(W, H)) undoes the padding; the box is relative to the image, then scaled by (W, H).
 *   NMS: greedy by score, IoU threshold 0.4 (a box is dropped when its IoU with a kept one is > 0.4).
 *
 * Max pooling with "same" padding pads at the end and ignores the padded cells: built here from
 * four strided slices padded with a large negative value (tfjs-weights.ts), and done before the
 * bias and leaky ReLU, which commute with it exactly (see biasLeakyPool).
 */
import { join } from 'node:path';
import type { Tensor } from '../../dsl/tensor';
import { constant } from '../../dsl/tensor';
import { conv2d } from '../../dsl/ops';
import { spec } from '../../compiler/trace';
import type { TensorSpec } from '../../compiler/trace';
import { compile } from '../../runtime/compile';
import type { Executable } from '../../runtime/executable';
import type { BackendName } from '../../runtime/gpu';
import type { PixelRect, RgbImage, TfjsWeights } from './tfjs-weights';
import { convFilterToOIHW, faceApiInput, loadTfjsWeights, maxPool2x2Same, tfjsWeight } from './tfjs-weights';
import { FACE_API_MODEL_DIR } from './expression-net';

export const TINY_FACE_MEAN_RGB = [117.001, 114.697, 97.404] as const;
/** (width, height) of the 5 anchor boxes, in grid cells */
export const TINY_FACE_ANCHORS: readonly (readonly [number, number])[] = [
  [1.603231, 2.094468],
  [6.041143, 7.080126],
  [2.882459, 3.518061],
  [4.266906, 5.178857],
  [9.041765, 10.66308],
];
export const TINY_FACE_IOU_THRESHOLD = 0.4;
const FILTERS = [3, 16, 32, 64, 128, 256, 512] as const;
const BOX_ENCODING = 5;

export type HostParams = Record<string, Float32Array>;

/** Parameter name -> shape (our layouts: conv [Cout, Cin, kh, kw], depthwise [C, 1, 3, 3]). */
export function tinyFaceDetectorShapes(): [string, number[]][] {
  const out: [string, number[]][] = [
    ['conv0/filters', [16, 3, 3, 3]],
    ['conv0/bias', [16]],
  ];
  for (let i = 1; i <= 5; i++) {
    const [cin, cout] = [FILTERS[i], FILTERS[i + 1]];
    out.push([`conv${i}/depthwise_filter`, [cin, 1, 3, 3]], [`conv${i}/pointwise_filter`, [cout, cin, 1, 1]], [`conv${i}/bias`, [cout]]);
  }
  out.push(['conv8/filters', [TINY_FACE_ANCHORS.length * BOX_ENCODING, 512, 1, 1]], ['conv8/bias', [TINY_FACE_ANCHORS.length * BOX_ENCODING]]);
  return out;
}

function tfjsShape(name: string, s: readonly number[]): number[] {
  if (name.endsWith('/filters')) return [s[2], s[3], s[1], s[0]];
  if (name.endsWith('/depthwise_filter')) return [s[2], s[3], s[0], 1];
  if (name.endsWith('/pointwise_filter')) return [1, 1, s[1], s[0]];
  return [...s];
}

export function tinyFaceParamsFromTfjs(w: TfjsWeights): HostParams {
  const out: HostParams = {};
  for (const [name, shape] of tinyFaceDetectorShapes()) {
    const t = tfjsWeight(w, name, tfjsShape(name, shape));
    out[name] = name.endsWith('/bias') ? t.data : convFilterToOIHW(t, name.endsWith('/depthwise_filter')).data;
  }
  const extra = [...w.keys()].filter((k) => !(k in out));
  if (extra.length) throw new Error(`tiny face detector: unexpected tfjs weights ${extra.join(', ')}`);
  return out;
}

export function tinyFaceParamSpecs(): Record<string, TensorSpec> {
  return Object.fromEntries(tinyFaceDetectorShapes().map(([n, s]) => [n, spec(s)]));
}

// ------------------------------------------------------------------ the net

type P = Record<string, Tensor>;

/** face-api's leaky: relu(x - 0.1 x) + 0.1 x, i.e. max(x, 0.1 x) */
const leaky = (x: Tensor): Tensor => x.maximum(x.mul(0.10000000149011612));

/**
 * maxPool(leaky(y + bias)) computed as leaky(maxPool(y) + bias): bias and leaky are monotonic
 * (also after float rounding), so both orders give the same floats, and pooling first lets the
 * pool fuse with the bias into one kernel reading the conv's output.
 */
function biasLeakyPool(y: Tensor, bias: Tensor, stride: 1 | 2): Tensor {
  return leaky(maxPool2x2Same(y, stride).add(bias.reshape([1, bias.shape[0], 1, 1])));
}

/** depthwise 3x3 (pad 1) + pointwise 1x1, without the bias */
function separable(x: Tensor, p: P, prefix: string): Tensor {
  const dw = conv2d(x, p[`${prefix}/depthwise_filter`], undefined, { padding: 1, groups: x.shape[1] });
  return conv2d(dw, p[`${prefix}/pointwise_filter`]);
}

/** The raw grid [B, 25, n, n] of images [B, 3, S, S] with values 0..255 (S a multiple of 32). */
export function tinyFaceGrid(p: P, x: Tensor): Tensor {
  if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== x.shape[3] || x.shape[2] % 32 !== 0)
    throw new Error(`tiny face detector: input must be [B, 3, S, S] with S a multiple of 32, got [${x.shape.join(', ')}]`);
  const h0 = x.sub(constant([...TINY_FACE_MEAN_RGB], [1, 3, 1, 1])).div(255);
  // conv0 (valid) -> pool/2 -> sep1 -> pool/2 -> ... -> sep5 -> pool/1, each followed by bias + leaky
  let h = biasLeakyPool(conv2d(h0, p['conv0/filters']), p['conv0/bias'], 2);
  for (let i = 1; i <= 5; i++) h = biasLeakyPool(separable(h, p, `conv${i}`), p[`conv${i}/bias`], i < 5 ? 2 : 1);
  return conv2d(h, p['conv8/filters'], p['conv8/bias']);
}

// ------------------------------------------------------------------ decoding

export interface FaceBox {
  /** [x, y, width, height] in pixels of the image */
  box: [number, number, number, number];
  score: number;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

function iou(a: readonly number[], b: readonly number[]): number {
  // [x, y, w, h]
  const w = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

/** face-api's nonMaxSuppression: indices kept, highest score first. */
export function nonMaxSuppression(boxes: readonly (readonly number[])[], scores: readonly number[], iouThreshold: number): number[] {
  let order = scores
    .map((score, i) => ({ score, i }))
    .sort((a, b) => a.score - b.score)
    .map((c) => c.i);
  const pick: number[] = [];
  while (order.length > 0) {
    const cur = order.pop()!;
    pick.push(cur);
    order = order.filter((j) => iou(boxes[cur], boxes[j]) <= iouThreshold);
  }
  return pick;
}

/**
 * Boxes from the raw grid of one image (channel-major [25, n, n], our layout), as face-api's
 * extractBoxes + detect: relative boxes, thresholded, NMS'd, then scaled to (width, height).
 */
export function decodeTinyFaceGrid(grid: ArrayLike<number>, n: number, width: number, height: number, inputSize: number, scoreThreshold: number): FaceBox[] {
  const scale = inputSize / Math.max(width, height);
  const [rw, rh] = [Math.round(width * scale), Math.round(height * scale)]; // computeReshapedDimensions
  const side = Math.max(rw, rh);
  const [fx, fy] = [side / rw, side / rh];
  const at = (ch: number, row: number, col: number) => grid[(ch * n + row) * n + col];
  const rel: number[][] = [];
  const scores: number[] = [];
  for (let row = 0; row < n; row++)
    for (let col = 0; col < n; col++)
      for (let a = 0; a < TINY_FACE_ANCHORS.length; a++) {
        const c = a * BOX_ENCODING;
        const score = sigmoid(at(c + 4, row, col));
        if (scoreThreshold && !(score > scoreThreshold)) continue;
        const ctX = ((col + sigmoid(at(c, row, col))) / n) * fx;
        const ctY = ((row + sigmoid(at(c + 1, row, col))) / n) * fy;
        const w = ((Math.exp(at(c + 2, row, col)) * TINY_FACE_ANCHORS[a][0]) / n) * fx;
        const h = ((Math.exp(at(c + 3, row, col)) * TINY_FACE_ANCHORS[a][1]) / n) * fy;
        const x = ctX - w / 2;
        const y = ctY - h / 2;
        // face-api builds a BoundingBox(x, y, x + w, y + h) and takes its width back as right - left
        rel.push([x, y, x + w - x, y + h - y]);
        scores.push(score);
      }
  const keep = nonMaxSuppression(
    rel.map((b) => b.map((v) => v * inputSize)),
    scores,
    TINY_FACE_IOU_THRESHOLD,
  );
  return keep.map((i) => {
    const [x, y, w, h] = rel[i];
    return { box: [x * width, y * height, w * width, h * height], score: scores[i] };
  });
}

/** face-api's crop of a detection for the expression net: the box clipped at the borders, each of x, y, w, h floored. */
export function faceCrop(box: readonly number[], width: number, height: number): PixelRect {
  const [x0, y0, w0, h0] = box;
  const x = Math.max(x0, 0);
  const y = Math.max(y0, 0);
  const w = Math.min(x0 + w0 - x, width - x);
  const h = Math.min(y0 + h0 - y, height - y);
  return { x: Math.floor(x), y: Math.floor(y), width: Math.floor(w), height: Math.floor(h) };
}

// ------------------------------------------------------------------ host API

export interface DetectOptions {
  /** side of the square the image is resized to, a multiple of 32 (default 416) */
  inputSize?: number;
  /** minimum score, in (0, 1) (default 0.5) */
  scoreThreshold?: number;
}

export interface TinyFaceDetector {
  readonly params: HostParams;
  readonly backend?: BackendName;
  detectFaces(imageRGB: ArrayLike<number>, width: number, height: number, opts?: DetectOptions): Promise<FaceBox[]>;
  /** the raw grid [25, n, n] of an image (after face-api's pad + resize) */
  grid(image: RgbImage, inputSize?: number): Promise<Float32Array>;
}

const exeFor = (size: number, backend?: BackendName): Promise<Executable> =>
  compile(({ w, x }: { w: P; x: Tensor }) => tinyFaceGrid(w, x), { w: tinyFaceParamSpecs(), x: spec([1, 3, size, size]) }, { backend });

export interface TinyFaceDetectorOptions {
  /** directory holding tiny_face_detector_model-weights_manifest.json (default: the bundled fixture) */
  modelDir?: string;
  backend?: BackendName;
}

/** Loads the detector's weights (the bundled face-api fixture by default). */
export function loadTinyFaceDetector(opts: TinyFaceDetectorOptions = {}): TinyFaceDetector {
  const params = tinyFaceParamsFromTfjs(loadTfjsWeights(join(opts.modelDir ?? FACE_API_MODEL_DIR, 'tiny_face_detector_model-weights_manifest.json')));
  const backend = opts.backend;
  const grid = async (image: RgbImage, inputSize = 416) => {
    const exe = await exeFor(inputSize, backend);
    const out = await exe.run({ w: params, x: faceApiInput(image, inputSize, false) });
    return out[''].data as Float32Array;
  };
  return {
    params,
    backend,
    grid,
    async detectFaces(imageRGB, width, height, o = {}) {
      const inputSize = o.inputSize ?? 416;
      const scoreThreshold = o.scoreThreshold ?? 0.5;
      if (!(inputSize > 0 && inputSize % 32 === 0)) throw new Error(`detectFaces: inputSize must be a positive multiple of 32, got ${inputSize}`);
      if (!(scoreThreshold > 0 && scoreThreshold < 1)) throw new Error(`detectFaces: scoreThreshold must be in (0, 1), got ${scoreThreshold}`);
      const g = await grid({ data: imageRGB, width, height }, inputSize);
      return decodeTinyFaceGrid(g, inputSize / 32, width, height, inputSize, scoreThreshold);
    },
  };
}

let defaultDetector: TinyFaceDetector | undefined;

/**
 * face-api's `detectAllFaces(img, new TinyFaceDetectorOptions({ inputSize, scoreThreshold }))` on
 * an RGB image [h, w, 3]: boxes [x, y, w, h] in pixels with their scores, best first.
 */
export function detectFaces(imageRGB: ArrayLike<number>, width: number, height: number, opts: DetectOptions = {}): Promise<FaceBox[]> {
  defaultDetector ??= loadTinyFaceDetector();
  return defaultDetector.detectFaces(imageRGB, width, height, opts);
}
