/**
 * Attention's gradient without the T x T tensors (kernels/flash-attention-backward.ts): three
 * primitives, each a fused kernel on adapters with 8- or 16-lane subgroups and its expansion into
 * matmuls elsewhere (which is also its reference and its own gradient):
 *   flash_attention_dq, _dk, _dv (q, k, v, dO, L, D) -> dq, dk, dv,
 * with L each query's log-sum-exp of its scaled, masked scores (the forward kernel writes it
 * after each output row: `withLse`) and D = rowsum(dO * O). `attentionGrads` is the attention
 * composite's VJP rule.
 */
import type { Attrs, Node, TensorType } from '../ir';
import { numel } from '../ir';
import { apply, definePrimitive } from '../primitive';
import type { KernelCtx } from '../primitive';
import { referenceByExpansion } from '../composite';
import { vjpOfExpansion } from '../autodiff';
import { Tensor, wrap } from '../../dsl/tensor';
import { causalMask } from './activations';
import type { FlashShape } from '../../kernels/flash-attention';
import { flashBackwardFits, flashBackwardKernels } from '../../kernels/flash-attention-backward';
import { kernelLanes } from '../../kernels/matmul-texture';
import type { Lanes } from '../../kernels/matmul-texture';

export const flashShape = (q: TensorType, k: TensorType, dv: number, a: Attrs): FlashShape => {
  const [b, hq, tq, d] = q.shape;
  const [, hkv, tk] = k.shape;
  return { b, hq, hkv, tq, tk, d, dv, causal: !!a.causal, offset: a.offset as number, scale: a.scale as number };
};

/**
 * The fused kernels' common conditions: 8- or 16-lane subgroups on a CPU rasteriser, f32, a causal
 * offset >= 0 (read as unsigned), and every operand within one storage binding (else the
 * expansion runs, whose big tensors split-oversized cuts into blocks).
 */
export const flashAdapter = (k: KernelCtx, a: Attrs): boolean =>
  (a.offset as number) >= 0 &&
  k.device.cpuLike &&
  kernelLanes(k) !== undefined &&
  [...k.inputs, k.out].every((t) => t.dtype === 'f32' && numel(t.shape) * 4 <= (k.device.maxStorageBufferBindingSize ?? Infinity));

/**
 * Scaled scores of each query head against its key/value head: [B, Hkv, G, Tq, Tk]. The scale
 * goes on q (Tq x D values) rather than on the scores (Tq x Tk).
 */
export function groupedScores(q: Tensor, k: Tensor, a: Attrs): Tensor {
  const [B, Hq, Tq, D] = q.shape;
  const [, Hkv, Tk] = k.shape;
  const G = Hq / Hkv;
  const qs = a.scale === 1 ? q : q.mul(a.scale as number);
  return qs.reshape([B, Hkv, G * Tq, D]).matmul(k.transpose()).reshape([B, Hkv, G, Tq, Tk]);
}

const maskedScores = (q: Tensor, k: Tensor, a: Attrs) => (a.causal ? causalMask(groupedScores(q, k, a), a.offset as number) : groupedScores(q, k, a));

/** Each query's log-sum-exp of its scaled, masked scores: [B, Hq, Tq]. */
export function expandLse([q, k]: readonly Tensor[], a: Attrs): Tensor {
  const s = maskedScores(q, k, a);
  const mx = s.max(-1, true);
  return mx.add(s.sub(mx).exp().sum(-1, true).log()).reshape(q.shape.slice(0, 3));
}

/** P, dP -> dS of the expansion: [B, Hkv, G * Tq, Tk] each. */
function probsAndDs([q, k, v, dO, L, D]: readonly Tensor[], a: Attrs): { p: Tensor; ds: Tensor } {
  const [B, Hq, Tq] = q.shape;
  const [, Hkv, Tk, Dv] = v.shape;
  const G = Hq / Hkv;
  const stat = (t: Tensor) => t.reshape([B, Hkv, G, Tq, 1]);
  const p = maskedScores(q, k, a).sub(stat(L)).exp();
  const dp = dO.reshape([B, Hkv, G * Tq, Dv]).matmul(v.transpose()).reshape([B, Hkv, G, Tq, Tk]);
  const ds = p.mul(dp.sub(stat(D)));
  return { p: p.reshape([B, Hkv, G * Tq, Tk]), ds: ds.reshape([B, Hkv, G * Tq, Tk]) };
}

