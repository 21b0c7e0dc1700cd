/**
 * Omni-Emotion (architecture `omni-emotion`): LLaVA-OneVision's video path, a Whisper audio path
 * and a face path, spliced into a Qwen2 decoder (PAPER.md 1.0):
 *
 *   pixel_values [B*T, 3, S, S]    -> SigLIP (penultimate layer) -> mm_projector -> 2x bilinear pool -> V_t [Nv, H]
 *   face_values  [B*T, 3, Sf, Sf]  -> face encoder -> [C, h, w] map -> adaptive avg pool (face_pool_size^2)
 *                                      -> face_projector (Linear C->H, GELU, Linear H->H) -> F_t [Nf, H]
 *                                      face encoders (`face_config.model_type`, a small interface, FaceEncoder):
 *                                      facexformer (the paper's: 256 x Sf/4 x Sf/4), tiny_face_cnn (the tiny
 *                                      preset's), face_api_expression (face-api's pretrained expression CNN,
 *                                      256 x 7 x 7 at 112 px; weights: faceApiExpressionWeights). All take the
 *                                      crops ImageNet-normalised (FaceXFormer's preprocessing, data/features).
 *   (V_t, F_t, image_newline)      -> fusion (models/omni/fusion.ts)              -> the `<video>` block
 *   input_features [B, mels, M]    -> Whisper encoder -> avg pool (audio_pool_stride) -> audio_projector -> the `<audio>` block
 *   input_ids [B, L]               -> Qwen2 embed_tokens, each placeholder replaced by its block -> Qwen2 decoder -> logits
 *
 * Placeholders and layout. `input_ids` carries `video_token_index` (-200) and `audio_token_index`
 * (-300) where the blocks go, as data/tokenizer/chat.ts `encodeChat` produces them. Every row holds
 * exactly ONE of each placeholder whose modality is given (no `<video>` without pixel_values or
 * face_values, no `<audio>` without input_features; `checkPlaceholders` tests a batch on the host).
 * The splice is a gather whose indices are computed on the device from where each row's
 * placeholders are, so rows may place them differently; all rows have the same length L (pad the
 * text at the end with `pad_token_id` and give the padding the label `ignore_index`: attention is
 * causal and unmasked, so right padding never changes the tokens before it). With ChatML and a
 * fixed system message the placeholders sit at the same positions in every row anyway. The
 * spliced sequence has L' = L - (#placeholders) + (#block tokens) positions, numbered 0..L'-1
 * for RoPE.
 *
 * Same-layout note: the number of tokens in a row is the same for every row (L, and so L'),
 * and with one `<video>` and one `<audio>` per row the block lengths are fixed by the config
 * (num_frames, image sizes, mel frames), so a batch is one static shape. Rows whose text is
 * shorter are right-padded (pad id in input_ids, ignore_index in labels).
 *
 * Frozen encoders: `encoderFeatures` computes SigLIP's, the face encoder's and Whisper's outputs;
 * given to omniForward as `vision_hidden` / `face_map` / `audio_hidden` they replace the raw
 * inputs (same result), so training stages can compute them once per sample.
 *
 * Labels [B, L] (optional) follow the ids: the spliced block positions get `ignore_index`, the
 * text positions keep theirs, and the loss is the causal-LM cross-entropy, logits at position i
 * against the label at i + 1, averaged over the labels that are not `ignore_index` (the answer
 * tokens, chat.ts), as Hugging Face's LLaVA computes it.
 *
 * Parameters: `{ vision_tower, mm_projector, image_newline, audio_encoder, audio_projector,
 * face_encoder, face_projector, fusion?, llm }`: LLaVA-OneVision's names for the visual path
 * (vision_tower.vision_tower.vision_model.*), HF Whisper encoder names under audio_encoder,
 * HumanOmni's `audio_projector.0/.2`, FaceXFormer's checkpoint names under face_encoder, and the
 * Qwen2 HF names under llm (llm.model.layers.0..., llm.lm_head.weight).
 */
