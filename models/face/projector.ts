/**
 * Face tokens for the LLM (PAPER.md "project defaults"; the paper is silent on these):
 *
 *   face_values [B*T, 3, 224, 224]   (the face crop of frame t of sample b at row b*T + t)
 *   -> FaceXFormer encoder (models/face/facexformer.ts): fused map [B*T, F = 256, 56, 56]
 *   -> adaptive average pooling to 7 x 7 (56 -> 7: 8 x 8 blocks, as reshape + mean)
 *   -> 49 tokens per frame, row-major (y, x), channels last: [B*T, 49, F]
 *   -> face projector Linear(F -> H) - GELU (erf) - Linear(H -> H)   (`face_projector.0`, `.2`)
 *   -> [B, T*49, H]: the frames of a sample in order, 49 tokens each.
 *
 * The encoder is frozen in every training stage, so `projectFaceMap` takes a precomputed map as
 * well (features can be cached); `faceTokens` is the whole path.
 */
import * as t from 'io-ts';
import { PositiveInt, decodeOrThrow } from '../../dsl/config';
import type { Tensor } from '../../dsl/tensor';
import { constant } from '../../dsl/tensor';
import { gelu } from '../../compiler/composites';
import { init, param } from '../../dsl/params';
import type { ParamSpec } from '../../dsl/params';
import { lin } from './swin';
import type { FaceXFormerConfig, FaceXFormerParams } from './facexformer';
import { faceEncoder, faceXFormerConfig, faceXFormerParams } from './facexformer';

// ------------------------------------------------------------------ config

export interface FaceTokensConfig {
  /** the FaceXFormer encoder */
  readonly face: FaceXFormerConfig;
  /** the LLM width H (3584 for Qwen2-7B) */
  readonly hidden_size: number;
  /** tokens per frame = face_pool_size^2 (default 7 -> 49) */
  readonly face_pool_size: number;
}

const FaceTokensCodec = t.intersection([t.type({ face: t.unknown, hidden_size: PositiveInt }), t.partial({ face_pool_size: PositiveInt })], 'FaceTokensConfig');

/** Decodes `{ face: <face-encoder config>, hidden_size, face_pool_size? }`, naming the failing field. */
export function faceTokensConfig(value: unknown, label = 'face tokens config'): FaceTokensConfig {
  const c = decodeOrThrow(FaceTokensCodec, value, label);
  return { face: faceXFormerConfig(c.face, `${label}: face`), hidden_size: c.hidden_size, face_pool_size: c.face_pool_size ?? 7 };
}

/** Tokens per frame. */
export const faceTokensPerFrame = (c: FaceTokensConfig): number => c.face_pool_size ** 2;

// ------------------------------------------------------------------ parameters

type Lin<T> = { weight: T; bias: T };
export interface FaceProjectorParams<T = Tensor> {
  '0': Lin<T>;
  '2': Lin<T>;
}
export interface FaceTokensParams<T = Tensor> {
  face_encoder: FaceXFormerParams<T>;
  face_projector: FaceProjectorParams<T>;
}

const linear = (inF: number, outF: number): Lin<ParamSpec> => {
  const bound = 1 / Math.sqrt(inF);
  return { weight: param([outF, inF], init.kaimingUniform(Math.sqrt(5))), bias: param([outF], init.uniform(-bound, bound)) };
};

/** `face_projector.0` Linear(F -> H), `face_projector.2` Linear(H -> H) (index 1 is the GELU). */
export function faceProjectorParams(fusion: number, hidden: number): FaceProjectorParams<ParamSpec> {
  return { '0': linear(fusion, hidden), '2': linear(hidden, hidden) };
}

export function faceTokensParams(c: FaceTokensConfig): FaceTokensParams<ParamSpec> {
  return { face_encoder: faceXFormerParams(c.face), face_projector: faceProjectorParams(c.face.fusion_hidden_size, c.hidden_size) };
}

/** The projector's parameters: F*H + H + H*H + H. */
export const faceProjectorParamCount = (fusion: number, hidden: number): number => fusion * hidden + hidden + hidden * hidden + hidden;

// ------------------------------------------------------------------ pooling

/** PyTorch's adaptive pooling bins of one axis: [floor(i*n/out), ceil((i+1)*n/out)). */
export function adaptiveBins(n: number, out: number): [number, number][] {
  return Array.from({ length: out }, (_, i) => [Math.floor((i * n) / out), Math.ceil(((i + 1) * n) / out)] as [number, number]);
}

/** The pooling matrix [out, n] of one axis (row i averages bin i). */
function poolMatrix(n: number, out: number): Float64Array {
  const m = new Float64Array(out * n);
  adaptiveBins(n, out).forEach(([a, b], i) => {
    for (let j = a; j < b; j++) m[i * n + j] = 1 / (b - a);
  });
  return m;
}

/**
 * F.adaptive_avg_pool2d(x [N, C, h, w], (oh, ow)). Sides that divide evenly (56 -> 7) are
 * reshape + mean over the blocks; otherwise each axis is a matmul by its pooling matrix (PyTorch's
 * overlapping bins).
 */
export function adaptiveAvgPool2d(x: Tensor, oh: number, ow = oh): Tensor {
  const [N, C, h, w] = x.shape;
  if (h % oh === 0 && w % ow === 0) return x.reshape([N, C, oh, h / oh, ow, w / ow]).mean([3, 5]);
  // [N*C*h, w] @ Pw^T -> [N, C, h, ow]; then the h axis the same way
  const pw = constant(poolMatrix(w, ow), [ow, w], x.dtype);
  const ph = constant(poolMatrix(h, oh), [oh, h], x.dtype);
  const a = x.reshape([N * C * h, w]).matmul(pw.transpose()).reshape([N, C, h, ow]);
  const b = a.transpose(2, 3).reshape([N * C * ow, h]).matmul(ph.transpose()).reshape([N, C, ow, oh]);
  return b.transpose(2, 3);
}

// ------------------------------------------------------------------ forward

/** map [B*T, F, h, w] -> tokens [B, T * pool^2, H] (pool, flatten row-major, project). */
export function projectFaceMap(c: FaceTokensConfig, p: FaceProjectorParams, map: Tensor, frames: number): Tensor {
  const [BT, F] = map.shape;
  if (map.rank !== 4 || F !== c.face.fusion_hidden_size) throw new Error(`face tokens: the map must be [B*T, ${c.face.fusion_hidden_size}, h, w], got [${map.shape.join(', ')}]`);
  if (!Number.isInteger(frames) || frames < 1 || BT % frames !== 0) throw new Error(`face tokens: ${BT} face crops are not a whole number of samples of ${frames} frames`);
  const s = c.face_pool_size;
  const tokens = adaptiveAvgPool2d(map, s).reshape([BT, F, s * s]).transpose(1, 2);
  const h = gelu(lin(p['0'], tokens));
  return lin(p['2'], h).reshape([BT / frames, frames * s * s, c.hidden_size]);
}

/** face_values [B*T, 3, H, W] (frame t of sample b at row b*T + t) -> face tokens [B, T * 49, hidden_size]. */
export function faceTokens(c: FaceTokensConfig, p: FaceTokensParams, faceValues: Tensor, frames: number): Tensor {
  return projectFaceMap(c, p.face_projector, faceEncoder(c.face, p.face_encoder, faceValues), frames);
}
