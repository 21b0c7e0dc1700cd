/**
 * Qwen2ForCausalLM (architecture `qwen2`), as Hugging Face's modeling_qwen2 computes it:
 * token embedding, pre-norm decoder layers (RMSNorm, rotate-half RoPE, grouped-query causal
 * attention with q/k/v biases and no o_proj bias, SwiGLU MLP without biases), a final RMSNorm
 * and the LM head, tied to the embedding (`tie_word_embeddings`) or not.
 *
 * Parameter paths ARE the Hugging Face names, prefix included: the tree is
 * `{ model: { embed_tokens, layers, norm }, lm_head? }`, so `model.embed_tokens.weight`,
 * `model.layers.0.self_attn.q_proj.bias`, `model.norm.weight` and `lm_head.weight` load by name
 * with no prefix rule (the loader's single-prefix rule could not map both `model.*` and
 * `lm_head.*`). A tied model has no `lm_head` parameter: logits = h @ embed_tokens^T.
 *
 * The decoder is written once, with the attention step as a parameter, so the full forward
 * pass (`qwen2Forward`), the KV-cache prefill and the one-token decode step (models/llm/generate.ts)
 * share every other line.
 */
import { linear as nnLinear } from '../../dsl/nn';
import type { LinearParams } from '../../dsl/nn';
import * as t from 'io-ts';
import type { Tensor } from '../../dsl/tensor';
import { iota, stopGradient, where } from '../../dsl/tensor';
import { attention, rmsNorm, rope, silu } from '../../compiler/composites';
import { decodeOrThrow, describe, described, NonNegativeInt, PositiveInt, PositiveNumber, withDefaults } from '../../dsl/config';
import type { ParamSpec } from '../../dsl/params';
import { countParams, init, param } from '../../dsl/params';
import { registerArchitecture } from '../registry';

// ------------------------------------------------------------------ config

const TokenIds = t.union([NonNegativeInt, t.array(NonNegativeInt), t.null]);
/** An optional field (absent or undefined), described as its codec in error messages. */
const optional = <C extends t.Mixed>(c: C) => described(t.union([c, t.undefined]), describe(c));

// One flat t.type (not an intersection), so error messages name fields without member indices.
const Qwen2ConfigBase = t.type({
  vocab_size: PositiveInt,
  hidden_size: PositiveInt,
  intermediate_size: PositiveInt,
  num_hidden_layers: PositiveInt,
  num_attention_heads: PositiveInt,
  // HF Qwen2Config defaults (filled by withDefaults below when the field is absent)
  rms_norm_eps: PositiveNumber,
  rope_theta: PositiveNumber,
  tie_word_embeddings: t.boolean,
  max_position_embeddings: PositiveInt,
  hidden_act: described(t.literal('silu'), '"silu" (the only activation Qwen2 uses)'),
  /** default: num_attention_heads (plain multi-head attention) */
  num_key_value_heads: optional(PositiveInt),
  /** nn.Embedding(padding_idx): that row of embed_tokens gets no gradient */
  pad_token_id: optional(t.union([NonNegativeInt, t.null])),
  bos_token_id: optional(TokenIds),
  /** the default stop tokens of generate() */
  eos_token_id: optional(TokenIds),
  rope_scaling: optional(described(t.null, 'null (RoPE scaling is not supported)')),
  use_sliding_window: optional(described(t.literal(false), 'false (sliding-window attention is not supported)')),
});

/** Cross-field rules: heads divide the width, kv heads divide the heads, head_dim is even. */
const Qwen2ConfigChecked = new t.Type<t.TypeOf<typeof Qwen2ConfigBase>, t.OutputOf<typeof Qwen2ConfigBase>, unknown>(
  'Qwen2Config',
  Qwen2ConfigBase.is,
  (u, c) => {
    const r = Qwen2ConfigBase.validate(u, c);
    if (r._tag === 'Left') return r;
    const v = r.right;
    const kv = v.num_key_value_heads ?? v.num_attention_heads;
    const field = (key: string, actual: unknown, message: string) => t.failure<t.TypeOf<typeof Qwen2ConfigBase>>(actual, [...c, { key, type: t.unknown, actual }], message);
    if (v.hidden_size % v.num_attention_heads !== 0) return field('hidden_size', v.hidden_size, `hidden_size ${v.hidden_size} must be a multiple of num_attention_heads ${v.num_attention_heads}`);
    if ((v.hidden_size / v.num_attention_heads) % 2 !== 0) return field('hidden_size', v.hidden_size, `head_dim = hidden_size / num_attention_heads = ${v.hidden_size / v.num_attention_heads} must be even (RoPE)`);
    if (v.num_attention_heads % kv !== 0) return field('num_key_value_heads', kv, `num_attention_heads ${v.num_attention_heads} must be a multiple of num_key_value_heads ${kv}`);
    if (v.pad_token_id != null && v.pad_token_id >= v.vocab_size) return field('pad_token_id', v.pad_token_id, `pad_token_id ${v.pad_token_id} must be below vocab_size ${v.vocab_size}`);
    return t.success(v);
  },
  Qwen2ConfigBase.encode,
);