function expandDq(ins: readonly Tensor[], a: Attrs): Tensor {
  const [q, k] = ins;
  return probsAndDs(ins, a).ds.matmul(k).reshape(q.shape).mul(a.scale as number);
}

/** dk = scale dS^T q and dv = P^T dO, summed over the query heads that share a key/value head. */
const keySide = (which: 'dk' | 'dv') => (ins: readonly Tensor[], a: Attrs): Tensor => {
  const [q, , v, dO] = ins;
  const [B, Hq, Tq, D] = q.shape;
  const [, Hkv, , Dv] = v.shape;
  const rows = (t: Tensor, w: number) => t.reshape([B, Hkv, (Hq / Hkv) * Tq, w]);
  const { p, ds } = probsAndDs(ins, a);
  return which === 'dk' ? ds.transpose().matmul(rows(q, D)).mul(a.scale as number) : p.transpose().matmul(rows(dO, Dv));
};

const asNodes = (expand: (ins: readonly Tensor[], a: Attrs) => Tensor) => (inputs: readonly Node[], a: Attrs) => expand(inputs.map((n) => new Tensor(n)), a).node;

function defineFlashPart(name: string, expand: (ins: readonly Tensor[], a: Attrs) => Tensor, infer: (types: readonly TensorType[]) => TensorType, runs: (k: KernelCtx, a: Attrs) => boolean, kernels: (k: KernelCtx, a: Attrs) => ReturnType<typeof flashBackwardKernels>) {
  const nodes = asNodes(expand);
  definePrimitive({
    name,
    infer,
    reference: referenceByExpansion(nodes),
    emission: {
      kind: 'kernel',
      emit: (k, a) => {
        if (!runs(k, a)) throw new Error(`${name} on an adapter that cannot run it: the plan expands it first`);
        return kernels(k, a);
      },
      fallback: { applies: (k, a) => !runs(k, a), expand: nodes },
    },
    vjp: vjpOfExpansion(expand),
  });
}

/** binding and texture limits, then the lanes (flashAdapter has checked them) */
export const limits = (k: KernelCtx) => [k.device.maxStorageBufferBindingSize ?? 1 << 27, k.device.maxTextureDimension2D, kernelLanes(k) as Lanes] as const;

const backwardRuns = (k: KernelCtx, a: Attrs) => flashAdapter(k, a) && flashBackwardFits(flashShape(k.inputs[0], k.inputs[1], k.inputs[2].shape[3], a), k.device.maxTextureDimension2D, kernelLanes(k) as Lanes);
const backwardKernels = (which: 'dq' | 'dk' | 'dv') => (k: KernelCtx, a: Attrs) => flashBackwardKernels(which, flashShape(k.inputs[0], k.inputs[1], k.inputs[2].shape[3], a), ...limits(k));

defineFlashPart('flash_attention_dq', expandDq, ([q]) => ({ shape: [...q.shape], dtype: q.dtype }), backwardRuns, backwardKernels('dq'));
defineFlashPart('flash_attention_dk', keySide('dk'), ([, k]) => ({ shape: [...k.shape], dtype: k.dtype }), backwardRuns, backwardKernels('dk'));
defineFlashPart('flash_attention_dv', keySide('dv'), ([, , v]) => ({ shape: [...v.shape], dtype: v.dtype }), backwardRuns, backwardKernels('dv'));

/** The attrs of the forward kernel that also writes each query's log-sum-exp. */
export const withLse = (a: Attrs): Attrs => ({ ...a, withLse: true });

/**
 * The gradient of attention (no arbitrary mask): dq, dk, dv from the fused backward kernels.
 * L is the last column of the forward node with `withLse`, which the composite's fused form
 * also is, so after CSE the forward pass computes it once.
 */
export function attentionGrads(g: Tensor, [q, k, v]: readonly Tensor[], out: Tensor, a: Attrs): Tensor[] {
  const Dv = v.shape[3];
  const lse = wrap(apply('flash_attention', [q.node, k.node, v.node], withLse(a))).slice([null, null, null, [Dv, Dv + 1]]).reshape(q.shape.slice(0, 3));
  const delta = g.mul(out).sum(-1);
  const ins = [q, k, v, g, lse, delta].map((t) => t.node);
  return ['flash_attention_dq', 'flash_attention_dk', 'flash_attention_dv'].map((op) => wrap(apply(op, ins, a)));
}
