/**
 * The Omni-Emotion config (architecture `omni-emotion`): one JSON object holding the Hugging Face
 * config of every part under its HF field names, LLaVA-OneVision's `mm_*` fields for the visual
 * path, and the project's fields for the audio/face paths, the fusion and the placeholders.
 *
 *   {
 *     "model_type": "omni-emotion",
 *     "text_config":   Qwen2Config            (the LLM; its hidden_size is the width H of every projector)
 *     "vision_config": SiglipVisionConfig     (the full tower; LLaVA keeps layers up to mm_vision_select_layer)
 *     "audio_config":  WhisperConfig          (encoder fields)
 *     "face_config":   {"model_type": "facexformer", SwinConfig fields + fusion_hidden_size}
 *                    | {"model_type": "tiny_face_cnn", image_size, hidden_sizes, ...}   (the tiny preset's face encoder)
 *     "mm_vision_select_layer": -2, "mm_projector_type": "mlp2x_gelu", "mm_spatial_pool_mode": "bilinear",
 *     "mm_spatial_pool_stride": 2, "mm_newline_position": "one_token",
 *     "audio_pool_stride": 3, "mm_audio_projector_type": "mlp2x_gelu",
 *     "face_pool_size": 7, "mm_face_projector_type": "mlp2x_gelu",
 *     "fusion": "video_concat" | "frame_concat" | "cross_attention", "fusion_num_heads": 28,
 *     "num_frames": 8,
 *     "video_token_index": -200, "audio_token_index": -300, "ignore_index": -100
 *   }
 *
 * Every field but the four sub-configs has a default (the values shown: PAPER.md "Decisions").
 * Decoding fills them and checks what crosses parts (the fusion heads divide H, the face map is
 * at least face_pool_size on a side, the placeholder ids are negative and distinct), naming the
 * field in the error.
 */
import * as t from 'io-ts';
import { NonNegativeInt, PositiveInt, PositiveNumber, decodeOrThrow } from '../../dsl/config';
import type { Qwen2Config } from '../llm/qwen2';
import { qwen2Architecture } from '../llm/qwen2';
import type { SiglipVisionConfig } from '../vision/siglip';
import { SiglipVisionConfigCodec, siglipVision } from '../vision/siglip';
import type { LlavaVisualConfig } from '../vision/llava';
import { checkLlavaConfig } from '../vision/llava';
import type { WhisperEncoderConfig } from '../audio/whisper';
import { WhisperEncoderConfig as WhisperEncoderConfigCodec, whisperEncoderArchitecture } from '../audio/whisper';
import type { AudioPathConfig } from '../audio/projector';
import { FaceXFormerConfig, faceEncoderArchitecture, faceOutputSide } from '../face/facexformer';
import { PLACEHOLDERS, IGNORE_INDEX } from '../../data/tokenizer/chat';

// ------------------------------------------------------------------ the face encoders' configs

/**
 * Error paths: io-ts names an intersection's members by index ('1.fusion') unless the context
 * entry above them has an intersection type, which a wrapper codec hides. Validating with the
 * last entry retyped as the intersection itself gives 'fusion' and 'audio_config.d_model'.
 */
const retyped = (ctx: t.Context, shape: t.Decoder<unknown, unknown>): t.Context => [...ctx.slice(0, -1), { ...ctx[ctx.length - 1], type: shape }];
const unindexed = <A>(codec: t.Type<A, unknown, unknown>, shape: t.Decoder<unknown, unknown>): t.Type<A, unknown, unknown> =>
  new t.Type<A, unknown, unknown>(codec.name, codec.is, (u, c) => codec.validate(u, retyped(c, shape)), codec.encode);

/**
 * A tiny convolutional face encoder (the `tiny` preset's, so that it trains in minutes):
 * `hidden_sizes.length` Conv2d(k3, s2, p1) + GELU layers, [N, C, S, S] -> [N, hidden_sizes[-1], S', S'],
 * S' = S halved (rounding up) once per layer. Parameter names `convs.{i}.weight|bias`.
 */
