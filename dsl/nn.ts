/**
 * Building blocks: each is a parameter-spec constructor plus a curried pure function
 * `block(params, config)(x)`, so models compose them with fp-ts `pipe`/`flow`. Parameter
 * layouts and names follow PyTorch (Linear weight [out, in]) so Hugging Face checkpoints map
 * onto them by name.
 */
import type { Tensor } from './tensor';
import type { DType } from '../compiler/ir';
import { gelu, silu, layerNorm as layerNormOp, rmsNorm as rmsNormOp, attention, rope } from '../compiler/composites';
import { conv as convOp, embedding as embeddingOp, randomUniform } from './ops';
import { where } from './tensor';
import { nextKey } from './rng-context';
import type { ConvOptions } from './ops';
import type { Init, ParamSpec } from './params';
import { init, param } from './params';

type P = Tensor;

// ------------------------------------------------------------------ linear
export type LinearParams<T = P> = { weight: T; bias?: T; lora_A?: T; lora_B?: T; lora_scale?: T; lora_dropout?: T };
export function linearParams(inF: number, outF: number, opts: { bias?: boolean; init?: Init; dtype?: DType } = {}): LinearParams<ParamSpec> {
  const w = param([outF, inF], opts.init ?? init.kaimingUniform(Math.sqrt(5)), opts.dtype ?? 'f32');
  // PyTorch's bias default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
  const bound = 1 / Math.sqrt(inF);
  return opts.bias === false ? { weight: w } : { weight: w, bias: param([outF], init.uniform(-bound, bound), opts.dtype ?? 'f32') };
}
/** y = x W^T + b over the last axis (+ the LoRA update when the layer carries one, see dsl/lora.ts). */
export const linear = (p: LinearParams) => (x: Tensor): Tensor => {
  let y = x.matmul(p.weight.transpose());
  if (p.bias) y = y.add(p.bias);
  if (p.lora_A && p.lora_B && p.lora_scale) {
    let xi = x;
    const key = p.lora_dropout ? nextKey() : undefined;
    if (key && p.lora_dropout) {
      const keep = randomUniform(key, x.shape, 'f32').cast(x.dtype).ge(p.lora_dropout);
      xi = where(keep, x.div(p.lora_dropout.neg().add(1)), 0);
    }
    y = y.add(xi.matmul(p.lora_A.transpose()).matmul(p.lora_B.transpose()).mul(p.lora_scale));
  }
  return y;
};

// ------------------------------------------------------------------ norms
export type NormParams<T = P> = { weight: T; bias?: T };
export const layerNormParams = (dim: number, opts: { bias?: boolean } = {}): NormParams<ParamSpec> =>
  opts.bias === false ? { weight: param([dim], init.ones()) } : { weight: param([dim], init.ones()), bias: param([dim], init.zeros()) };
export const layerNorm = (p: NormParams, eps = 1e-5) => (x: Tensor): Tensor => layerNormOp(x, p.weight, p.bias, eps);
export const rmsNormParams = (dim: number): NormParams<ParamSpec> => ({ weight: param([dim], init.ones()) });
export const rmsNorm = (p: NormParams, eps = 1e-6) => (x: Tensor): Tensor => rmsNormOp(x, p.weight, eps);

// ------------------------------------------------------------------ embedding, conv
export type EmbeddingParams<T = P> = { weight: T };
export const embeddingParams = (vocab: number, dim: number, std = 1): EmbeddingParams<ParamSpec> => ({ weight: param([vocab, dim], init.normal(std)) });
export const embedding = (p: EmbeddingParams) => (ids: Tensor): Tensor => embeddingOp(p.weight, ids);

export type ConvParams<T = P> = { weight: T; bias?: T };
export function convParams(inC: number, outC: number, kernel: readonly number[], opts: { groups?: number; bias?: boolean } = {}): ConvParams<ParamSpec> {
  const g = opts.groups ?? 1;
  const fanIn = (inC / g) * kernel.reduce((a, b) => a * b, 1);
  const bound = 1 / Math.sqrt(fanIn);
  const weight = param([outC, inC / g, ...kernel], init.kaimingUniform(Math.sqrt(5)));
  return opts.bias === false ? { weight } : { weight, bias: param([outC], init.uniform(-bound, bound)) };
}
export const conv = (p: ConvParams, opts: ConvOptions = {}) => (x: Tensor): Tensor => convOp(x, p.weight, p.bias, opts);

