/**
 * face-api's 7-class face-expression net (`faceExpressionNet` of @vladmandic/face-api 1.7.15,
 * itself justadudewhohacks/face-api.js), ported to the DSL and run with the package's own
 * trained weights (data/fixtures/face-api/model/face_expression_model*: 49 uint8-quantised tensors).
 *
 *   face crop, RGB 0..255 [h, w, 3]
 *   -> pad to a square with zeros, centred (padToSquare(x, true): round(diff/2) after, the rest before)
 *   -> tf.image.resizeBilinear to 112x112 (alignCorners=false, halfPixelCenters=false)  [host, tfjs-weights.ts]
 *   -> (x - [122.782, 117.001, 104.298]) / 255
 *   -> 4 dense blocks (FaceFeatureExtractor, `denseBlock4`), channels 32, 64, 128, 256, each
 *      halving the side (112 -> 56 -> 28 -> 14 -> 7):
 *        out1 = relu(conv0(x))               conv0: 3x3 stride 2 "same" (a plain conv in dense0,
 *                                            a depthwise-separable conv in dense1..3)
 *        out2 = sep(out1)                    sep: depthwise 3x3 + pointwise 1x1 + bias, stride 1
 *        out3 = sep(relu(out1 + out2))
 *        out4 = sep(relu(out1 + out2 + out3))
 *        out  = relu(out1 + out2 + out3 + out4)
 *   -> avgPool 7x7 (stride 2, valid) = the mean over the 7x7 map -> [B, 256]
 *   -> fc (256 -> 7) -> softmax
 *   -> neutral, happy, sad, angry, fearful, disgusted, surprised
 *
 * TF "same" padding with stride 2 on an even side pads one pixel at the END only (0 before, 1
 * after), unlike PyTorch's symmetric padding=1: the convs here pad (0, 1) for stride 2 and (1, 1)
 * for stride 1. Weights are kept in PyTorch layouts (conv [Cout, Cin, kh, kw], depthwise
 * [C, 1, kh, kw]); the tfjs names are kept as the parameter names (`dense0/conv1/depthwise_filter`).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../../dsl/tensor';
import { constant } from '../../dsl/tensor';
import { conv2d } from '../../dsl/ops';
import { softmax } from '../../compiler/composites';
import { spec } from '../../compiler/trace';
import type { TensorSpec } from '../../compiler/trace';
import { compile } from '../../runtime/compile';
import type { Executable } from '../../runtime/executable';
import type { BackendName } from '../../runtime/gpu';
import type { PixelRect, RgbImage, TfjsWeights } from './tfjs-weights';
import { convFilterToOIHW, faceApiInput, loadTfjsWeights, samePadding, tfjsWeight } from './tfjs-weights';

export const FACE_EXPRESSION_LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'] as const;
export type FaceExpressionLabel = (typeof FACE_EXPRESSION_LABELS)[number];
export type FaceExpressions = Record<FaceExpressionLabel, number>;

export const EXPRESSION_INPUT_SIZE = 112;
export const EXPRESSION_MEAN_RGB = [122.782, 117.001, 104.298] as const;
const CHANNELS = [32, 64, 128, 256] as const;

/** data/fixtures/face-api/model: the manifests and shards copied from the npm package. */
export const FACE_API_MODEL_DIR = fileURLToPath(new URL('../../data/fixtures/face-api/model', import.meta.url));

/** Parameter name -> shape (our layouts), in manifest order. */
export function expressionNetShapes(): [string, number[]][] {
  const out: [string, number[]][] = [];
  let cin = 3;
  CHANNELS.forEach((c, b) => {
    for (let j = 0; j < 4; j++) {
      const p = `dense${b}/conv${j}`;
      const i = j === 0 ? cin : c;
      if (b === 0 && j === 0) out.push([`${p}/filters`, [c, 3, 3, 3]]);
      else out.push([`${p}/depthwise_filter`, [i, 1, 3, 3]], [`${p}/pointwise_filter`, [c, i, 1, 1]]);
      out.push([`${p}/bias`, [c]]);
    }
    cin = c;
  });
  out.push(['fc/weights', [256, 7]], ['fc/bias', [7]]);
  return out;
}