/** HF `Qwen2Config` (config.json field names; unknown fields are ignored). */
export const Qwen2Config = withDefaults(Qwen2ConfigChecked, {
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: false,
  max_position_embeddings: 32768,
  hidden_act: 'silu',
});
export type Qwen2Config = t.TypeOf<typeof Qwen2Config>;

/** The sizes a forward pass needs, resolved from a config. */
export interface Qwen2Dims {
  readonly vocab: number;
  readonly hidden: number;
  readonly intermediate: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly eps: number;
  readonly theta: number;
  readonly tied: boolean;
  readonly padId?: number;
}

export function qwen2Dims(c: Qwen2Config): Qwen2Dims {
  return {
    vocab: c.vocab_size,
    hidden: c.hidden_size,
    intermediate: c.intermediate_size,
    layers: c.num_hidden_layers,
    heads: c.num_attention_heads,
    kvHeads: c.num_key_value_heads ?? c.num_attention_heads,
    headDim: c.hidden_size / c.num_attention_heads,
    eps: c.rms_norm_eps,
    theta: c.rope_theta,
    tied: c.tie_word_embeddings,
    padId: c.pad_token_id ?? undefined,
  };
}

/** The stop tokens a config names (eos_token_id, a number or a list). */
export function eosTokens(c: Qwen2Config): number[] {
  const e = c.eos_token_id;
  return e == null ? [] : Array.isArray(e) ? [...e] : [e as number];
}

/**
 * Qwen2-7B as LLaVA-OneVision-7B uses it (Qwen2-7B-Instruct's config): untied, 152064 x 3584,
 * 28 layers, GQA 28/4, rope_theta 1e6; stop tokens `<|im_end|>` (151645) and `<|endoftext|>` (151643),
 * as its generation_config.json.
 */
export const qwen2_7b: Qwen2Config = decodeOrThrow(Qwen2Config, {
  vocab_size: 152064,
  hidden_size: 3584,
  intermediate_size: 18944,
  num_hidden_layers: 28,
  num_attention_heads: 28,
  num_key_value_heads: 4,
  rms_norm_eps: 1e-6,
  rope_theta: 1_000_000,
  tie_word_embeddings: false,
  max_position_embeddings: 32768,
  hidden_act: 'silu',
  bos_token_id: 151643,
  eos_token_id: [151645, 151643],
}, 'qwen2_7b preset');

/** Qwen2-7B's parameter count (embed 545M + 28 layers x 233M + norm + lm_head 545M). */
export const QWEN2_7B_PARAMS = 7_615_616_512;

// ------------------------------------------------------------------ parameters

// HF `_init_weights`: Linear and Embedding ~ N(0, initializer_range = 0.02), biases 0, norms 1.
const linear = (inF: number, outF: number, bias: boolean) =>
  bias ? { weight: param([outF, inF], init.normal(0.02)), bias: param([outF], init.zeros()) } : { weight: param([outF, inF], init.normal(0.02)) };
const norm = (dim: number) => ({ weight: param([dim], init.ones()) });

export function qwen2LayerParams(d: Qwen2Dims) {
  return {
    self_attn: {
      q_proj: linear(d.hidden, d.heads * d.headDim, true),
      k_proj: linear(d.hidden, d.kvHeads * d.headDim, true),
      v_proj: linear(d.hidden, d.kvHeads * d.headDim, true),
      o_proj: linear(d.heads * d.headDim, d.hidden, false),
    },
    mlp: {
      gate_proj: linear(d.hidden, d.intermediate, false),
      up_proj: linear(d.hidden, d.intermediate, false),
      down_proj: linear(d.intermediate, d.hidden, false),
    },
    input_layernorm: norm(d.hidden),
    post_attention_layernorm: norm(d.hidden),
  };
}

export type Qwen2ParamTree = {
  model: { embed_tokens: { weight: ParamSpec }; layers: ReturnType<typeof qwen2LayerParams>[]; norm: { weight: ParamSpec } };
  lm_head?: { weight: ParamSpec };
};

/** The parameter tree: paths are the HF names (`model.layers.0.mlp.up_proj.weight`, `lm_head.weight`). */
export function qwen2Params(c: Qwen2Config): Qwen2ParamTree {
  const d = qwen2Dims(c);
  const model = {
    embed_tokens: { weight: param([d.vocab, d.hidden], init.normal(0.02)) },
    layers: Array.from({ length: d.layers }, () => qwen2LayerParams(d)),
    norm: norm(d.hidden),
  };
  return d.tied ? { model } : { model, lm_head: { weight: param([d.vocab, d.hidden], init.normal(0.02)) } };
}

