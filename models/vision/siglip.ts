/**
 * SigLIP vision tower (Hugging Face `SiglipVisionModel`), the general visual encoder of
 * LLaVA-OneVision (google/siglip-so400m-patch14-384).
 *
 * Semantics (scripts/goldens/README.md): a `valid` patch Conv2d (trailing pixels that do not
 * fill a patch are ignored), a learned position embedding added by patch index (row-major),
 * pre-LN encoder layers (attention with biases on q/k/v/out_proj, MLP fc1 -> activation -> fc2),
 * and `post_layernorm`. The project's config extension `vision_feature_layer: k` returns HF's
 * `hidden_states[k]` (0 = embeddings, i = output of layer i, negative from the end) without
 * post_layernorm; LLaVA-OneVision uses -2, the penultimate layer.
 *
 * Parameter paths are the HF names without `vision_model.`. The attention-pooling head
 * (`head.*`, present unless `vision_use_head: false`) is part of the tree so that a checkpoint
 * holding it loads and `run --grad` reports its (zero) gradients, but it is off the
 * `last_hidden_state` path; it may be absent from a checkpoint.
 */
import * as t from 'io-ts';
import type { Tensor } from '../../dsl/tensor';
import type { ParamSpec, ParamTree } from '../../dsl/params';
import { init, param } from '../../dsl/params';
import { conv2d } from '../../dsl/ops';
import { attention, gelu, layerNorm, silu } from '../../compiler/composites';
import { PositiveInt, PositiveNumber, decodeOrThrow } from '../../dsl/config';
import type { LinearParams, NormParams } from '../../dsl/nn';
import { linear } from '../../dsl/nn';
import { registerArchitecture } from '../registry';

// ------------------------------------------------------------------ config

const HiddenAct = t.keyof({ gelu_pytorch_tanh: null, gelu_new: null, gelu_fast: null, gelu: null, quick_gelu: null, silu: null, relu: null }, 'a hidden_act (gelu_pytorch_tanh, gelu_new, gelu, quick_gelu, silu, relu)');

/** HF `SiglipVisionConfig` field names, plus the project's `vision_feature_layer`. */
export const SiglipVisionConfigCodec = t.intersection([
  t.type({
    hidden_size: PositiveInt,
    intermediate_size: PositiveInt,
    num_hidden_layers: PositiveInt,
    num_attention_heads: PositiveInt,
    image_size: PositiveInt,
    patch_size: PositiveInt,
  }),
  t.partial({
    num_channels: PositiveInt,
    hidden_act: HiddenAct,
    layer_norm_eps: PositiveNumber,
    /** HF default true: the checkpoint holds `head.*` (attention pooling) */
    vision_use_head: t.boolean,
    /** hidden_states[k] without post_layernorm (k may be negative); absent = post_layernorm(last layer) */
    vision_feature_layer: t.Int,
  }),
], 'SiglipVisionConfig');

export interface SiglipVisionConfig {
  readonly hidden_size: number;
  readonly intermediate_size: number;
  readonly num_hidden_layers: number;
  readonly num_attention_heads: number;
  readonly image_size: number;
  readonly patch_size: number;
  readonly num_channels?: number;
  readonly hidden_act?: t.TypeOf<typeof HiddenAct>;
  readonly layer_norm_eps?: number;
  readonly vision_use_head?: boolean;
  readonly vision_feature_layer?: number;
}

/** google/siglip-so400m-patch14-384, the vision tower of LLaVA-OneVision (27 layers, with head). */
export const siglipSo400mPatch14_384: SiglipVisionConfig = {
  hidden_size: 1152,
  intermediate_size: 4304,
  num_hidden_layers: 27,
  num_attention_heads: 16,
  num_channels: 3,
  image_size: 384,
  patch_size: 14,
  hidden_act: 'gelu_pytorch_tanh',
  layer_norm_eps: 1e-6,
};

export const numPatchesPerSide = (c: SiglipVisionConfig): number => Math.floor(c.image_size / c.patch_size);
export const numPositions = (c: SiglipVisionConfig): number => numPatchesPerSide(c) ** 2;

/** hidden_states index (0 = embeddings, 1..L = layer outputs) of `vision_feature_layer`, or L when absent. */
export function featureLayerIndex(c: SiglipVisionConfig): number {
  const L = c.num_hidden_layers;
  const k = c.vision_feature_layer;
  if (k === undefined) return L;
  const i = k < 0 ? L + 1 + k : k;
  if (i < 0 || i > L) throw new Error(`siglip-vision: vision_feature_layer ${k} is out of range for ${L} layers (hidden_states has ${L + 1} entries: ${-(L + 1)}..${L})`);
  return i;
}

/** Checks what the codec cannot (head count divides the width, a valid feature layer). */
export function checkSiglipConfig(c: SiglipVisionConfig): SiglipVisionConfig {
  if (c.hidden_size % c.num_attention_heads !== 0) throw new Error(`siglip-vision: hidden_size ${c.hidden_size} is not a multiple of num_attention_heads ${c.num_attention_heads}`);
  if (c.patch_size > c.image_size) throw new Error(`siglip-vision: patch_size ${c.patch_size} is larger than image_size ${c.image_size}`);
  featureLayerIndex(c);
  return c;
}

