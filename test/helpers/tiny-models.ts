/** Tiny models shared by the training tests: an MLP classifier and a decoder-only LM. */
import { pipe } from 'fp-ts/function';
import type { Tensor } from '../../dsl/tensor';
import { iota } from '../../dsl/tensor';
import * as nn from '../../dsl/nn';
import { crossEntropy } from '../../compiler/composites';
import { param, init } from '../../dsl/params';

export const mlpParams = (inF: number, hidden: number, classes: number) => ({ fc1: nn.linearParams(inF, hidden), fc2: nn.linearParams(hidden, classes) });
export function mlpLoss({ params: p, batch }: { params: any; batch: { x: Tensor; y: Tensor } }) {
  const logits = pipe(batch.x, nn.linear(p.fc1), (h) => h.tanh(), nn.linear(p.fc2));
  return crossEntropy(logits, batch.y);
}

export interface LmConfig {
  vocab: number;
  dim: number;
  heads: number;
  kvHeads: number;
  layers: number;
  hidden: number;
  seq: number;
}

export function lmParams(c: LmConfig) {
  const attn = { dim: c.dim, heads: c.heads, kvHeads: c.kvHeads, qkvBias: true, outBias: false };
  return {
    embed: { weight: param([c.vocab, c.dim], init.normal(0.5)) },
    layers: Array.from({ length: c.layers }, () => ({ ln1: nn.rmsNormParams(c.dim), attn: nn.attentionParams(attn), ln2: nn.rmsNormParams(c.dim), mlp: nn.gatedMlpParams(c.dim, c.hidden) })),
    norm: nn.rmsNormParams(c.dim),
    head: nn.linearParams(c.dim, c.vocab, { bias: false }),
  };
}

/** Next-token cross-entropy of a tiny Qwen2-like decoder on batch.ids [B, T+1]. */
export const lmLoss = (c: LmConfig) => ({ params: p, batch }: { params: any; batch: { ids: Tensor } }) => {
  const attn = { dim: c.dim, heads: c.heads, kvHeads: c.kvHeads, qkvBias: true, outBias: false };
  const inputs = batch.ids.slice([null, [0, c.seq]]);
  const targets = batch.ids.slice([null, [1, c.seq + 1]]);
  const positions = iota([c.seq], 0);
  let h = nn.embedding(p.embed)(inputs);
  if (h.dtype !== p.norm.weight.dtype) h = h.cast(p.norm.weight.dtype);
  for (const l of p.layers) {
    h = h.add(pipe(h, nn.rmsNorm(l.ln1), nn.selfAttention(l.attn, attn, { causal: true, rope: { positions, theta: 10000 } })));
    h = h.add(pipe(h, nn.rmsNorm(l.ln2), nn.gatedMlp(l.mlp)));
  }
  const logits = pipe(h, nn.rmsNorm(p.norm), nn.linear(p.head));
  return crossEntropy(logits.cast('f32'), targets);
};