import { join } from 'node:path';
import type { Shape, Tensor } from '../../dsl/tensor';
import { concat, constant, full, iota, where } from '../../dsl/tensor';
import { conv2d } from '../../dsl/ops';
import { crossEntropy, gelu } from '../../compiler/composites';
import { countParams, init, param } from '../../dsl/params';
import type { ParamSpec, ParamTree } from '../../dsl/params';
import { registerArchitecture } from '../registry';
import type { Qwen2ParamTree, Qwen2Weights } from '../llm/qwen2';
import { qwen2Decoder, qwen2Dims, qwen2Embed, qwen2Head, qwen2ParamCount, qwen2Params } from '../llm/qwen2';
import type { LlavaVisualParams } from '../vision/llava';
import { llavaTowerConfig, llavaVisualParams, pool2d, projector, tokensPerFrame } from '../vision/llava';
import { checkPixels, numPatchesPerSide, siglipForward } from '../vision/siglip';
import type { WhisperEncoderParams } from '../audio/whisper';
import { whisperEncoder, whisperEncoderParamCount, whisperEncoderParams, whisperOutputFrames } from '../audio/whisper';
import type { AudioProjectorParams } from '../audio/projector';
import { audioProjector, audioProjectorParams, audioTokenCount, avgPoolTime } from '../audio/projector';
import type { FaceXFormerConfig, FaceXFormerParams } from '../face/facexformer';
import { faceEncoder as faceXFormerForward, faceXFormerParamCount, faceXFormerParams } from '../face/facexformer';
import type { FaceProjectorParams } from '../face/projector';
import { adaptiveAvgPool2d, faceProjectorParamCount, faceProjectorParams } from '../face/projector';
import { EXPRESSION_MEAN_RGB, FACE_API_MODEL_DIR, expressionNetShapes, expressionParamsFromTfjs } from '../face/expression-net';
import { loadTfjsWeights, samePadding } from '../face/tfjs-weights';
import type { HostTensor } from '../../runtime/host';
import { toHost } from '../../runtime/host';
import type { FaceEncoderConfig, OmniConfig, TinyFaceCnnConfig } from './config';
import { OmniConfigCodec, audioPathConfig, faceImageSize, faceMapShape, hiddenSize, llavaConfig } from './config';
import type { FusionParams } from './fusion';
import { fusedLength, fuseVideo, fusionParamCount, fusionParams } from './fusion';

// ------------------------------------------------------------------ face encoders

/** A face encoder: face crops [N, 3, S, S] -> a feature map [N, C, h, w] (faceMapShape gives C, h). */
export interface FaceEncoder {
  readonly params: (c: FaceEncoderConfig) => ParamTree;
  readonly forward: (c: FaceEncoderConfig, p: any, faceValues: Tensor) => Tensor;
  readonly paramCount: (c: FaceEncoderConfig) => number;
}

export interface TinyFaceCnnParams<T = Tensor> {
  convs: { weight: T; bias: T }[];
}

export function tinyFaceCnnParams(c: TinyFaceCnnConfig): TinyFaceCnnParams<ParamSpec> {
  const chans = [c.num_channels ?? 3, ...c.hidden_sizes];
  return {
    convs: c.hidden_sizes.map((out, i) => {
      const bound = 1 / Math.sqrt(chans[i] * 9);
      return { weight: param([out, chans[i], 3, 3], init.kaimingUniform(Math.sqrt(5))), bias: param([out], init.uniform(-bound, bound)) };
    }),
  };
}

/** Conv2d(k3, s2, p1) + GELU per layer: [N, C, S, S] -> [N, hidden_sizes[-1], S', S']. */
export function tinyFaceCnn(c: TinyFaceCnnConfig, p: TinyFaceCnnParams, x: Tensor): Tensor {
  return p.convs.reduce((h, l) => gelu(conv2d(h, l.weight, l.bias, { stride: 2, padding: 1 })), x);
}

/** face-api's expression CNN weights, without the classifier (`fc/`): name -> shape. */
export const faceApiExpressionShapes = (): [string, number[]][] => expressionNetShapes().filter(([n]) => !n.startsWith('fc/'));

export function faceApiExpressionParams(): Record<string, ParamSpec> {
  return Object.fromEntries(faceApiExpressionShapes().map(([n, s]) => [n, param(s, n.endsWith('/bias') ? init.zeros() : init.kaimingUniform(Math.sqrt(5)))]));
}

/**
 * face-api's expression net up to its 7x7 average pool (the same layers as
 * models/face/expression-net.ts `expressionLogits`, which exports no feature map): RGB 0..255
 * [N, 3, S, S] -> [N, 256, ceil(S/16), ceil(S/16)].
 */