export const decodeSiglipConfig = (u: unknown, label = 'siglip-vision config'): SiglipVisionConfig => checkSiglipConfig(decodeOrThrow(SiglipVisionConfigCodec, u, label));

// ------------------------------------------------------------------ parameters

type P = Tensor;

export interface SiglipAttentionParams<T = P> { q_proj: LinearParams<T>; k_proj: LinearParams<T>; v_proj: LinearParams<T>; out_proj: LinearParams<T> }
export interface SiglipLayerParams<T = P> {
  self_attn: SiglipAttentionParams<T>;
  layer_norm1: NormParams<T>;
  mlp: { fc1: LinearParams<T>; fc2: LinearParams<T> };
  layer_norm2: NormParams<T>;
}
export interface SiglipHeadParams<T = P> {
  probe: T;
  attention: { in_proj_weight: T; in_proj_bias: T; out_proj: LinearParams<T> };
  layernorm: NormParams<T>;
  mlp: { fc1: LinearParams<T>; fc2: LinearParams<T> };
}
export interface SiglipVisionParams<T = P> {
  embeddings: { patch_embedding: { weight: T; bias: T }; position_embedding: { weight: T } };
  encoder: { layers: SiglipLayerParams<T>[] };
  post_layernorm: NormParams<T>;
  head?: SiglipHeadParams<T>;
}

// HF's _init_weights: xavier_uniform linears with zero (attention) / tiny normal (MLP) biases,
// lecun-normal patch conv, position embedding N(0, 1/sqrt(width)).
const lin = (inF: number, outF: number, biasStd = 0): LinearParams<ParamSpec> => ({
  weight: param([outF, inF], init.xavierUniform()),
  bias: param([outF], biasStd ? init.normal(biasStd) : init.zeros()),
});
const norm = (d: number): NormParams<ParamSpec> => ({ weight: param([d], init.ones()), bias: param([d], init.zeros()) });
const mlpP = (d: number, h: number) => ({ fc1: lin(d, h, 1e-6), fc2: lin(h, d, 1e-6) });

export function siglipParams(c: SiglipVisionConfig): SiglipVisionParams<ParamSpec> {
  const D = c.hidden_size;
  const C = c.num_channels ?? 3;
  const p = c.patch_size;
  const layer = (): SiglipLayerParams<ParamSpec> => ({
    self_attn: { q_proj: lin(D, D), k_proj: lin(D, D), v_proj: lin(D, D), out_proj: lin(D, D) },
    layer_norm1: norm(D),
    mlp: mlpP(D, c.intermediate_size),
    layer_norm2: norm(D),
  });
  const tree: SiglipVisionParams<ParamSpec> = {
    embeddings: {
      patch_embedding: { weight: param([D, C, p, p], init.kaimingNormal(1)), bias: param([D], init.zeros()) },
      position_embedding: { weight: param([numPositions(c), D], init.normal(1 / Math.sqrt(D))) },
    },
    encoder: { layers: Array.from({ length: c.num_hidden_layers }, layer) },
    post_layernorm: norm(D),
  };
  if (c.vision_use_head !== false) {
    tree.head = {
      probe: param([1, 1, D], init.normal(1)),
      attention: { in_proj_weight: param([3 * D, D], init.xavierUniform()), in_proj_bias: param([3 * D], init.zeros()), out_proj: lin(D, D) },
      layernorm: norm(D),
      mlp: mlpP(D, c.intermediate_size),
    };
  }
  return tree;
}

// ------------------------------------------------------------------ forward

export function siglipActivation(act: SiglipVisionConfig['hidden_act'] = 'gelu_pytorch_tanh') {
  return (x: Tensor): Tensor => {
    switch (act) {
      case 'gelu_pytorch_tanh':
      case 'gelu_new':
      case 'gelu_fast':
        return gelu(x, 'tanh');
      case 'gelu':
        return gelu(x);
      case 'quick_gelu':
        return x.mul(x.mul(1.702).sigmoid());
      case 'silu':
        return silu(x);
      case 'relu':
        return x.maximum(0);
    }
  };
}

/**
 * Unmasked multi-head self-attention. The k_proj bias adds q_i . b_k to every score of query i,
 * a per-row constant that softmax cancels, so it is left out: the output is the same and its
 * gradient is exactly 0 (HF's is 0 up to rounding; in f32 that rounding, ~1e-7, would be noise).
 */
function selfAttention(p: SiglipAttentionParams, heads: number, x: Tensor): Tensor {
  const [B, T, D] = x.shape;
  const hd = D / heads;
  const split = (y: Tensor) => y.reshape([B, T, heads, hd]).transpose(1, 2);
  const k = x.matmul(p.k_proj.weight.transpose());
  const o = attention(split(linear(p.q_proj)(x)), split(k), split(linear(p.v_proj)(x)));
  return linear(p.out_proj)(o.transpose(1, 2).reshape([B, T, D]));
}

