/**
 * The Whisper encoder (whisper-large-v3 semantics, HF `WhisperEncoder`), the audio tower of
 * Omni-Emotion. Registered as architecture `whisper-encoder`.
 *
 *   input_features [B, mels, T]
 *   -> conv1 (k3, p1) + GELU -> conv2 (k3, s2, p1) + GELU -> [B, T', d], T' = (T - 1) // 2 + 1
 *   -> + embed_positions.weight[:T']       (HF requires T' = max_source_positions; we allow T' <= it)
 *   -> encoder_layers pre-LN blocks:  x + out_proj(attn(self_attn_layer_norm(x)))
 *                                     x + fc2(gelu(fc1(final_layer_norm(x))))
 *   -> layer_norm -> last_hidden_state [B, T', d]
 *
 * Attention: q/v/out_proj have a bias, k_proj has none; q is scaled by head_dim^-0.5 before q k^T;
 * no mask. GELU is the exact (erf) one everywhere. LayerNorm eps 1e-5 (nn.LayerNorm's default,
 * WhisperConfig has no eps field). Parameter names are HF's without the `encoder.` /
 * `model.encoder.` prefix.
 */
import * as t from 'io-ts';
import { PositiveInt, decodeOrThrow } from '../../dsl/config';
import type { Tensor } from '../../dsl/tensor';
import { concat } from '../../dsl/tensor';
import { conv1d } from '../../dsl/ops';
import { attention, gelu, layerNorm } from '../../compiler/composites';
import { countParams, init, param } from '../../dsl/params';
import type { ParamSpec, ParamTree } from '../../dsl/params';
import { registerArchitecture } from '../registry';

// ------------------------------------------------------------------ config

/** HF WhisperConfig, encoder fields only (the decoder fields of a full config are ignored). */
export const WhisperEncoderConfig = t.intersection(
  [
    t.type({
      num_mel_bins: PositiveInt,
      d_model: PositiveInt,
      encoder_layers: PositiveInt,
      encoder_attention_heads: PositiveInt,
      encoder_ffn_dim: PositiveInt,
      max_source_positions: PositiveInt,
    }),
    t.partial({
      /** only "gelu" (exact erf) is implemented: whisper's value */
      activation_function: t.literal('gelu'),
      /** the encoder's forward ignores it (HF's WhisperEncoder never applies embed_scale) */
      scale_embedding: t.boolean,
      model_type: t.string,
    }),
  ],
  'WhisperEncoderConfig',
);
export type WhisperEncoderConfig = t.TypeOf<typeof WhisperEncoderConfig>;

/** Decodes a config object (naming the failing field), and checks d_model % heads. */
export function whisperConfig(value: unknown, label = 'whisper config'): WhisperEncoderConfig {
  const c = decodeOrThrow(WhisperEncoderConfig, value, label);
  checkConfig(c, label);
  return c;
}

function checkConfig(c: WhisperEncoderConfig, label = 'whisper config'): void {
  if (c.d_model % c.encoder_attention_heads !== 0) throw new Error(`${label}: d_model ${c.d_model} is not a multiple of encoder_attention_heads ${c.encoder_attention_heads}`);
}

/** openai/whisper-large-v3 (encoder part of its config.json). */
export const whisperLargeV3Config: WhisperEncoderConfig = whisperConfig(
  {
    model_type: 'whisper',
    num_mel_bins: 128,
    d_model: 1280,
    encoder_layers: 32,
    encoder_attention_heads: 20,
    encoder_ffn_dim: 5120,
    max_source_positions: 1500,
    activation_function: 'gelu',
    scale_embedding: false,
  },
  'whisperLargeV3Config',
);

// ------------------------------------------------------------------ parameters

const linear = (inF: number, outF: number, bias = true) => {
  const bound = 1 / Math.sqrt(inF);
  const weight = param([outF, inF], init.kaimingUniform(Math.sqrt(5)));
  return bias ? { weight, bias: param([outF], init.uniform(-bound, bound)) } : { weight };
};
const norm = (d: number) => ({ weight: param([d], init.ones()), bias: param([d], init.zeros()) });
const conv = (inC: number, outC: number, k: number) => {
  const bound = 1 / Math.sqrt(inC * k);
  return { weight: param([outC, inC, k], init.kaimingUniform(Math.sqrt(5))), bias: param([outC], init.uniform(-bound, bound)) };
};

export interface WhisperLayerParams<T = Tensor> {
  self_attn: {
    k_proj: { weight: T };
    v_proj: { weight: T; bias: T };
    q_proj: { weight: T; bias: T };
    out_proj: { weight: T; bias: T };
  };
  self_attn_layer_norm: { weight: T; bias: T };
  fc1: { weight: T; bias: T };
  fc2: { weight: T; bias: T };
  final_layer_norm: { weight: T; bias: T };
}
export interface WhisperEncoderParams<T = Tensor> {
  conv1: { weight: T; bias: T };
  conv2: { weight: T; bias: T };
  /** the frozen sinusoidal table; always loaded from the checkpoint (see whisperSinusoids) */
  embed_positions: { weight: T };
  layers: WhisperLayerParams<T>[];
  layer_norm: { weight: T; bias: T };
}