export function faceApiExpressionFeatures(p: Record<string, Tensor>, x: Tensor): Tensor {
  const sameConv = (h: Tensor, w: Tensor, stride: number, groups = 1, bias?: Tensor) =>
    conv2d(h, w, bias, { stride, groups, padding: [samePadding(h.shape[2], w.shape[2], stride), samePadding(h.shape[3], w.shape[3], stride)] as [number, number][] });
  const separable = (h: Tensor, pre: string, stride: number) => conv2d(sameConv(h, p[`${pre}/depthwise_filter`], stride, h.shape[1]), p[`${pre}/pointwise_filter`], p[`${pre}/bias`]);
  let h = x.sub(constant([...EXPRESSION_MEAN_RGB], [1, 3, 1, 1], x.dtype)).div(255);
  for (let b = 0; b < 4; b++) {
    const pre = `dense${b}`;
    const out1 = (b === 0 ? sameConv(h, p[`${pre}/conv0/filters`], 2, 1, p[`${pre}/conv0/bias`]) : separable(h, `${pre}/conv0`, 2)).relu();
    const out2 = separable(out1, `${pre}/conv1`, 1);
    const out3 = separable(out1.add(out2).relu(), `${pre}/conv2`, 1);
    const out4 = separable(out1.add(out2.add(out3)).relu(), `${pre}/conv3`, 1);
    h = out1.add(out2.add(out3.add(out4))).relu();
  }
  return h;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/** (v / 255 - mean) / std -> v: ImageNet-normalised [N, 3, H, W] back to RGB 0..255. */
export const imagenetToRgb255 = (x: Tensor): Tensor =>
  x.mul(constant(IMAGENET_STD.map((s) => s * 255), [1, 3, 1, 1], x.dtype)).add(constant(IMAGENET_MEAN.map((m) => m * 255), [1, 3, 1, 1], x.dtype));

/** The bundled face-api expression weights under their omni-emotion paths (`face_encoder.<name>`). */
export function faceApiExpressionWeights(modelDir = FACE_API_MODEL_DIR): Record<string, HostTensor> {
  const all = expressionParamsFromTfjs(loadTfjsWeights(join(modelDir, 'face_expression_model-weights_manifest.json')));
  return Object.fromEntries(faceApiExpressionShapes().map(([n, s]) => [`face_encoder.${n}`, toHost(all[n], s, 'f32')]));
}

export const FACE_ENCODER_TABLE: Record<'facexformer' | 'tiny_face_cnn' | 'face_api_expression', FaceEncoder> = {
  facexformer: {
    params: (c) => faceXFormerParams(c as FaceXFormerConfig) as unknown as ParamTree,
    forward: (c, p, x) => faceXFormerForward(c as FaceXFormerConfig, p as FaceXFormerParams, x),
    paramCount: (c) => faceXFormerParamCount(c as FaceXFormerConfig),
  },
  tiny_face_cnn: {
    params: (c) => tinyFaceCnnParams(c as TinyFaceCnnConfig),
    forward: (c, p, x) => tinyFaceCnn(c as TinyFaceCnnConfig, p as TinyFaceCnnParams, x),
    paramCount: (c) => countParams(tinyFaceCnnParams(c as TinyFaceCnnConfig)),
  },
  face_api_expression: {
    params: () => faceApiExpressionParams(),
    // face_values are ImageNet-normalised like every face encoder's (data/features); face-api wants 0..255
    forward: (_c, p, x) => faceApiExpressionFeatures(p as Record<string, Tensor>, imagenetToRgb255(x)),
    paramCount: () => countParams(faceApiExpressionParams()),
  },
};

export const faceEncoderOf = (c: FaceEncoderConfig): FaceEncoder => FACE_ENCODER_TABLE[c.model_type ?? 'facexformer'];

/**
 * The pretrained weights that ship with the package for a config's components (under their
 * omniParams paths): the face-api expression encoder's. A training run starts from these, so a
 * frozen pretrained component stays what it was trained to be, as in the paper.
 */
export function bundledPretrainedWeights(c: OmniConfig): Record<string, HostTensor> {
  return c.face_config.model_type === 'face_api_expression' ? faceApiExpressionWeights() : {};
}

// ------------------------------------------------------------------ parameters

export interface OmniParams<T = Tensor> {
  vision_tower: LlavaVisualParams<T>['vision_tower'];
  mm_projector: LlavaVisualParams<T>['mm_projector'];
  image_newline?: T;
  audio_encoder: WhisperEncoderParams<T>;
  audio_projector: AudioProjectorParams<T>;
  face_encoder: any;
  face_projector: FaceProjectorParams<T>;
  fusion?: FusionParams<T>;
  llm: T extends ParamSpec ? Qwen2ParamTree : Qwen2Weights;
}

export function omniParams(c: OmniConfig): OmniParams<ParamSpec> {
  const H = hiddenSize(c);
  const visual = llavaVisualParams(llavaConfig(c));
  const [faceChannels] = faceMapShape(c.face_config);
  const fusion = fusionParams(c.fusion, H);
  return {
    vision_tower: visual.vision_tower,
    mm_projector: visual.mm_projector,
    ...(visual.image_newline ? { image_newline: visual.image_newline } : {}),
    audio_encoder: whisperEncoderParams(c.audio_config),
    audio_projector: audioProjectorParams(c.audio_config.d_model, H),
    face_encoder: faceEncoderOf(c.face_config).params(c.face_config),
    face_projector: faceProjectorParams(faceChannels, H),
    ...(fusion ? { fusion } : {}),
    llm: qwen2Params(c.text_config),
  };
}

export const COMPONENTS = ['vision_tower', 'mm_projector', 'image_newline', 'audio_encoder', 'audio_projector', 'face_encoder', 'face_projector', 'fusion', 'llm'] as const;
export type Component = (typeof COMPONENTS)[number];

/**
 * Parameters per component and in total, from the config alone (the encoders' own count
 * functions where they export one: Whisper with its position table, FaceXFormer with its Swin
 * and fusion, Qwen2 with embeddings and head).
 */
export function omniParamCounts(c: OmniConfig): Record<Component | 'total', number> {
  const H = hiddenSize(c);
  const visual = llavaVisualParams(llavaConfig(c));
  const [faceChannels] = faceMapShape(c.face_config);
  const counts: Record<Component, number> = {
    vision_tower: countParams(visual.vision_tower),
    mm_projector: countParams(visual.mm_projector),
    image_newline: visual.image_newline ? H : 0,
    audio_encoder: whisperEncoderParamCount(c.audio_config),
    audio_projector: c.audio_config.d_model * H + H + H * H + H,
    face_encoder: faceEncoderOf(c.face_config).paramCount(c.face_config),
    face_projector: faceProjectorParamCount(faceChannels, H),
    fusion: fusionParamCount(c.fusion, H),
    llm: qwen2ParamCount(c.text_config),
  };
  return { ...counts, total: Object.values(counts).reduce((a, b) => a + b, 0) };
}

// ------------------------------------------------------------------ token counts

/** Tokens one frame contributes: general visual (after pooling) and face. */
export function tokensPerFrameOf(c: OmniConfig): { visual: number; face: number } {
  return { visual: tokensPerFrame(llavaConfig(c)), face: c.face_pool_size ** 2 };
}

/** Length of the `<video>` block (both streams), or of one stream alone. */
export function videoTokenCount(c: OmniConfig, streams: { visual?: boolean; face?: boolean } = {}): number {
  const { visual, face } = tokensPerFrameOf(c);
  const useV = streams.visual !== false;
  const useF = streams.face !== false;
  return fusedLength(c.fusion, c.num_frames, useV ? visual : 0, useF ? face : 0, c.mm_newline_position === 'one_token');
}

/** Length of the `<audio>` block for `melFrames` mel frames (3000 -> 500). */
export const audioTokenCountOf = (c: OmniConfig, melFrames: number): number => audioTokenCount(audioPathConfig(c), melFrames);

// ------------------------------------------------------------------ forward

export interface OmniInputs extends EncoderFeatures {
  /** [B, L] i32, with video_token_index / audio_token_index where the blocks go */
  readonly input_ids: Tensor;
  /** [B*T, 3, S, S], frame t of sample b at row b*T + t */
  readonly pixel_values?: Tensor;
  /** [B*T, 3, Sf, Sf], the face crops of the same frames, ImageNet mean/std normalised */
  readonly face_values?: Tensor;
  /** [B, mels, M] log-mel */
  readonly input_features?: Tensor;
  /** [B, L] i32: the id to predict at each position, or ignore_index */
  readonly labels?: Tensor;
}

/**
 * The frozen encoders' outputs. The encoders are frozen in every training stage, so these can be
 * computed once per sample (encoderFeatures) and given to omniForward instead of the raw inputs:
 * a feature, when present, replaces its encoder (the result is the same).
 */
export interface EncoderFeatures {
  /** SigLIP at mm_vision_select_layer: [B*T, patches, vision hidden] */
  readonly vision_hidden?: Tensor;
  /** the face encoder's map: [B*T, C, h, w] */
  readonly face_map?: Tensor;
  /** the Whisper encoder's last_hidden_state: [B, frames', d_model] */
  readonly audio_hidden?: Tensor;
}

/** Runs the frozen encoders on whichever raw inputs are given. */
export function encoderFeatures(c: OmniConfig, p: OmniParams, inputs: { pixel_values?: Tensor; face_values?: Tensor; input_features?: Tensor }): EncoderFeatures {
  return {
    ...(inputs.pixel_values ? { vision_hidden: siglipForward(llavaTowerConfig(llavaConfig(c)), p.vision_tower.vision_tower.vision_model, inputs.pixel_values) } : {}),
    ...(inputs.face_values ? { face_map: faceEncoderOf(c.face_config).forward(c.face_config, p.face_encoder, inputs.face_values) } : {}),
    ...(inputs.input_features ? { audio_hidden: whisperEncoder(c.audio_config, p.audio_encoder, inputs.input_features) } : {}),
  };
}

const linear2 = (l: { weight: Tensor; bias: Tensor }, x: Tensor) => x.matmul(l.weight.transpose()).add(l.bias);

/** Face tokens per frame from the face map [B*T, C, h, w] -> [B, T, face_pool_size^2, H]. */
export function faceTokensFromMap(c: OmniConfig, p: OmniParams, map: Tensor, B: number): Tensor {
  const T = c.num_frames;
  const [BT, C] = map.shape;
  const s = c.face_pool_size;
  if (map.rank !== 4 || BT !== B * T) throw new Error(`omni-emotion: the face map must be [B*T = ${B * T}, C, h, w], got [${map.shape.join(', ')}]`);
  const tokens = adaptiveAvgPool2d(map, s).reshape([BT, C, s * s]).transpose(1, 2); // row-major (y, x), channels last
  return linear2(p.face_projector['2'], gelu(linear2(p.face_projector['0'], tokens))).reshape([B, T, s * s, hiddenSize(c)]);
}

/** Face tokens per frame: [B*T, 3, Sf, Sf] -> [B, T, face_pool_size^2, H]. */
export const faceTokensOf = (c: OmniConfig, p: OmniParams, faceValues: Tensor, B: number): Tensor => faceTokensFromMap(c, p, encoderFeatures(c, p, { face_values: faceValues }).face_map!, B);

/**
 * General visual tokens per frame (no newline) from SigLIP's features [B*T, N, V]: LLaVA's
 * mm_projector, then the 2x pooling per frame -> [B, T, Nv, H] (visualTokens of llava.ts without
 * its tower and newline).
 */
export function visualTokensFromHidden(c: OmniConfig, p: OmniParams, hidden: Tensor, B: number): Tensor {
  const T = c.num_frames;
  if (hidden.rank !== 3 || hidden.shape[0] !== B * T) throw new Error(`omni-emotion: the vision features must be [B*T = ${B * T}, patches, width], got [${hidden.shape.join(', ')}]`);
  const side = numPatchesPerSide(llavaTowerConfig(llavaConfig(c)));
  const pooled = pool2d(projector(p.mm_projector)(hidden), side, c.mm_spatial_pool_stride, c.mm_spatial_pool_mode);
  return pooled.reshape([B, T, pooled.shape[1], hiddenSize(c)]);
}

/** General visual tokens per frame (no newline): [B*T, 3, S, S] -> [B, T, Nv, H]. */
export const visualTokensOf = (c: OmniConfig, p: OmniParams, pixelValues: Tensor, B: number): Tensor => visualTokensFromHidden(c, p, encoderFeatures(c, p, { pixel_values: pixelValues }).vision_hidden!, B);

/** The `<video>` block [B, Lv, H] from whichever of the vision / face inputs (or features) are given. */
export function videoBlock(c: OmniConfig, p: OmniParams, inputs: OmniInputs, B: number): Tensor {
  const vh = inputs.vision_hidden ?? (inputs.pixel_values && encoderFeatures(c, p, { pixel_values: inputs.pixel_values }).vision_hidden);
  const fm = inputs.face_map ?? (inputs.face_values && encoderFeatures(c, p, { face_values: inputs.face_values }).face_map);
  const visual = vh ? visualTokensFromHidden(c, p, vh, B) : undefined;
  const face = fm ? faceTokensFromMap(c, p, fm, B) : undefined;
  return fuseVideo(c.fusion, { visual, face, newline: c.mm_newline_position === 'one_token' ? p.image_newline : undefined }, { params: p.fusion, heads: c.fusion_num_heads, eps: c.fusion_layer_norm_eps });
}

/** The `<audio>` block [B, Na, H] from log-mel [B, mels, M] (or the Whisper features [B, frames', d]). */
export function audioBlock(c: OmniConfig, p: OmniParams, inputFeatures?: Tensor, audioHidden?: Tensor): Tensor {
  const h = audioHidden ?? whisperEncoder(c.audio_config, p.audio_encoder, inputFeatures!);
  const k = c.audio_pool_stride;
  if (h.rank !== 3 || h.shape[2] !== c.audio_config.d_model || h.shape[1] < k) throw new Error(`omni-emotion: the audio features must be [B, frames >= ${k}, ${c.audio_config.d_model}], got [${h.shape.join(', ')}]`);
  return audioProjector(p.audio_projector, avgPoolTime(h, k, k));
}

type I32 = Tensor<Shape, 'i32'>;

export interface MediaBlock {
  /** the placeholder id in input_ids */
  readonly id: number;
  /** [B, n, H] */
  readonly tokens: Tensor;
}

/**
 * Replaces, in every row, the position holding each block's placeholder id by the block's n
 * tokens: text [B, L, H] -> [B, L - K + sum n, H]; labels [B, L] likewise, with `ignore` on the
 * block positions. The row's placeholder positions are found on the device (first occurrence;
 * a row without one gives wrong output: see checkPlaceholders), the blocks may come in any order.
 */
export function spliceBlocks(ids: I32, text: Tensor, blocks: readonly MediaBlock[], labels?: Tensor, ignore = -100): { embeds: Tensor; labels?: Tensor } {
  const [B, L, H] = text.shape;
  if (ids.rank !== 2 || ids.shape[0] !== B || ids.shape[1] !== L) throw new Error(`omni splice: input_ids [${ids.shape.join(', ')}] do not match the text embeddings [${text.shape.join(', ')}]`);
  blocks.forEach((b) => {
    if (b.tokens.rank !== 3 || b.tokens.shape[0] !== B || b.tokens.shape[2] !== H) throw new Error(`omni splice: the block for placeholder ${b.id} is [${b.tokens.shape.join(', ')}], expected [${B}, n, ${H}]`);
  });
  if (blocks.length === 0) return { embeds: text, labels };
  const n = blocks.map((b) => b.tokens.shape[1]);
  const Lp = L - blocks.length + n.reduce((a, b) => a + b, 0);
  const S = L + n.reduce((a, b) => a + b, 0); // rows of one sample's gather table: text, then the blocks
  // p_k [B, 1]: the placeholder's position in the row
  const pos: I32[] = blocks.map((b) => ids.eq(b.id).cast('f32').argmax(-1, true));
  // q_k: where block k starts in the spliced row (blocks placed earlier in the row shift it)
  const start: I32[] = pos.map((pk, k) => pos.reduce((acc: I32, pj, j) => (j === k ? acc : acc.add(pj.lt(pk).cast('i32').mul(n[j] - 1))), pk));
  const j: I32 = iota([B, Lp], 1);
  const row: I32 = iota([B, Lp], 0);
  // text index of a text position: j minus the extra length of every block that ended before it
  const textIdx: I32 = start.reduce((acc: I32, q, k) => acc.sub(j.ge(q.add(n[k])).cast('i32').mul(n[k] - 1)), j).minimum(L - 1);
  let local: I32 = textIdx;
  let isBlock: Tensor<Shape, 'bool'> | undefined;
  let offset = L;
  blocks.forEach((_, k) => {
    const inside = j.ge(start[k]).logicalAnd(j.lt(start[k].add(n[k])));
    local = where(inside, j.sub(start[k]).add(offset), local);
    isBlock = isBlock ? isBlock.logicalOr(inside) : inside;
    offset += n[k];
  });
  const table = concat([text, ...blocks.map((b) => b.tokens)], 1).reshape([B * S, H]);
  const embeds = table.take(local.add(row.mul(S)), 0);
  if (!labels) return { embeds };
  const lab = (labels as I32).reshape([B * L]).take(textIdx.add(row.mul(L)), 0);
  return { embeds, labels: where(isBlock!, full([B, Lp], ignore, 'i32'), lab) };
}

export interface OmniEmbeddings {
  /** the LLM's inputs_embeds [B, L', H] */
  readonly embeds: Tensor;
  /** labels aligned with embeds [B, L'] (when labels were given) */
  readonly labels?: Tensor;
  /** the blocks that were spliced, by kind */
  readonly video?: Tensor;
  readonly audio?: Tensor;
  /** the text embeddings before splicing [B, L, H] */
  readonly text: Tensor;
}

/** Text embeddings with the media blocks spliced in at their placeholders. */
export function omniEmbeddings(c: OmniConfig, p: OmniParams, inputs: OmniInputs): OmniEmbeddings {
  const ids = inputs.input_ids;
  if (ids.rank !== 2 || ids.dtype !== 'i32') throw new Error(`omni-emotion: input_ids must be i32 [B, L], got ${ids.dtype} [${ids.shape.join(', ')}]`);
  const [B, L] = ids.shape;
  const T = c.num_frames;
  for (const k of ['pixel_values', 'face_values', 'vision_hidden', 'face_map'] as const) {
    const x = inputs[k];
    if (x && x.shape[0] !== B * T) throw new Error(`omni-emotion: ${k} has ${x.shape[0]} frames; ${B} samples x num_frames ${T} = ${B * T} expected (frame t of sample b at row b*T + t)`);
  }
  for (const k of ['input_features', 'audio_hidden'] as const) {
    const x = inputs[k];
    if (x && x.shape[0] !== B) throw new Error(`omni-emotion: ${k} has batch ${x.shape[0]}, input_ids ${B}`);
  }
  if (inputs.labels && (inputs.labels.dtype !== 'i32' || inputs.labels.shape.join() !== ids.shape.join())) throw new Error(`omni-emotion: labels must be i32 [${B}, ${L}], got ${inputs.labels.dtype} [${inputs.labels.shape.join(', ')}]`);
  const dims = qwen2Dims(c.text_config);
  // placeholders (negative) embed as the pad row; their embedding is replaced by the splice
  const text = qwen2Embed(dims, p.llm as Qwen2Weights, where(ids.lt(0), c.pad_token_id, ids));
  const video = inputs.pixel_values || inputs.face_values || inputs.vision_hidden || inputs.face_map ? videoBlock(c, p, inputs, B) : undefined;
  const audio = inputs.input_features || inputs.audio_hidden ? audioBlock(c, p, inputs.input_features, inputs.audio_hidden) : undefined;
  const blocks: MediaBlock[] = [];
  if (video) blocks.push({ id: c.video_token_index, tokens: video });
  if (audio) blocks.push({ id: c.audio_token_index, tokens: audio });
  const { embeds, labels } = spliceBlocks(ids as I32, text, blocks, inputs.labels, c.ignore_index);
  return { embeds, labels, video, audio, text };
}

/** Causal-LM loss: logits [B, L', V] at i against labels [B, L'] at i + 1, ignore_index skipped, mean. */
export function causalLmLoss(logits: Tensor, labels: Tensor, ignore = -100): Tensor {
  const Lp = logits.shape[1];
  return crossEntropy(logits.slice([null, [0, Lp - 1]]), labels.slice([null, [1, Lp]]), { ignoreIndex: ignore });
}

/** logits [B, L', vocab] and, with labels, the loss over the answer tokens. */
export function omniForward(c: OmniConfig, p: OmniParams, inputs: OmniInputs): { logits: Tensor; loss?: Tensor } {
  const { embeds, labels } = omniEmbeddings(c, p, inputs);
  const dims = qwen2Dims(c.text_config);
  const llm = p.llm as Qwen2Weights;
  const logits = qwen2Head(dims, llm, qwen2Decoder(dims, llm, embeds, iota([embeds.shape[1]], 0)));
  return labels ? { logits, loss: causalLmLoss(logits, labels, c.ignore_index) } : { logits };
}

/** The training loss for runtime/train (batch = OmniInputs with labels). */
export const omniLoss = (c: OmniConfig) => ({ params, batch }: { params: any; batch: OmniInputs }): Tensor => {
  if (!batch.labels) throw new Error('omniLoss: the batch has no labels');
  return omniForward(c, params, batch).loss!;
};

// ------------------------------------------------------------------ host-side helpers

/** Throws, naming the row, unless every row of `ids` holds exactly one of each placeholder in `ids`. */
export function checkPlaceholders(c: OmniConfig, ids: readonly (readonly number[])[], media: { video: boolean; audio: boolean }): void {
  ids.forEach((row, b) => {
    for (const [kind, id, want] of [['<video>', c.video_token_index, media.video], ['<audio>', c.audio_token_index, media.audio]] as const) {
      const count = row.filter((x) => x === id).length;
      if (count !== (want ? 1 : 0)) throw new Error(`omni-emotion: row ${b} holds ${count} ${kind} placeholders (${id}); ${want ? 'exactly one' : 'none'} expected`);
    }
    const bad = row.findIndex((x) => x < 0 && x !== c.video_token_index && x !== c.audio_token_index);
    if (bad >= 0) throw new Error(`omni-emotion: row ${b} holds the negative id ${row[bad]} at ${bad}, which is no placeholder`);
  });
}

/** Length L' of the spliced sequence for text of length L with the given blocks. */
export function splicedLength(c: OmniConfig, L: number, media: { video?: boolean | { visual?: boolean; face?: boolean }; audioMelFrames?: number }): number {
  let n = L;
  if (media.video) n += videoTokenCount(c, typeof media.video === 'object' ? media.video : {}) - 1;
  if (media.audioMelFrames) n += audioTokenCountOf(c, media.audioMelFrames) - 1;
  return n;
}

// ------------------------------------------------------------------ registration

/** Problems with a [N, 3, S, S] batch of frames for SigLIP. */
function checkFrames(c: OmniConfig, s: readonly number[]): string | undefined {
  if (s.length === 4 && s[0] % c.num_frames !== 0) return `${s[0]} frames is not a multiple of num_frames ${c.num_frames}`;
  return checkPixels(llavaTowerConfig(llavaConfig(c)), s);
}

function checkFaces(c: OmniConfig, s: readonly number[]): string | undefined {
  const ch = c.face_config.num_channels ?? 3;
  if (s.length !== 4 || s[1] !== ch) return `expected [B*T, ${ch}, Sf, Sf] (face_config image_size ${faceImageSize(c.face_config)})`;
  if (s[0] % c.num_frames !== 0) return `${s[0]} face crops is not a multiple of num_frames ${c.num_frames}`;
  const side = Math.min(s[2], s[3]);
  const [, mapSide] = faceMapShape(c.face_config, side);
  if (mapSide < c.face_pool_size) return `a ${side} px face gives a ${mapSide}-wide map, smaller than face_pool_size ${c.face_pool_size}`;
  return undefined;
}

function checkFeatures(c: OmniConfig, s: readonly number[]): string | undefined {
  const a = c.audio_config;
  if (s.length !== 3 || s[1] !== a.num_mel_bins) return `expected [B, num_mel_bins = ${a.num_mel_bins}, frames]`;
  const enc = whisperOutputFrames(s[2]);
  if (enc > a.max_source_positions) return `${s[2]} mel frames give ${enc} encoder frames, more than max_source_positions ${a.max_source_positions}`;
  if (enc < c.audio_pool_stride) return `${s[2]} mel frames give ${enc} encoder frames, fewer than audio_pool_stride ${c.audio_pool_stride}`;
  return undefined;
}

export const omniArchitecture = registerArchitecture<OmniConfig>({
  name: 'omni-emotion',
  config: OmniConfigCodec,
  params: (c) => omniParams(c) as unknown as ParamTree,
  inputs: (c) => [
    { name: 'input_ids', dtype: 'i32', check: (s) => (s.length !== 2 || s[0] < 1 || s[1] < 1 ? 'expected [batch, length] with the <video> and <audio> placeholder ids' : undefined) },
    { name: 'pixel_values', dtype: 'f32', check: (s) => checkFrames(c, s) },
    { name: 'face_values', dtype: 'f32', check: (s) => checkFaces(c, s) },
    { name: 'input_features', dtype: 'f32', check: (s) => checkFeatures(c, s) },
  ],
  output: 'logits',
  forward: (c, params, inputs) =>
    omniForward(c, params as OmniParams, { input_ids: inputs.input_ids, pixel_values: inputs.pixel_values, face_values: inputs.face_values, input_features: inputs.input_features }).logits,
  weights: {
    prefixes: ['model.'],
    // buffers of a FaceXFormer checkpoint and RoPE's old inv_freq buffer
    ignore: ['face_encoder.**.relative_position_index', 'llm.model.layers.*.self_attn.rotary_emb.inv_freq'],
  },
});