export const TinyFaceCnnConfigCodec = t.intersection([
  t.type({ model_type: t.literal('tiny_face_cnn'), image_size: PositiveInt, hidden_sizes: t.array(PositiveInt) }),
  t.partial({ num_channels: PositiveInt }),
], 'TinyFaceCnnConfig');
export interface TinyFaceCnnConfig {
  readonly model_type: 'tiny_face_cnn';
  readonly image_size: number;
  readonly hidden_sizes: readonly number[];
  readonly num_channels?: number;
}

/**
 * face-api's expression CNN (models/face/expression-net.ts) up to its pooling: crops [N, 3, S, S]
 * (112 as face-api feeds it; ImageNet-normalised like every face encoder's input, turned back into
 * the 0..255 RGB face-api wants) -> 4 dense blocks -> [N, 256, ceil(S/16), ceil(S/16)].
 * Pretrained weights ship with the repo (data/fixtures/face-api), so small presets get a real
 * expression encoder. Parameter names are face-api's (`dense0/conv0/filters`, ...), no `fc/`.
 */
export const FaceApiExpressionConfigCodec = t.intersection([
  t.type({ model_type: t.literal('face_api_expression') }),
  t.partial({ image_size: PositiveInt, num_channels: t.literal(3) }),
], 'FaceApiExpressionConfig');
export interface FaceApiExpressionConfig {
  readonly model_type: 'face_api_expression';
  readonly image_size?: number;
  readonly num_channels?: 3;
}

export type FaceEncoderConfig = (FaceXFormerConfig & { readonly model_type?: 'facexformer' }) | TinyFaceCnnConfig | FaceApiExpressionConfig;

/** The face encoders a config may name (`face_config.model_type`; absent = facexformer). */
export const FACE_ENCODERS = ['facexformer', 'tiny_face_cnn', 'face_api_expression'] as const;

/** Dispatches on `model_type`, so an error names the fields of the encoder that was meant. */
const FaceEncoderConfigCodec = new t.Type<FaceEncoderConfig, unknown, unknown>(
  'FaceEncoderConfig',
  (u): u is FaceEncoderConfig => typeof u === 'object' && u !== null,
  (u, ctx) => {
    const kind = typeof u === 'object' && u !== null ? (u as { model_type?: unknown }).model_type : undefined;
    if (kind === 'tiny_face_cnn') {
      const r = TinyFaceCnnConfigCodec.validate(u, retyped(ctx, TinyFaceCnnConfigCodec));
      if (r._tag === 'Right' && r.right.hidden_sizes.length === 0) return t.failure(u, [...ctx, { key: 'hidden_sizes', type: t.unknown, actual: r.right.hidden_sizes }], 'needs at least one layer');
      return r as t.Validation<FaceEncoderConfig>;
    }
    if (kind === 'face_api_expression') return FaceApiExpressionConfigCodec.validate(u, retyped(ctx, FaceApiExpressionConfigCodec)) as t.Validation<FaceEncoderConfig>;
    if (kind === undefined || kind === 'facexformer') return faceEncoderArchitecture.config.validate(u, retyped(ctx, FaceXFormerConfig)) as t.Validation<FaceEncoderConfig>;
    return t.failure(kind, [...ctx, { key: 'model_type', type: t.unknown, actual: kind }], `unknown face encoder ${JSON.stringify(kind)}; expected one of ${FACE_ENCODERS.join(', ')}`);
  },
  (a) => a,
);

/** Image side the face encoder expects (face crops are resized to it): facexformer 224 by default. */
export function faceImageSize(c: FaceEncoderConfig): number {
  if (c.model_type === 'tiny_face_cnn') return c.image_size;
  if (c.model_type === 'face_api_expression') return c.image_size ?? 112;
  const s = (c as FaceXFormerConfig).image_size ?? 224;
  return Array.isArray(s) ? s[0] : (s as number);
}

/** [channels, side] of the face encoder's map for a square input of `side` pixels. */
export function faceMapShape(c: FaceEncoderConfig, side = faceImageSize(c)): [number, number] {
  if (c.model_type === 'tiny_face_cnn') {
    let s = side;
    for (let i = 0; i < c.hidden_sizes.length; i++) s = Math.floor((s - 1) / 2) + 1;
    return [c.hidden_sizes[c.hidden_sizes.length - 1], s];
  }
  // four stride-2 "same" convs
  if (c.model_type === 'face_api_expression') return [256, Math.ceil(side / 16)];
  const f = c as FaceXFormerConfig;
  return [f.fusion_hidden_size, faceOutputSide(f, side)];
}