/** The parameter tree, HF names without the `encoder.` prefix. */
export function whisperEncoderParams(c: WhisperEncoderConfig): WhisperEncoderParams<ParamSpec> {
  const d = c.d_model;
  const layer = (): WhisperLayerParams<ParamSpec> => ({
    self_attn: {
      k_proj: linear(d, d, false) as { weight: ParamSpec },
      v_proj: linear(d, d) as { weight: ParamSpec; bias: ParamSpec },
      q_proj: linear(d, d) as { weight: ParamSpec; bias: ParamSpec },
      out_proj: linear(d, d) as { weight: ParamSpec; bias: ParamSpec },
    },
    self_attn_layer_norm: norm(d),
    fc1: linear(d, c.encoder_ffn_dim) as { weight: ParamSpec; bias: ParamSpec },
    fc2: linear(c.encoder_ffn_dim, d) as { weight: ParamSpec; bias: ParamSpec },
    final_layer_norm: norm(d),
  });
  return {
    conv1: conv(c.num_mel_bins, d, 3),
    conv2: conv(d, d, 3),
    // HF fills it with `sinusoids` and freezes it; a checkpoint always holds it. Random init here
    // would be wrong, zeros make a missing table obvious.
    embed_positions: { weight: param([c.max_source_positions, d], init.zeros()) },
    layers: Array.from({ length: c.encoder_layers }, layer),
    layer_norm: norm(d),
  };
}

/**
 * The encoder's parameter count from the config alone (embed_positions included):
 *   conv1 d*mels*3 + d, conv2 d*d*3 + d, positions P*d,
 *   per layer: q,v,out (d*d + d) x 3 + k d*d, two LayerNorms 4d, fc1 d*f + f, fc2 f*d + d,
 *   final LayerNorm 2d.
 */
export function whisperEncoderParamCount(c: WhisperEncoderConfig): number {
  const { d_model: d, num_mel_bins: m, encoder_ffn_dim: f, max_source_positions: P, encoder_layers: L } = c;
  const perLayer = 4 * d * d + 3 * d + 4 * d + 2 * d * f + f + d;
  return d * m * 3 + d + d * d * 3 + d + P * d + L * perLayer + 2 * d;
}

/** Cross-check of the formula: the count of the parameter tree itself. */
export const whisperEncoderTreeCount = (c: WhisperEncoderConfig): number => countParams(whisperEncoderParams(c) as unknown as ParamTree);

/**
 * HF's `sinusoids(length, channels)` computed as it does in float32 (so a freshly made table
 * matches a checkpoint's): [sin(t * inv) | cos(t * inv)], inv = exp(-log(10000)/(c/2 - 1) * i).
 */
export function whisperSinusoids(length: number, channels: number): Float32Array {
  const half = channels / 2;
  const f = Math.fround;
  const step = f(Math.log(10000) / (half - 1));
  const out = new Float32Array(length * channels);
  for (let i = 0; i < half; i++) {
    const inv = f(Math.exp(f(-step * i)));
    for (let p = 0; p < length; p++) {
      const a = f(p * inv);
      out[p * channels + i] = Math.sin(a);
      out[p * channels + half + i] = Math.cos(a);
    }
  }
  return out;
}

// ------------------------------------------------------------------ forward

/** Encoder frames for `frames` mel frames: conv2 has stride 2, padding 1, kernel 3. */
export const whisperOutputFrames = (frames: number): number => Math.floor((frames - 1) / 2) + 1;

const lin = (p: { weight: Tensor; bias?: Tensor }, x: Tensor): Tensor => {
  const y = x.matmul(p.weight.transpose());
  return p.bias ? y.add(p.bias) : y;
};
const ln = (p: { weight: Tensor; bias: Tensor }, x: Tensor): Tensor => layerNorm(x, p.weight, p.bias, 1e-5);

/**
 * Bytes one attention-score tensor may take. WebGPU guarantees storage bindings of 128 MiB
 * (maxStorageBufferBindingSize) and the runtime does not split larger tensors yet, while
 * whisper-large-v3's scores are [B, 20, 1500, 1500] f32 = 180 MB per clip: above this budget the
 * attention is computed per group of batch rows and heads and concatenated (same result).
 */
export const ATTENTION_SCORE_BUDGET = 2 ** 27;