// ------------------------------------------------------------------ MLPs
export type Activation = 'gelu' | 'gelu_tanh' | 'silu' | 'relu';
export const activation = (a: Activation) => (x: Tensor): Tensor => (a === 'gelu' ? gelu(x) : a === 'gelu_tanh' ? gelu(x, 'tanh') : a === 'silu' ? silu(x) : x.maximum(0));

export type MlpParams<T = P> = { fc1: LinearParams<T>; fc2: LinearParams<T> };
export const mlpParams = (dim: number, hidden: number, out = dim): MlpParams<ParamSpec> => ({ fc1: linearParams(dim, hidden), fc2: linearParams(hidden, out) });
export const mlp = (p: MlpParams, act: Activation = 'gelu') => (x: Tensor): Tensor => linear(p.fc2)(activation(act)(linear(p.fc1)(x)));

/** SwiGLU (Qwen2/LLaMA): down(silu(gate(x)) * up(x)). */
export type GatedMlpParams<T = P> = { gate_proj: LinearParams<T>; up_proj: LinearParams<T>; down_proj: LinearParams<T> };
export const gatedMlpParams = (dim: number, hidden: number): GatedMlpParams<ParamSpec> => ({
  gate_proj: linearParams(dim, hidden, { bias: false }),
  up_proj: linearParams(dim, hidden, { bias: false }),
  down_proj: linearParams(hidden, dim, { bias: false }),
});
export const gatedMlp = (p: GatedMlpParams) => (x: Tensor): Tensor => linear(p.down_proj)(silu(linear(p.gate_proj)(x)).mul(linear(p.up_proj)(x)));

// ------------------------------------------------------------------ attention
export type AttentionParams<T = P> = { q_proj: LinearParams<T>; k_proj: LinearParams<T>; v_proj: LinearParams<T>; o_proj: LinearParams<T> };
export interface AttentionConfig {
  dim: number;
  heads: number;
  kvHeads?: number;
  headDim?: number;
  qkvBias?: boolean | { q: boolean; k: boolean; v: boolean };
  outBias?: boolean;
}
export function attentionParams(c: AttentionConfig): AttentionParams<ParamSpec> {
  const hd = c.headDim ?? c.dim / c.heads;
  const kv = c.kvHeads ?? c.heads;
  const b = typeof c.qkvBias === 'object' ? c.qkvBias : { q: c.qkvBias ?? true, k: c.qkvBias ?? true, v: c.qkvBias ?? true };
  return {
    q_proj: linearParams(c.dim, c.heads * hd, { bias: b.q }),
    k_proj: linearParams(c.dim, kv * hd, { bias: b.k }),
    v_proj: linearParams(c.dim, kv * hd, { bias: b.v }),
    o_proj: linearParams(c.heads * hd, c.dim, { bias: c.outBias ?? true }),
  };
}

export interface SelfAttentionOptions {
  causal?: boolean;
  /** rotary embedding: positions [T] and base */
  rope?: { positions: Tensor; theta: number };
  mask?: Tensor;
}

/** Multi-head self-attention on x [B, T, dim] (grouped-query when kvHeads < heads). */
export const selfAttention = (p: AttentionParams, c: AttentionConfig, opts: SelfAttentionOptions = {}) => (x: Tensor): Tensor => {
  const [B, T] = x.shape;
  const hd = c.headDim ?? c.dim / c.heads;
  const kv = c.kvHeads ?? c.heads;
  const heads = (t: Tensor, h: number) => t.reshape([B, T, h, hd]).transpose(1, 2);
  let q = heads(linear(p.q_proj)(x), c.heads);
  let k = heads(linear(p.k_proj)(x), kv);
  const v = heads(linear(p.v_proj)(x), kv);
  if (opts.rope) {
    q = rope(q, opts.rope.positions, opts.rope.theta);
    k = rope(k, opts.rope.positions, opts.rope.theta);
  }
  const o = attention(q, k, v, { causal: opts.causal, mask: opts.mask });
  return linear(p.o_proj)(o.transpose(1, 2).reshape([B, T, c.heads * hd]));
};
