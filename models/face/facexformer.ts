/**
 * The FaceXFormer face encoder (Narayan et al., arXiv 2403.12960; Kartik-3004/facexformer
 * `network/models/facexformer.py`): torchvision swin_b `features` tapped after every stage,
 * FaceXFormer's multi-scale "MLP fusion" on top. Registered as architecture `face-encoder`.
 *
 *   pixel_values [B, 3, H, W]
 *   -> Swin features (models/face/swin.ts): stage outputs [B, H_i, W_i, C_i], C_i = embed_dim * 2^i
 *   -> per stage: linear_c.i.proj (C_i -> F) -> [B, F, H_i, W_i] -> bilinear (align_corners=False)
 *      to the stage-1 size (floor(H/4), floor(W/4))
 *   -> concat on channels in the order stage 4, 3, 2, 1 -> linear_fuse (1x1 conv 4F -> F, no bias)
 *   -> last_hidden_state [B, F, floor(H/4), floor(W/4)]
 *
 * Names are those of FaceXFormer's checkpoint: `backbone.0.` = torchvision `features`,
 * `backbone.1.` = Swin's final norm (loaded, unused by the fused map), `linear_c.{i}.proj.`,
 * `linear_fuse.weight`. The buffers `relative_position_index` are accepted and ignored (the index
 * is rebuilt here), as are the task decoder (`face_decoder.`) and `pe_layer.` of a full checkpoint.
 */
import * as t from 'io-ts';
import { PositiveInt, PositiveNumber, decodeOrThrow } from '../../dsl/config';
import type { Tensor } from '../../dsl/tensor';
import { concat } from '../../dsl/tensor';
import { interpolateBilinear } from '../../dsl/image';
import { countParams, init, param } from '../../dsl/params';
import type { ParamSpec, ParamTree } from '../../dsl/params';
import { registerArchitecture } from '../registry';
import type { SwinFeaturesParams, SwinSettings } from './swin';
import { lin, norm, stageChannels, swinFeaturesParamCount, swinFeaturesParams, swinStages } from './swin';

// ------------------------------------------------------------------ config

const SideSize = t.union([PositiveInt, t.tuple([PositiveInt, PositiveInt])]);

/** HF SwinConfig field names plus `fusion_hidden_size` (ARCHITECTURE.md). */
export const FaceXFormerConfig = t.intersection(
  [
    t.type({
      embed_dim: PositiveInt,
      depths: t.array(PositiveInt),
      num_heads: t.array(PositiveInt),
      window_size: PositiveInt,
      fusion_hidden_size: PositiveInt,
    }),
    t.partial({
      model_type: t.literal('facexformer'),
      /** informational: any image size works */
      image_size: SideSize,
      patch_size: PositiveInt,
      num_channels: PositiveInt,
      mlp_ratio: PositiveNumber,
      layer_norm_eps: PositiveNumber,
    }),
  ],
  'FaceXFormerConfig',
);
export type FaceXFormerConfigInput = t.TypeOf<typeof FaceXFormerConfig>;
/** The decoded config with SwinConfig's defaults filled in (patch 4, 3 channels, mlp_ratio 4, eps 1e-5). */
export type FaceXFormerConfig = FaceXFormerConfigInput & SwinSettings & { readonly fusion_hidden_size: number };

function withDefaults(c: FaceXFormerConfigInput): FaceXFormerConfig {
  return { image_size: 224, patch_size: 4, num_channels: 3, mlp_ratio: 4, layer_norm_eps: 1e-5, ...c } as FaceXFormerConfig;
}

function checkConfig(c: FaceXFormerConfigInput): void {
  if (c.depths.length === 0) throw new Error('depths: needs at least one stage');
  if (c.num_heads.length !== c.depths.length) throw new Error(`num_heads has ${c.num_heads.length} entries, depths ${c.depths.length}`);
  c.num_heads.forEach((h, i) => {
    const ch = c.embed_dim * 2 ** i;
    if (ch % h !== 0) throw new Error(`num_heads[${i}] = ${h} does not divide the stage-${i + 1} width ${ch} (embed_dim * 2^${i})`);
  });
}

/** Decodes a config object (naming the failing field) and fills SwinConfig defaults. */
export function faceXFormerConfig(value: unknown, label = 'face-encoder config'): FaceXFormerConfig {
  const c = decodeOrThrow(FaceXFormerConfig, value, label);
  try {
    checkConfig(c);
  } catch (e) {
    throw new Error(`${label}: ${(e as Error).message}`);
  }
  return withDefaults(c);
}