/** Unmasked attention with scale 1 on q, k, v [B, H, T, hd], in chunks whose scores fit `budget` bytes. */
export function chunkedAttention(q: Tensor, k: Tensor, v: Tensor, budget = ATTENTION_SCORE_BUDGET): Tensor {
  const [B, H, T] = q.shape;
  const perHead = T * k.shape[2] * 4;
  const headsPerChunk = Math.max(1, Math.floor(budget / perHead));
  if (B * H <= headsPerChunk) return attention(q, k, v, { scale: 1 });
  // whole batch rows when they fit, else groups of heads (as even as possible) within each row
  const rows = Math.max(1, Math.floor(headsPerChunk / H));
  const evenSplit = (n: number, most: number) => {
    const parts = Math.ceil(n / most);
    return Array.from({ length: parts }, (_, i) => Math.floor((n * (i + 1)) / parts) - Math.floor((n * i) / parts));
  };
  const ranges = (sizes: number[]) => sizes.map((n, i) => [sizes.slice(0, i).reduce((a, b) => a + b, 0), n] as const);
  const byRows = ranges(evenSplit(B, rows)).map(([b0, nb]) => {
    const sl = (x: Tensor) => x.slice([[b0, b0 + nb]]);
    if (nb * H <= headsPerChunk) return attention(sl(q), sl(k), sl(v), { scale: 1 });
    const heads = ranges(evenSplit(H, headsPerChunk)).map(([h0, nh]) => {
      const sh = (x: Tensor) => sl(x).slice([null, [h0, h0 + nh]]);
      return attention(sh(q), sh(k), sh(v), { scale: 1 });
    });
    return concat(heads, 1);
  });
  return concat(byRows, 0);
}

/** One pre-norm encoder layer on x [B, T, d_model]. */
export function whisperEncoderLayer(p: WhisperLayerParams, heads: number, x: Tensor): Tensor {
  const [B, T, d] = x.shape;
  const hd = d / heads;
  const a = p.self_attn;
  const h = ln(p.self_attn_layer_norm, x);
  const split = (y: Tensor) => y.reshape([B, T, heads, hd]).transpose(1, 2);
  // HF scales q (bias included) by head_dim^-0.5 before q k^T, so the attention itself uses scale 1
  const q = split(lin(a.q_proj, h).mul(hd ** -0.5));
  const k = split(lin(a.k_proj, h));
  const v = split(lin(a.v_proj, h));
  const o = chunkedAttention(q, k, v).transpose(1, 2).reshape([B, T, d]);
  const x1 = x.add(lin(a.out_proj, o));
  return x1.add(lin(p.fc2, gelu(lin(p.fc1, ln(p.final_layer_norm, x1)))));
}

/** input_features [B, num_mel_bins, T] -> last_hidden_state [B, (T - 1) // 2 + 1, d_model]. */
export function whisperEncoder(c: WhisperEncoderConfig, p: WhisperEncoderParams, inputFeatures: Tensor): Tensor {
  const [, mels, T] = inputFeatures.shape;
  if (inputFeatures.rank !== 3 || mels !== c.num_mel_bins) throw new Error(`whisper-encoder: input_features must be [B, ${c.num_mel_bins}, T], got [${inputFeatures.shape.join(', ')}]`);
  const Tp = whisperOutputFrames(T);
  if (Tp > c.max_source_positions) throw new Error(`whisper-encoder: ${T} mel frames give ${Tp} encoder frames, more than max_source_positions ${c.max_source_positions} (at most ${2 * c.max_source_positions} frames)`);
  const h1 = gelu(conv1d(inputFeatures, p.conv1.weight, p.conv1.bias, { padding: 1 }));
  const h2 = gelu(conv1d(h1, p.conv2.weight, p.conv2.bias, { stride: 2, padding: 1 }));
  const pos = Tp === c.max_source_positions ? p.embed_positions.weight : p.embed_positions.weight.slice([[0, Tp]]);
  let x = h2.transpose(1, 2).add(pos);
  for (const layer of p.layers) x = whisperEncoderLayer(layer, c.encoder_attention_heads, x);
  return ln(p.layer_norm, x);
}

// ------------------------------------------------------------------ registration

export const whisperEncoderArchitecture = registerArchitecture<WhisperEncoderConfig>({
  name: 'whisper-encoder',
  config: new t.Type<WhisperEncoderConfig, unknown, unknown>(
    'WhisperEncoderConfig',
    WhisperEncoderConfig.is,
    (u, ctx) => {
      const r = WhisperEncoderConfig.validate(u, ctx);
      if (r._tag === 'Right') {
        try {
          checkConfig(r.right);
        } catch (e) {
          return t.failure(u, ctx, (e as Error).message.replace(/^whisper config: /, ''));
        }
      }
      return r;
    },
    (a) => a,
  ),
  params: (c) => whisperEncoderParams(c) as unknown as ParamTree,
  inputs: (c) => [
    {
      name: 'input_features',
      dtype: 'f32',
      check: (s) => {
        if (s.length !== 3 || s[1] !== c.num_mel_bins) return `expected [B, num_mel_bins = ${c.num_mel_bins}, T]`;
        if (s[2] < 1) return 'expected at least one frame';
        if (whisperOutputFrames(s[2]) > c.max_source_positions) return `T = ${s[2]} gives ${whisperOutputFrames(s[2])} encoder frames, more than max_source_positions ${c.max_source_positions} (T <= ${2 * c.max_source_positions})`;
        return undefined;
      },
    },
  ],
  output: 'last_hidden_state',
  forward: (c, params, inputs) => whisperEncoder(c, params as WhisperEncoderParams, inputs.input_features),
  weights: { prefixes: ['encoder.', 'model.encoder.'] },
});