/** tfjs shape of a parameter, from ours. */
function tfjsShape(name: string, shape: readonly number[]): number[] {
  if (name.endsWith('/filters')) return [shape[2], shape[3], shape[1], shape[0]];
  if (name.endsWith('/depthwise_filter')) return [shape[2], shape[3], shape[0], 1];
  if (name.endsWith('/pointwise_filter')) return [1, 1, shape[1], shape[0]];
  return [...shape];
}

export type HostParams = Record<string, Float32Array>;

/** The tfjs weights in our layouts; every tensor of the model checked by name and shape, none left over. */
export function expressionParamsFromTfjs(w: TfjsWeights): HostParams {
  const out: HostParams = {};
  const shapes = expressionNetShapes();
  for (const [name, shape] of shapes) {
    const t = tfjsWeight(w, name, tfjsShape(name, shape));
    out[name] = name.endsWith('_filter') || name.endsWith('/filters') ? convFilterToOIHW(t, name.endsWith('/depthwise_filter')).data : t.data;
  }
  const extra = [...w.keys()].filter((k) => !(k in out));
  if (extra.length) throw new Error(`face expression net: unexpected tfjs weights ${extra.join(', ')}`);
  return out;
}

export function expressionParamSpecs(): Record<string, TensorSpec> {
  return Object.fromEntries(expressionNetShapes().map(([n, s]) => [n, spec(s)]));
}

// ------------------------------------------------------------------ the net

type P = Record<string, Tensor>;

/** conv (groups = 1 or depthwise) with TF "same" padding. */
function sameConv(x: Tensor, w: Tensor, stride: number, groups = 1, bias?: Tensor): Tensor {
  const k = w.shape[2];
  const padding = [samePadding(x.shape[2], k, stride), samePadding(x.shape[3], k, stride)] as [number, number][];
  return conv2d(x, w, bias, { stride, padding, groups });
}

/** tf.separableConv2d(x, depthwise, pointwise, stride, 'same') + bias */
function separable(x: Tensor, p: P, prefix: string, stride: number): Tensor {
  const dw = sameConv(x, p[`${prefix}/depthwise_filter`], stride, x.shape[1]);
  return conv2d(dw, p[`${prefix}/pointwise_filter`], p[`${prefix}/bias`]);
}

function denseBlock4(x: Tensor, p: P, b: number): Tensor {
  const pre = `dense${b}`;
  const out1 = (b === 0 ? sameConv(x, p[`${pre}/conv0/filters`], 2, 1, p[`${pre}/conv0/bias`]) : separable(x, p, `${pre}/conv0`, 2)).relu();
  const out2 = separable(out1, p, `${pre}/conv1`, 1);
  // the sums in face-api's order: out1 + (out2 + (out3 + out4))
  const out3 = separable(out1.add(out2).relu(), p, `${pre}/conv2`, 1);
  const out4 = separable(out1.add(out2.add(out3)).relu(), p, `${pre}/conv3`, 1);
  return out1.add(out2.add(out3.add(out4))).relu();
}

/** Logits [B, 7] of images [B, 3, 112, 112] with values 0..255 (already padded and resized). */
export function expressionLogits(p: P, x: Tensor): Tensor {
  if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== EXPRESSION_INPUT_SIZE || x.shape[3] !== EXPRESSION_INPUT_SIZE)
    throw new Error(`face expression net: input must be [B, 3, 112, 112], got [${x.shape.join(', ')}]`);
  let h = x.sub(constant([...EXPRESSION_MEAN_RGB], [1, 3, 1, 1])).div(255);
  for (let b = 0; b < 4; b++) h = denseBlock4(h, p, b);
  // avgPool 7x7 on the 7x7 map (a mean) and fc, as one reduction over channels and positions:
  // logits[b, k] = sum_{c, s} h[b, c, s] * W[c, k] / 49 + bias[k]
  const [B, C, H, W] = h.shape;
  const terms = h.reshape([B, C, H * W, 1]).mul(p['fc/weights'].reshape([C, 1, 7]));
  return terms.sum([1, 2]).div(H * W).add(p['fc/bias']);
}