export function siglipLayer(c: SiglipVisionConfig, p: SiglipLayerParams, x: Tensor): Tensor {
  const eps = c.layer_norm_eps ?? 1e-6;
  const act = siglipActivation(c.hidden_act);
  const h = x.add(selfAttention(p.self_attn, c.num_attention_heads, layerNorm(x, p.layer_norm1.weight, p.layer_norm1.bias, eps)));
  const m = linear(p.mlp.fc2)(act(linear(p.mlp.fc1)(layerNorm(h, p.layer_norm2.weight, p.layer_norm2.bias, eps))));
  return h.add(m);
}

/** pixel_values [B, C, H, W] -> patch embeddings + positions [B, N, D] (hidden_states[0]). */
export function siglipEmbeddings(c: SiglipVisionConfig, p: SiglipVisionParams, pixels: Tensor): Tensor {
  const problem = checkPixels(c, pixels.shape);
  if (problem) throw new Error(`siglip-vision: pixel_values ${JSON.stringify(pixels.shape)}: ${problem}`);
  const ps = c.patch_size;
  // Conv2d(k = s = patch, padding 'valid'): the output size floor(H / patch) drops trailing pixels
  const e = conv2d(pixels, p.embeddings.patch_embedding.weight, p.embeddings.patch_embedding.bias, { stride: ps });
  const [B, D] = e.shape;
  const x = e.reshape([B, D, -1]).transpose(1, 2); // [B, N, D], patches row-major (y, x)
  return x.add(p.embeddings.position_embedding.weight);
}

/**
 * The tower's output: `post_layernorm(last layer)`, or `hidden_states[vision_feature_layer]`
 * without post_layernorm when the config sets it. Layers after it are not computed.
 */
export function siglipForward(c: SiglipVisionConfig, p: SiglipVisionParams, pixels: Tensor): Tensor {
  const upto = featureLayerIndex(c);
  let x = siglipEmbeddings(c, p, pixels);
  for (let i = 0; i < upto; i++) x = siglipLayer(c, p.encoder.layers[i], x);
  if (c.vision_feature_layer !== undefined) return x;
  return layerNorm(x, p.post_layernorm.weight, p.post_layernorm.bias, c.layer_norm_eps ?? 1e-6);
}

/** An error message when `shape` is not a [B, C, H, W] batch this config can embed. */
export function checkPixels(c: SiglipVisionConfig, shape: readonly number[]): string | undefined {
  const C = c.num_channels ?? 3;
  if (shape.length !== 4) return `expected [batch, ${C}, height, width]`;
  if (shape[1] !== C) return `expected ${C} channels (num_channels), got ${shape[1]}`;
  const ps = c.patch_size;
  const n = Math.floor(shape[2] / ps) * Math.floor(shape[3] / ps);
  if (n !== numPositions(c)) {
    const side = numPatchesPerSide(c);
    return `gives ${Math.floor(shape[2] / ps)}x${Math.floor(shape[3] / ps)} = ${n} patches of ${ps} px, but the position embedding has ${side}x${side} = ${numPositions(c)} (image_size ${c.image_size}; sides ${side * ps}..${side * ps + ps - 1} px work)`;
  }
  return undefined;
}

// ------------------------------------------------------------------ registration

/** Where SigLIP's weights live in the checkpoints we read (HF SiglipVisionModel, LLaVA-OneVision). */
export const SIGLIP_PREFIXES = ['vision_model.', 'vision_tower.vision_tower.vision_model.', 'model.vision_tower.vision_tower.vision_model.'] as const;

export const siglipVision = registerArchitecture<SiglipVisionConfig>({
  name: 'siglip-vision',
  config: new t.Type<SiglipVisionConfig, unknown, unknown>(
    'SiglipVisionConfig',
    (u): u is SiglipVisionConfig => SiglipVisionConfigCodec.is(u),
    (u, ctx) => {
      const r = SiglipVisionConfigCodec.validate(u, ctx);
      if (r._tag === 'Left') return r;
      try {
        return t.success(checkSiglipConfig(r.right));
      } catch (e) {
        return t.failure(u, ctx, (e as Error).message);
      }
    },
    (a) => a,
  ),
  params: (c) => siglipParams(c) as unknown as ParamTree,
  inputs: (c) => [{ name: 'pixel_values', dtype: 'f32', check: (s) => checkPixels(c, s) }],
  output: 'last_hidden_state',
  forward: (c, p, inputs) => siglipForward(c, p as SiglipVisionParams, inputs.pixel_values),
  weights: {
    prefixes: [...SIGLIP_PREFIXES],
    // the pooling head is off the last_hidden_state path (loaded when the tree has it);
    // the rest of a LLaVA-OneVision checkpoint (LLM, projector, newline) is not SigLIP's
    ignore: ['head', 'model.embed_tokens', 'model.layers', 'model.norm', 'lm_head', 'model.mm_projector', 'model.image_newline', 'model.vision_resampler'],
    optional: ['head'],
  },
});
