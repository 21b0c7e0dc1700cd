/**
 * Omni-Emotion presets, as configs of architecture `omni-emotion` (models/omni/config.ts):
 *
 * - `tiny`: trains on a 2-core machine in minutes. SigLIP 64 px / patch 16 / width 64 (3 layers, of
 *   which LLaVA's penultimate-layer rule runs 2; 4x4 patches pooled to 2x2 = 4 tokens a frame);
 *   Whisper 2 layers width 64 on 3 s of audio (300 mel frames -> 150 -> 50 tokens; 128 mel bins as
 *   whisper-large-v3, so the same log-mel front end serves); a 3-layer conv face encoder on 48 px
 *   crops (-> 64 x 6 x 6, pooled to 3x3 = 9 tokens a frame); Qwen2 2 layers width 128 over the byte
 *   tokenizer's 261 ids (data/tokenizer/bytes.ts); 4 frames.
 * - `small`: a few times bigger, with the real face encoder's architecture: SigLIP 128 px (16
 *   tokens a frame), Whisper 4 layers width 128 on 6 s, FaceXFormer on a 2-stage Swin (64 px crops,
 *   16 x 16 map pooled to 4x4), Qwen2 4 layers width 256; 8 frames.
 * - `paper`: whisper-large-v3's encoder, SigLIP-so400m-patch14-384 (LLaVA-OneVision: 26 of 27
 *   layers), FaceXFormer (Swin-B, 224 px, 256 x 56 x 56 pooled to 7x7), Qwen2-7B, every projector
 *   to 3584, 8 frames of 196 + 49 tokens, 30 s of audio -> 500 tokens.
 *
 * `PRESET_INPUTS` gives the input sizes each preset is built for, `STAGE_TRAINABLE` the parameter
 * patterns each training stage updates (PAPER.md "Decisions").
 */
import { BYTE_SPECIAL_TOKENS } from '../../data/tokenizer/bytes';
import { whisperLargeV3Config } from '../audio/whisper';
import { siglipSo400mPatch14_384 } from '../vision/siglip';
import { faceXFormerPaperConfig } from '../face/facexformer';
import { qwen2_7b } from '../llm/qwen2';
import type { Fusion, OmniConfig } from './config';
import { omniConfig } from './config';

export const PRESETS = ['tiny', 'small', 'paper'] as const;
export type PresetName = (typeof PRESETS)[number];

/** The byte tokenizer's vocabulary and special ids (ByteTokenizer: 256 bytes + 5 specials). */
const BYTE_VOCAB = 256 + BYTE_SPECIAL_TOKENS.length;
const byteIds = { pad_token_id: 256, bos_token_id: 257, eos_token_id: [260, 258] };

const tinyJson = {
  model_type: 'omni-emotion',
  text_config: {
    model_type: 'qwen2', vocab_size: BYTE_VOCAB, hidden_size: 128, intermediate_size: 384, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false,
    max_position_embeddings: 2048, ...byteIds,
  },
  vision_config: { hidden_size: 64, intermediate_size: 256, num_hidden_layers: 3, num_attention_heads: 4, image_size: 64, patch_size: 16, num_channels: 3, hidden_act: 'gelu_pytorch_tanh', layer_norm_eps: 1e-6 },
  audio_config: { model_type: 'whisper', num_mel_bins: 128, d_model: 64, encoder_layers: 2, encoder_attention_heads: 4, encoder_ffn_dim: 256, max_source_positions: 150 },
  face_config: { model_type: 'tiny_face_cnn', image_size: 48, hidden_sizes: [16, 32, 64] },
  face_pool_size: 3,
  fusion_num_heads: 4,
  num_frames: 4,
};