/** Softmax probabilities [B, 7]. */
export const expressionProbs = (p: P, x: Tensor): Tensor => softmax(expressionLogits(p, x), -1);

// ------------------------------------------------------------------ host API

export interface ExpressionNetOptions {
  /** directory holding face_expression_model-weights_manifest.json (default: the bundled fixture) */
  modelDir?: string;
  backend?: BackendName;
}

export interface ExpressionNet {
  readonly params: HostParams;
  readonly backend?: BackendName;
  /** probabilities per label of one face image (RGB [h, w, 3]; `crop`: a region of it) */
  predictExpressions(imageRGB: ArrayLike<number>, width: number, height: number, crop?: PixelRect): Promise<FaceExpressions>;
  /** the same for many faces (one executable, batch 1, run once per face) */
  predictBatch(faces: readonly { image: RgbImage; crop?: PixelRect }[]): Promise<FaceExpressions[]>;
  /** the 7 probabilities of already preprocessed inputs [B, 3, 112, 112] (0..255) */
  run(pixels: Float32Array, batch: number): Promise<Float32Array>;
}

const exeFor = (batch: number, backend?: BackendName): Promise<Executable> =>
  compile(({ w, x }: { w: P; x: Tensor }) => expressionProbs(w, x), { w: expressionParamSpecs(), x: spec([batch, 3, EXPRESSION_INPUT_SIZE, EXPRESSION_INPUT_SIZE]) }, { backend });

const toRecord = (p: ArrayLike<number>): FaceExpressions => Object.fromEntries(FACE_EXPRESSION_LABELS.map((l, i) => [l, p[i]])) as FaceExpressions;

/** Loads the expression net's weights (the bundled face-api fixture by default). */
export function loadExpressionNet(opts: ExpressionNetOptions = {}): ExpressionNet {
  const params = expressionParamsFromTfjs(loadTfjsWeights(join(opts.modelDir ?? FACE_API_MODEL_DIR, 'face_expression_model-weights_manifest.json')));
  const backend = opts.backend;
  const run = async (pixels: Float32Array, batch: number) => {
    const exe = await exeFor(batch, backend);
    const out = await exe.run({ w: params, x: pixels });
    return out[''].data as Float32Array;
  };
  const net: ExpressionNet = {
    params,
    backend,
    run,
    async predictExpressions(imageRGB, width, height, crop) {
      const x = faceApiInput({ data: imageRGB, width, height }, EXPRESSION_INPUT_SIZE, true, crop);
      return toRecord(await run(x, 1));
    },
    async predictBatch(faces) {
      // one face per call: a single compiled executable (B = 1) serves any number of faces
      const out: FaceExpressions[] = [];
      for (const f of faces) out.push(toRecord(await run(faceApiInput(f.image, EXPRESSION_INPUT_SIZE, true, f.crop), 1)));
      return out;
    },
  };
  return net;
}

let defaultNet: ExpressionNet | undefined;

/**
 * face-api's `faceExpressionNet.predictExpressions(face)` on an RGB face image [h, w, 3]
 * (uses the bundled weights, loaded once).
 */
export function predictExpressions(imageRGB: ArrayLike<number>, width: number, height: number, crop?: PixelRect): Promise<FaceExpressions> {
  defaultNet ??= loadExpressionNet();
  return defaultNet.predictExpressions(imageRGB, width, height, crop);
}
