/**
 * The general visual path of Omni-Emotion, as LLaVA-OneVision builds it for video
 * (LLaVA-NeXT `llava_arch.py`: encode_multimodals, get_2dPool, mm_newline_position "one_token"):
 *
 *   frames [B*T, 3, 384, 384] -> SigLIP, hidden_states[mm_vision_select_layer] (-2: the penultimate
 *   layer, no post_layernorm) [B*T, 729, 1152] -> mm_projector (mlp2x_gelu: Linear(1152 -> H),
 *   GELU, Linear(H -> H)) -> per frame: 27x27 grid, bilinear resize to ceil(27/2) = 14 (F.interpolate,
 *   align_corners=False) -> 196 tokens -> the T frames in temporal order, then one learned
 *   `image_newline` [H] -> [B, T*196 + 1, H].
 *
 * Parameter paths follow the LLaVA-OneVision checkpoint with its `model.` prefix removed:
 * `vision_tower.vision_tower.vision_model.*` (SigLIP; LLaVA deletes the last encoder layer and the
 * pooling head, so a checkpoint holds 26 layers and no head), `mm_projector.0.*`,
 * `mm_projector.2.*`, `image_newline`.
 */
import * as t from 'io-ts';
import type { Tensor } from '../../dsl/tensor';
import { concat } from '../../dsl/tensor';
import type { ParamSpec } from '../../dsl/params';
import { init, param } from '../../dsl/params';
import { gelu } from '../../compiler/composites';
import { interpolateBilinear } from '../../dsl/image';
import { PositiveInt, decodeOrThrow } from '../../dsl/config';
import type { LinearParams } from '../../dsl/nn';
import { linear, linearParams } from '../../dsl/nn';
import type { SiglipVisionConfig, SiglipVisionParams } from './siglip';
import { SiglipVisionConfigCodec, checkSiglipConfig, featureLayerIndex, numPatchesPerSide, siglipForward, siglipParams, siglipSo400mPatch14_384 } from './siglip';

// ------------------------------------------------------------------ config

/**
 * LLaVA-OneVision config.json field names for the visual path, plus `vision_config` (the SigLIP
 * config: LLaVA's config only names the tower, `mm_vision_tower`). `hidden_size` is the LLM width H.
 */
export const LlavaVisualConfigCodec = t.intersection([
  t.type({ hidden_size: PositiveInt, vision_config: SiglipVisionConfigCodec }),
  t.partial({
    mm_hidden_size: PositiveInt,
    mm_vision_select_layer: t.Int,
    mm_projector_type: t.literal('mlp2x_gelu'),
    mm_spatial_pool_mode: t.keyof({ bilinear: null, average: null, max: null }),
    mm_spatial_pool_stride: PositiveInt,
    mm_newline_position: t.keyof({ one_token: null, no_token: null }),
  }),
], 'LlavaVisualConfig');

export interface LlavaVisualConfig {
  /** the LLM width H */
  readonly hidden_size: number;
  /** the SigLIP tower as the checkpoint holds it */
  readonly vision_config: SiglipVisionConfig;
  /** must equal vision_config.hidden_size (1152) */
  readonly mm_hidden_size?: number;
  /** hidden_states index of the tower taken as features (default -2) */
  readonly mm_vision_select_layer?: number;
  readonly mm_projector_type?: 'mlp2x_gelu';
  /** default bilinear */
  readonly mm_spatial_pool_mode?: 'bilinear' | 'average' | 'max';
  /** default 2 */
  readonly mm_spatial_pool_stride?: number;
  /** default one_token: one image_newline after all frames */
  readonly mm_newline_position?: 'one_token' | 'no_token';
}

/** LLaVA-OneVision-7B (Qwen2-7B width 3584, SigLIP-so400m, penultimate layer, bilinear stride 2). */
export const llavaOneVision7bVisual: LlavaVisualConfig = {
  hidden_size: 3584,
  vision_config: siglipSo400mPatch14_384,
  mm_hidden_size: 1152,
  mm_vision_select_layer: -2,
  mm_projector_type: 'mlp2x_gelu',
  mm_spatial_pool_mode: 'bilinear',
  mm_spatial_pool_stride: 2,
  mm_newline_position: 'one_token',
};

/**
 * The tower LLaVA actually keeps: the layers up to `mm_vision_select_layer` (LLaVA-NeXT deletes the
 * rest: `del layers[-1:]` for -2), no pooling head, and the last kept layer's output without
 * post_layernorm (`vision_feature_layer: -1`). post_layernorm stays in the tree because the
 * checkpoint holds it (it is off the path).
 */
export function llavaTowerConfig(c: LlavaVisualConfig): SiglipVisionConfig {
  const keep = featureLayerIndex({ ...c.vision_config, vision_feature_layer: c.mm_vision_select_layer ?? -2 });
  if (keep < 1) throw new Error(`llava: mm_vision_select_layer ${c.mm_vision_select_layer} selects the embeddings; at least one encoder layer is needed`);
  return { ...c.vision_config, num_hidden_layers: keep, vision_use_head: false, vision_feature_layer: -1 };
}