export const qwen2ParamCount = (c: Qwen2Config): number => countParams(qwen2Params(c));

// ------------------------------------------------------------------ forward

/** Params as tensors (same structure as qwen2Params). */
export type Qwen2Weights = { model: { embed_tokens: { weight: Tensor }; layers: any[]; norm: { weight: Tensor } }; lm_head?: { weight: Tensor } };

/**
 * Attention inside layer `layer`: q [B, Hq, T, D] and k, v [B, Hkv, T, D] of the current tokens,
 * already rotated -> [B, Hq, T, D]. The full pass attends causally; a KV cache stores k, v first.
 */
export type AttendFn = (layer: number, q: Tensor, k: Tensor, v: Tensor) => Tensor;

export const causalAttend: AttendFn = (_l, q, k, v) => attention(q, k, v, { causal: true });

/** nn.linear, so LoRA adapters added by dsl/lora.ts (lora_A, lora_B, ...) take part. */
const lin = (p: LinearParams, x: Tensor): Tensor => nnLinear(p)(x);

/** Token embeddings [..., H]; with pad_token_id that row is a constant for autodiff (padding_idx). */
export function qwen2Embed(d: Qwen2Dims, p: Qwen2Weights, ids: Tensor): Tensor {
  let table = p.model.embed_tokens.weight;
  if (d.padId !== undefined) table = where(iota([d.vocab, 1], 0).eq(d.padId), stopGradient(table), table);
  return table.take(ids as Tensor<number[], 'i32'>, 0);
}

/**
 * The decoder on input embeddings [B, T, H] at `positions` ([T] i32): every layer, then the final
 * norm -> hidden states [B, T, H].
 */
export function qwen2Decoder(d: Qwen2Dims, p: Qwen2Weights, embeds: Tensor, positions: Tensor, attend: AttendFn = causalAttend): Tensor {
  const [B, T] = embeds.shape;
  const heads = (x: Tensor, n: number) => x.reshape([B, T, n, d.headDim]).transpose(1, 2);
  let h = embeds;
  p.model.layers.forEach((l, i) => {
    const x = rmsNorm(h, l.input_layernorm.weight, d.eps);
    const a = l.self_attn;
    const q = rope(heads(lin(a.q_proj, x), d.heads), positions, d.theta);
    const k = rope(heads(lin(a.k_proj, x), d.kvHeads), positions, d.theta);
    const v = heads(lin(a.v_proj, x), d.kvHeads);
    const o = attend(i, q, k, v).transpose(1, 2).reshape([B, T, d.heads * d.headDim]);
    h = h.add(lin(a.o_proj, o));
    const y = rmsNorm(h, l.post_attention_layernorm.weight, d.eps);
    const m = l.mlp;
    h = h.add(lin(m.down_proj, silu(lin(m.gate_proj, y)).mul(lin(m.up_proj, y))));
  });
  return rmsNorm(h, p.model.norm.weight, d.eps);
}

/** lm_head: h [..., H] -> logits [..., V] (h @ embed_tokens^T when tied). */
export function qwen2Head(d: Qwen2Dims, p: Qwen2Weights, h: Tensor): Tensor {
  const w = d.tied ? p.model.embed_tokens.weight : p.lm_head!.weight;
  return h.matmul(w.transpose());
}

/** Logits [B, L, V] of input_ids [B, L] (i32) or of inputs_embeds [B, L, H]; positions 0..L-1. */
export function qwen2Forward(c: Qwen2Config, p: Qwen2Weights, inputs: { inputIds?: Tensor; inputsEmbeds?: Tensor }): Tensor {
  const d = qwen2Dims(c);
  const embeds = inputs.inputsEmbeds ?? qwen2Embed(d, p, inputs.inputIds!);
  const L = embeds.shape[1];
  return qwen2Head(d, p, qwen2Decoder(d, p, embeds, iota([L], 0)));
}

export const qwen2Architecture = registerArchitecture({
  name: 'qwen2',
  config: Qwen2Config,
  params: (c) => qwen2Params(c),
  inputs: () => [
    {
      name: 'input_ids',
      dtype: 'i32',
      check: (s) => (s.length !== 2 ? 'expected [batch, length]' : s[0] < 1 || s[1] < 1 ? 'batch and length must be positive' : undefined),
    },
  ],
  output: 'logits',
  forward: (c, p, inputs) => qwen2Forward(c, p as Qwen2Weights, { inputIds: inputs.input_ids }),
  weights: {
    // our paths carry the HF prefixes themselves (model.*, lm_head.*)
    prefixes: [],
    // a tied checkpoint may still hold lm_head.weight; old checkpoints hold RoPE's inv_freq buffer
    ignore: ['lm_head', 'model.layers.*.self_attn.rotary_emb.inv_freq'],
  },
});