const smallJson = {
  model_type: 'omni-emotion',
  text_config: {
    model_type: 'qwen2', vocab_size: BYTE_VOCAB, hidden_size: 256, intermediate_size: 768, num_hidden_layers: 4,
    num_attention_heads: 8, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false,
    max_position_embeddings: 4096, ...byteIds,
  },
  vision_config: { hidden_size: 128, intermediate_size: 512, num_hidden_layers: 5, num_attention_heads: 4, image_size: 128, patch_size: 16, num_channels: 3, hidden_act: 'gelu_pytorch_tanh', layer_norm_eps: 1e-6 },
  audio_config: { model_type: 'whisper', num_mel_bins: 128, d_model: 128, encoder_layers: 4, encoder_attention_heads: 4, encoder_ffn_dim: 512, max_source_positions: 300 },
  face_config: {
    model_type: 'facexformer', image_size: 64, patch_size: 4, num_channels: 3, embed_dim: 32, depths: [2, 2], num_heads: [2, 4],
    window_size: 4, mlp_ratio: 4.0, layer_norm_eps: 1e-5, fusion_hidden_size: 64,
  },
  face_pool_size: 4,
  fusion_num_heads: 8,
  num_frames: 8,
};

const paperJson = {
  model_type: 'omni-emotion',
  text_config: qwen2_7b,
  vision_config: siglipSo400mPatch14_384,
  audio_config: whisperLargeV3Config,
  face_config: faceXFormerPaperConfig,
  mm_vision_select_layer: -2,
  mm_projector_type: 'mlp2x_gelu',
  mm_spatial_pool_mode: 'bilinear',
  mm_spatial_pool_stride: 2,
  mm_newline_position: 'one_token',
  audio_pool_stride: 3,
  face_pool_size: 7,
  fusion: 'video_concat',
  fusion_num_heads: 28,
  num_frames: 8,
  video_token_index: -200,
  audio_token_index: -300,
  ignore_index: -100,
  pad_token_id: 151643,
};

const JSON_PRESETS: Record<PresetName, object> = { tiny: tinyJson, small: smallJson, paper: paperJson };

/** A preset's config.json object (what `omni-emotion run omni-emotion --config` reads). */
export function presetJson(name: PresetName, overrides: { readonly fusion?: Fusion } & Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
  return structuredClone({ ...JSON_PRESETS[name], ...overrides }) as Record<string, unknown>;
}

/** A preset's decoded config, optionally with another fusion variant or other top-level fields. */
export function preset(name: PresetName, overrides: { readonly fusion?: Fusion } & Readonly<Record<string, unknown>> = {}): OmniConfig {
  return omniConfig(presetJson(name, overrides), `omni-emotion preset '${name}'`);
}

/**
 * An override that swaps a preset's face encoder for face-api's pretrained expression CNN (weights
 * bundled: faceApiExpressionWeights in model.ts), 112 px crops, its 7x7 map pooled to 3x3:
 * `preset('tiny', FACE_API_FACE)`; face crops are then 112 px instead of PRESET_INPUTS' faceSize.
 */
export const FACE_API_FACE = { face_config: { model_type: 'face_api_expression', image_size: 112 }, face_pool_size: 3 } as const;

/** Input sizes a preset is built for: frame side (SigLIP), face-crop side, mel frames, audio seconds. */
export const PRESET_INPUTS: Record<PresetName, { frameSize: number; faceSize: number; melFrames: number; seconds: number }> = {
  tiny: { frameSize: 64, faceSize: 48, melFrames: 300, seconds: 3 },
  small: { frameSize: 128, faceSize: 64, melFrames: 600, seconds: 6 },
  paper: { frameSize: 384, faceSize: 224, melFrames: 3000, seconds: 30 },
};

/**
 * Parameters each stage trains (patterns of dsl/select.ts over omniParams' paths); everything else
 * is frozen. Stage 3 lists the LLM for full tuning; with LoRA, train `llm.**.lora_*` instead.
 */
export const STAGE_TRAINABLE: Record<1 | 2 | 3, readonly string[]> = {
  1: ['audio_projector'],
  2: ['face_projector', 'fusion'],
  3: ['mm_projector', 'image_newline', 'audio_projector', 'face_projector', 'fusion', 'llm'],
};