export function checkLlavaConfig(c: LlavaVisualConfig): LlavaVisualConfig {
  checkSiglipConfig(c.vision_config);
  llavaTowerConfig(c);
  if (c.mm_hidden_size !== undefined && c.mm_hidden_size !== c.vision_config.hidden_size) throw new Error(`llava: mm_hidden_size ${c.mm_hidden_size} differs from the tower's hidden_size ${c.vision_config.hidden_size}`);
  return c;
}

export const decodeLlavaVisualConfig = (u: unknown, label = 'llava visual config'): LlavaVisualConfig => checkLlavaConfig(decodeOrThrow(LlavaVisualConfigCodec, u, label));

/** Tokens per frame after pooling (196 for 27x27 patches, stride 2). */
export function tokensPerFrame(c: LlavaVisualConfig): number {
  const side = numPatchesPerSide(c.vision_config);
  const s = c.mm_spatial_pool_stride ?? 2;
  const mode = c.mm_spatial_pool_mode ?? 'bilinear';
  const out = s === 1 ? side : mode === 'bilinear' ? Math.ceil(side / s) : Math.floor(side / s);
  return out * out;
}

/** Length of the visual token sequence of one video of T frames. */
export const visualTokenCount = (c: LlavaVisualConfig, frames: number): number => frames * tokensPerFrame(c) + ((c.mm_newline_position ?? 'one_token') === 'one_token' ? 1 : 0);

// ------------------------------------------------------------------ parameters

export interface LlavaVisualParams<T = Tensor> {
  vision_tower: { vision_tower: { vision_model: SiglipVisionParams<T> } };
  mm_projector: { '0': LinearParams<T>; '2': LinearParams<T> };
  image_newline?: T;
}

export function llavaVisualParams(c: LlavaVisualConfig): LlavaVisualParams<ParamSpec> {
  const H = c.hidden_size;
  const V = c.vision_config.hidden_size;
  const p: LlavaVisualParams<ParamSpec> = {
    vision_tower: { vision_tower: { vision_model: siglipParams(llavaTowerConfig(c)) } },
    mm_projector: { '0': linearParams(V, H), '2': linearParams(H, H) },
  };
  // LLaVA: torch.randn(H) * (1 / sqrt(H))
  if ((c.mm_newline_position ?? 'one_token') === 'one_token') p.image_newline = param([H], init.normal(1 / Math.sqrt(H)));
  return p;
}

// ------------------------------------------------------------------ forward

/** mlp2x_gelu: Linear(V -> H), GELU (exact, nn.GELU()), Linear(H -> H). */
export const projector = (p: LlavaVisualParams['mm_projector']) => (x: Tensor): Tensor => linear(p['2'])(gelu(linear(p['0'])(x)));

/**
 * get_2dPool: x [F, side*side, H] -> [F, side'*side', H], per frame on the side x side grid.
 * bilinear: F.interpolate(size = ceil(side / stride), align_corners=False); average/max: kernel =
 * stride = `stride`, floor mode.
 */
export function pool2d(x: Tensor, side: number, stride = 2, mode: 'bilinear' | 'average' | 'max' = 'bilinear'): Tensor {
  const [F, N, H] = x.shape;
  if (N !== side * side) throw new Error(`llava pool2d: ${N} tokens per frame is not a ${side}x${side} grid`);
  if (stride === 1) return x;
  if (mode === 'bilinear') {
    const out = Math.ceil(side / stride);
    const grid = x.reshape([F, side, side, H]).permute([0, 3, 1, 2]); // [F, H, side, side]
    return interpolateBilinear(grid, out, out).permute([0, 2, 3, 1]).reshape([F, out * out, H]);
  }
  const out = Math.floor(side / stride);
  const g = x.reshape([F, side, side, H]).slice([null, [0, out * stride], [0, out * stride], null]).reshape([F, out, stride, out, stride, H]);
  const r = mode === 'average' ? g.mean([2, 4]) : g.max([2, 4]);
  return r.reshape([F, out * out, H]);
}

/**
 * Visual tokens of B videos of `frames` frames each: pixel_values [B*T, C, S, S] (frames of one
 * video consecutive) -> [B, T * tokensPerFrame + 1, H] (the +1 is the image_newline).
 */
export function visualTokens(c: LlavaVisualConfig, params: LlavaVisualParams, pixelValues: Tensor, frames: number): Tensor {
  const BT = pixelValues.shape[0];
  if (!Number.isInteger(frames) || frames < 1 || BT % frames !== 0) throw new Error(`llava visualTokens: ${BT} frames in pixel_values is not a multiple of ${frames} frames per video`);
  const B = BT / frames;
  const tower = llavaTowerConfig(c);
  const feats = siglipForward(tower, params.vision_tower.vision_tower.vision_model, pixelValues); // [BT, N, V]
  const projected = projector(params.mm_projector)(feats); // [BT, N, H]
  const pooled = pool2d(projected, numPatchesPerSide(tower), c.mm_spatial_pool_stride ?? 2, c.mm_spatial_pool_mode ?? 'bilinear');
  const H = c.hidden_size;
  const seq = pooled.reshape([B, frames * pooled.shape[1], H]);
  if ((c.mm_newline_position ?? 'one_token') !== 'one_token') return seq;
  if (!params.image_newline) throw new Error('llava visualTokens: mm_newline_position one_token needs params.image_newline');
  return concat([seq, params.image_newline.reshape([1, 1, H]).broadcastTo([B, 1, H])], 1);
}