/** FaceXFormer's encoder: swin_b (224, patch 4, 128, [2,2,18,2], [4,8,16,32], window 7) + fusion 256. */
export const faceXFormerPaperConfig: FaceXFormerConfig = faceXFormerConfig(
  {
    model_type: 'facexformer',
    image_size: 224,
    patch_size: 4,
    num_channels: 3,
    embed_dim: 128,
    depths: [2, 2, 18, 2],
    num_heads: [4, 8, 16, 32],
    window_size: 7,
    mlp_ratio: 4.0,
    layer_norm_eps: 1e-5,
    fusion_hidden_size: 256,
  },
  'faceXFormerPaperConfig',
);

// ------------------------------------------------------------------ parameters

export interface FaceXFormerParams<T = Tensor> {
  backbone: { '0': SwinFeaturesParams<T>; '1': { weight: T; bias: T } };
  linear_c: { proj: { weight: T; bias: T } }[];
  linear_fuse: { weight: T };
}

export function faceXFormerParams(c: FaceXFormerConfig): FaceXFormerParams<ParamSpec> {
  const ch = stageChannels(c);
  const F = c.fusion_hidden_size;
  return {
    backbone: { '0': swinFeaturesParams(c), '1': norm(ch[ch.length - 1]) },
    linear_c: ch.map((ci) => ({ proj: { weight: param([F, ci], init.kaimingUniform(Math.sqrt(5))), bias: param([F], init.uniform(-1 / Math.sqrt(ci), 1 / Math.sqrt(ci))) } })),
    linear_fuse: { weight: param([F, F * ch.length, 1, 1], init.kaimingUniform(Math.sqrt(5))) },
  };
}

/**
 * Parameters from the config alone: Swin features + final norm (2 * C_last) + linear_c
 * (C_i * F + F each) + linear_fuse (n * F * F).
 */
export function faceXFormerParamCount(c: FaceXFormerConfig): number {
  const ch = stageChannels(c);
  const F = c.fusion_hidden_size;
  return swinFeaturesParamCount(c) + 2 * ch[ch.length - 1] + ch.reduce((a, ci) => a + ci * F + F, 0) + ch.length * F * F;
}

export const faceXFormerTreeCount = (c: FaceXFormerConfig): number => countParams(faceXFormerParams(c) as unknown as ParamTree);

// ------------------------------------------------------------------ forward

/** Output side for an input side: floor(side / patch_size). */
export const faceOutputSide = (c: FaceXFormerConfig, side: number): number => Math.floor(side / c.patch_size);

/** pixel_values [B, C, H, W] -> the fused map [B, fusion_hidden_size, floor(H/4), floor(W/4)]. */
export function faceEncoder(c: FaceXFormerConfig, p: FaceXFormerParams, pixels: Tensor): Tensor {
  if (pixels.rank !== 4 || pixels.shape[1] !== c.num_channels) throw new Error(`face-encoder: pixel_values must be [B, ${c.num_channels}, H, W], got [${pixels.shape.join(', ')}]`);
  const stages = swinStages(c, p.backbone['0'], pixels);
  const [, H1, W1] = stages[0].shape;
  const F = c.fusion_hidden_size;
  const maps = stages.map((s, i) => interpolateBilinear(lin(p.linear_c[i].proj, s).permute([0, 3, 1, 2]), H1, W1));
  const cat = concat([...maps].reverse(), 1).permute([0, 2, 3, 1]);
  const fused = lin({ weight: p.linear_fuse.weight.reshape([F, F * stages.length]) }, cat);
  return fused.permute([0, 3, 1, 2]);
}

// ------------------------------------------------------------------ registration

const configType = new t.Type<FaceXFormerConfig, unknown, unknown>(
  'FaceXFormerConfig',
  (u): u is FaceXFormerConfig => FaceXFormerConfig.is(u),
  (u, ctx) => {
    const r = FaceXFormerConfig.validate(u, ctx);
    if (r._tag === 'Left') return r;
    try {
      checkConfig(r.right);
    } catch (e) {
      return t.failure(u, ctx, (e as Error).message);
    }
    return t.success(withDefaults(r.right));
  },
  (a) => a,
);

export const faceEncoderArchitecture = registerArchitecture<FaceXFormerConfig>({
  name: 'face-encoder',
  config: configType,
  params: (c) => faceXFormerParams(c) as unknown as ParamTree,
  inputs: (c) => [
    {
      name: 'pixel_values',
      dtype: 'f32',
      check: (s) => {
        if (s.length !== 4 || s[1] !== c.num_channels) return `expected [B, num_channels = ${c.num_channels}, H, W]`;
        if (s[2] < c.patch_size || s[3] < c.patch_size) return `the image must be at least patch_size = ${c.patch_size} pixels on each side`;
        return undefined;
      },
    },
  ],
  output: 'last_hidden_state',
  forward: (c, params, inputs) => faceEncoder(c, params as FaceXFormerParams, inputs.pixel_values),
  weights: {
    prefixes: ['module.', 'model.'],
    ignore: ['**.relative_position_index', 'face_decoder', 'pe_layer'],
  },
});