// ------------------------------------------------------------------ the config

export const FUSIONS = ['frame_concat', 'video_concat', 'cross_attention'] as const;
export type Fusion = (typeof FUSIONS)[number];

const NegativeInt = new t.Type<number, number, unknown>('NegativeInt', (u): u is number => t.Int.is(u) && (u as number) < 0, (u, c) => (t.Int.is(u) && (u as number) < 0 ? t.success(u as number) : t.failure(u, c, 'expected a negative integer (placeholder ids are not vocabulary)')), (a) => a);

const OmniFields = t.intersection([
  t.type({
    text_config: qwen2Architecture.config,
    vision_config: unindexed(siglipVision.config, SiglipVisionConfigCodec),
    audio_config: unindexed(whisperEncoderArchitecture.config, WhisperEncoderConfigCodec),
    face_config: FaceEncoderConfigCodec,
  }),
  t.partial({
    model_type: t.literal('omni-emotion'),
    // the visual path (LLaVA-OneVision's config.json fields)
    mm_vision_select_layer: t.Int,
    mm_projector_type: t.literal('mlp2x_gelu'),
    mm_spatial_pool_mode: t.keyof({ bilinear: null, average: null, max: null }),
    mm_spatial_pool_stride: PositiveInt,
    mm_newline_position: t.keyof({ one_token: null, no_token: null }),
    // the audio path (HumanOmni's names)
    audio_pool_stride: PositiveInt,
    mm_audio_projector_type: t.literal('mlp2x_gelu'),
    // the face path
    face_pool_size: PositiveInt,
    mm_face_projector_type: t.literal('mlp2x_gelu'),
    // fusion
    fusion: t.keyof({ frame_concat: null, video_concat: null, cross_attention: null }),
    fusion_num_heads: PositiveInt,
    fusion_layer_norm_eps: PositiveNumber,
    // video and placeholders
    num_frames: PositiveInt,
    video_token_index: NegativeInt,
    audio_token_index: NegativeInt,
    ignore_index: t.Int,
    // the LLM's pad id for padding text (default text_config.pad_token_id, else 0)
    pad_token_id: NonNegativeInt,
  }),
], 'OmniEmotionConfig');

/** The decoded config: every default filled in. */
export interface OmniConfig {
  readonly model_type: 'omni-emotion';
  readonly text_config: Qwen2Config;
  readonly vision_config: SiglipVisionConfig;
  readonly audio_config: WhisperEncoderConfig;
  readonly face_config: FaceEncoderConfig;
  readonly mm_vision_select_layer: number;
  readonly mm_projector_type: 'mlp2x_gelu';
  readonly mm_spatial_pool_mode: 'bilinear' | 'average' | 'max';
  readonly mm_spatial_pool_stride: number;
  readonly mm_newline_position: 'one_token' | 'no_token';
  readonly audio_pool_stride: number;
  readonly mm_audio_projector_type: 'mlp2x_gelu';
  readonly face_pool_size: number;
  readonly mm_face_projector_type: 'mlp2x_gelu';
  readonly fusion: Fusion;
  readonly fusion_num_heads: number;
  readonly fusion_layer_norm_eps: number;
  readonly num_frames: number;
  readonly video_token_index: number;
  readonly audio_token_index: number;
  readonly ignore_index: number;
  readonly pad_token_id: number;
}

