/**
 * Scaled dot-product attention with grouped-query heads and an optional causal mask, and
 * rotary position embedding (rotate-half form, as Qwen2 and LLaMA use).
 */
import { defineComposite, referenceByExpansion } from '../composite';
import type { Attrs, Node } from '../ir';
import { apply, definePrimitive } from '../primitive';
import type { KernelCtx } from '../primitive';
import { Tensor } from '../../dsl/tensor';
import { vjpOfExpansion } from '../autodiff';
import { flashAttentionKernels, flashFits } from '../../kernels/flash-attention';
import { attentionGrads, expandLse, flashAdapter, flashShape, groupedScores, limits, withLse } from './attention-backward';
import type { Shape } from '../../dsl/shape-types';
import { concat, iota, where } from '../../dsl/tensor';
import { shapeError } from '../primitive';
import { causalMask, causalSoftmax, softmax } from './activations';

function expandAttention([q, k, v, mask]: readonly Tensor[], a: Attrs): Tensor {
  const [B, Hq, Tq] = q.shape;
  const [, Hkv, Tk] = k.shape;
  const G = Hq / Hkv;
  // query heads of one group share a key/value head: [B, Hkv, G*Tq, D] against [B, Hkv, Tk, D]
  let s = groupedScores(q, k, a);
  if (mask) {
    if (a.causal) s = causalMask(s, a.offset as number);
    const m = mask.rank === 2 ? mask.reshape([1, 1, 1, Tq, Tk]) : mask.reshape([B, 1, 1, Tq, Tk]);
    s = mask.dtype === 'bool' ? where(m as Tensor<Shape, 'bool'>, s, -Infinity) : s.add(m);
  }
  // a causal mask alone is applied by the softmax row kernel itself
  const p = (a.causal && !mask ? causalSoftmax(s, a.offset as number) : softmax(s, -1)).reshape([B, Hkv, G * Tq, Tk]);
  return p.matmul(v).reshape([B, Hq, Tq, v.shape[3]]);
}

/** flash_attention's value: the attention, with `withLse` each query's log-sum-exp as one more column. */
function expandFlash(ins: readonly Tensor[], a: Attrs): Tensor {
  const out = expandAttention(ins, a);
  return a.withLse ? concat([out, expandLse(ins, a).unsqueeze(-1)], -1) : out;
}
const expandNodes = (inputs: readonly Node[], a: Attrs) => expandFlash(inputs.map((n) => new Tensor(n)), a).node;

/**
 * Attention in one kernel (kernels/flash-attention.ts): q, k, v -> out, the scores never in
 * memory. Adapters without 8- or 16-lane subgroups, and lengths past a texture, run the expansion.
 * Its value is the expansion's. Training graphs never differentiate this node (autodiff keeps
 * the attention composite whole and uses its rule: the fused backward kernels); its own
 * gradient, for a graph that was lowered first, is the expansion's.
 */
definePrimitive({
  name: 'flash_attention',
  infer: ([q, , v], a) => ({ shape: [...q.shape.slice(0, 3), v.shape[3] + (a.withLse ? 1 : 0)], dtype: q.dtype }),
  reference: referenceByExpansion(expandNodes),
  emission: {
    kind: 'kernel',
    emit: (k, a) => {
      if (!flashRuns(k, a)) throw new Error('flash_attention on an adapter that cannot run it: the plan expands it first');
      return flashAttentionKernels(flashShape(k.inputs[0], k.inputs[1], k.inputs[2].shape[3], a), ...limits(k), !!a.withLse);
    },
    fallback: { applies: (k, a) => !flashRuns(k, a), expand: expandNodes },
  },
  vjp: vjpOfExpansion(expandFlash),
});

const flashRuns = (k: KernelCtx, a: Attrs): boolean => flashAdapter(k, a) && flashFits(flashShape(k.inputs[0], k.inputs[1], k.inputs[2].shape[3], a), k.device.maxTextureDimension2D, limits(k)[2]);

// attention without an arbitrary mask, in f32: one fused kernel where the adapter runs it, and
// a gradient from the fused backward kernels (with a mask: the expansion's, scores recomputed)
const fusable = (ts: readonly { dtype: string }[]) => ts.length === 3 && ts.every((t) => t.dtype === 'f32');
const sdpaC = defineComposite('attention', expandAttention, {
  // the forward kernel that also writes the log-sum-exps: the gradient's (attentionGrads) same node
  fused: (inputs, a) => (fusable(inputs.map((n) => n.type)) ? new Tensor(apply('flash_attention', inputs, withLse(a))).slice([null, null, null, [0, inputs[2].type.shape[3]]]).node : undefined),
  vjp: (g, ins, out, a) => (fusable(ins) ? attentionGrads(g, ins, out, a) : vjpOfExpansion(expandAttention)(g, ins, out, a)),
});

export interface AttentionOptions {
  /** mask future keys: query i (at position offset + i) sees keys 0..offset+i */
  causal?: boolean;
  /** position of the first query among the keys (KV-cache decoding); default 0 */
  offset?: number;
  /** default 1/sqrt(head_dim) */
  scale?: number;
  /** [Tq, Tk] or [B, Tq, Tk]: bool (true = keep) or additive float */
  mask?: Tensor;
}

/** q [B, Hq, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv] with Hq a multiple of Hkv -> [B, Hq, Tq, Dv]. */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) shapeError('attention', 'q, k, v must be [B, heads, T, head_dim]', q.node.type, k.node.type, v.node.type);
  const [B, Hq, , D] = q.shape;
  const [Bk, Hkv, Tk, Dk] = k.shape;
  if (Bk !== B || Dk !== D || v.shape[0] !== B || v.shape[1] !== Hkv || v.shape[2] !== Tk) shapeError('attention', 'q, k, v disagree on batch, heads, length or head_dim', q.node.type, k.node.type, v.node.type);
  if (Hkv === 0 || Hq % Hkv !== 0) shapeError('attention', `query heads ${Hq} must be a multiple of key/value heads ${Hkv}`, q.node.type, k.node.type);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  return sdpaC(opts.mask ? [q, k, v, opts.mask] : [q, k, v], { causal: !!opts.causal, offset: opts.offset ?? 0, scale });
}

const ropeC = defineComposite('rope', ([x, pos], a) => {
  const D = x.shape[x.rank - 1];
  const half = D / 2;
  // inv_freq[i] = theta^(-2i/D); angles [T, D/2] = pos * inv_freq, duplicated for the two halves
  const invFreq = iota([half], 0, 'f32').mul((-2 / D) * Math.log(a.theta as number)).exp();
  const ang = pos.cast('f32').unsqueeze(-1).mul(invFreq);
  const emb = concat([ang, ang], -1);
  const [cos, sin] = [emb.cos(), emb.sin()];
  const x1 = x.slice([...Array(x.rank - 1).fill(null), [0, half]]);
  const x2 = x.slice([...Array(x.rank - 1).fill(null), [half, D]]);
  const rot = concat([x2.neg(), x1], -1);
  return x.mul(cos.cast(x.dtype)).add(rot.mul(sin.cast(x.dtype)));
});

/**
 * Rotary embedding on x [..., T, D] with positions [T] (or [B, 1, T] for per-sample positions
 * against x [B, H, T, D]); `theta` is the base (rope_theta).
 */
export function rope(x: Tensor, positions: Tensor, theta = 10000): Tensor {
  const D = x.shape[x.rank - 1];
  if (D % 2 !== 0) shapeError('rope', `head_dim ${D} must be even`, x.node.type);
  if (positions.dtype !== 'i32' && positions.dtype !== 'f32') shapeError('rope', 'positions must be i32 or f32', positions.node.type);
  return ropeC([x, positions], { theta });
}