/** What decoding returns, or the first cross-part problem as [field, message]. */
function resolve(v: t.TypeOf<typeof OmniFields>): OmniConfig | [string, string] {
  const c: OmniConfig = {
    model_type: 'omni-emotion',
    text_config: v.text_config,
    vision_config: v.vision_config as SiglipVisionConfig,
    audio_config: v.audio_config,
    face_config: v.face_config,
    mm_vision_select_layer: v.mm_vision_select_layer ?? -2,
    mm_projector_type: 'mlp2x_gelu',
    mm_spatial_pool_mode: v.mm_spatial_pool_mode ?? 'bilinear',
    mm_spatial_pool_stride: v.mm_spatial_pool_stride ?? 2,
    mm_newline_position: v.mm_newline_position ?? 'one_token',
    audio_pool_stride: v.audio_pool_stride ?? 3,
    mm_audio_projector_type: 'mlp2x_gelu',
    face_pool_size: v.face_pool_size ?? 7,
    mm_face_projector_type: 'mlp2x_gelu',
    fusion: v.fusion ?? 'video_concat',
    fusion_num_heads: v.fusion_num_heads ?? v.text_config.num_attention_heads,
    fusion_layer_norm_eps: v.fusion_layer_norm_eps ?? 1e-5,
    num_frames: v.num_frames ?? 8,
    video_token_index: v.video_token_index ?? PLACEHOLDERS.video.id,
    audio_token_index: v.audio_token_index ?? PLACEHOLDERS.audio.id,
    ignore_index: v.ignore_index ?? IGNORE_INDEX,
    pad_token_id: v.pad_token_id ?? v.text_config.pad_token_id ?? 0,
  };
  const H = c.text_config.hidden_size;
  try {
    checkLlavaConfig(llavaConfig(c));
  } catch (e) {
    return ['mm_vision_select_layer', (e as Error).message];
  }
  if (H % c.fusion_num_heads !== 0) return ['fusion_num_heads', `${c.fusion_num_heads} does not divide the LLM width text_config.hidden_size ${H}`];
  const [, side] = faceMapShape(c.face_config);
  if (c.face_pool_size > side) return ['face_pool_size', `${c.face_pool_size} is larger than the face map's side ${side} (face_config at ${faceImageSize(c.face_config)} px)`];
  if (c.video_token_index === c.audio_token_index) return ['audio_token_index', `equals video_token_index ${c.video_token_index}`];
  if (c.pad_token_id >= c.text_config.vocab_size) return ['pad_token_id', `${c.pad_token_id} is not below text_config.vocab_size ${c.text_config.vocab_size}`];
  if (c.audio_pool_stride > c.audio_config.max_source_positions) return ['audio_pool_stride', `${c.audio_pool_stride} is more than audio_config.max_source_positions`];
  return c;
}

/** The io-ts codec (lenient: unknown fields are ignored); decodes to OmniConfig with defaults filled. */
export const OmniConfigCodec = new t.Type<OmniConfig, unknown, unknown>(
  'OmniEmotionConfig',
  (u): u is OmniConfig => OmniFields.is(u) && typeof (u as { fusion?: unknown }).fusion === 'string',
  (u, ctx) => {
    const r = OmniFields.validate(u, retyped(ctx, OmniFields));
    if (r._tag === 'Left') return r;
    const c = resolve(r.right);
    if (Array.isArray(c)) return t.failure((r.right as Record<string, unknown>)[c[0]], [...ctx, { key: c[0], type: t.unknown, actual: (r.right as Record<string, unknown>)[c[0]] }], c[1]);
    return t.success(c);
  },
  (a) => a,
);

/** Decodes a config object, throwing a ConfigError that names every failing field. */
export const omniConfig = (value: unknown, label = 'omni-emotion config'): OmniConfig => decodeOrThrow(OmniConfigCodec, value, label);

// ------------------------------------------------------------------ the parts' own configs

/** The LLM width H (every projector maps to it). */
export const hiddenSize = (c: OmniConfig): number => c.text_config.hidden_size;

/** The visual path as models/vision/llava.ts takes it. */
export function llavaConfig(c: OmniConfig): LlavaVisualConfig {
  return {
    hidden_size: c.text_config.hidden_size,
    vision_config: c.vision_config,
    mm_hidden_size: c.vision_config.hidden_size,
    mm_vision_select_layer: c.mm_vision_select_layer,
    mm_projector_type: c.mm_projector_type,
    mm_spatial_pool_mode: c.mm_spatial_pool_mode,
    mm_spatial_pool_stride: c.mm_spatial_pool_stride,
    mm_newline_position: c.mm_newline_position,
  };
}

/** The audio path as models/audio/projector.ts takes it. */
export const audioPathConfig = (c: OmniConfig): AudioPathConfig => ({ whisper: c.audio_config, hidden_size: c.text_config.hidden_size, pool: c.audio_pool_stride });
