/** Activations and normalised exponentials, defined by their expansion into primitives. */
import { defineComposite } from '../composite';
import type { Tensor } from '../../dsl/tensor';
import { iota, normAxis, where } from '../../dsl/tensor';
import type { Shape } from '../../dsl/shape-types';
import type { Attrs, DType, Node } from '../ir';
import { rowOp } from '../primitives/rows';
import type { RowKind } from '../primitives/rows';

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

const geluErf = defineComposite('gelu', ([x]) => x.mul(0.5).mul(x.mul(SQRT1_2).erf().add(1)));
const geluTanh = defineComposite('gelu_tanh', ([x]) => x.mul(0.5).mul(x.add(x.mul(x).mul(x).mul(0.044715)).mul(SQRT_2_OVER_PI).tanh().add(1)));
const siluC = defineComposite('silu', ([x]) => x.mul(x.sigmoid()));

/** GELU: exact (erf) by default, or the tanh approximation (`gelu_pytorch_tanh`). */
export function gelu<S extends Shape, D extends DType>(x: Tensor<S, D>, approximate: 'none' | 'tanh' = 'none'): Tensor<S, D> {
  return (approximate === 'tanh' ? geluTanh([x]) : geluErf([x])) as Tensor<S, D>;
}
export const silu = <S extends Shape, D extends DType>(x: Tensor<S, D>): Tensor<S, D> => siluC([x]) as Tensor<S, D>;
export const relu = <S extends Shape, D extends DType>(x: Tensor<S, D>): Tensor<S, D> => x.maximum(0);

/** Over the last axis the row kernel computes it in one pass (rows.ts). */
const lastAxisRow = (kind: RowKind) => ([x]: readonly Node[], a: Attrs) => (a.axis === x.type.shape.length - 1 ? rowOp(kind, x, {}) : undefined);

/** y = softmax(x): dx = y * (g - sum(g * y)), one reduction and one elementwise kernel. */
const softmaxVjp = (g: Tensor, y: Tensor, axis: number): Tensor => y.mul(g.sub(g.mul(y).sum(axis, true)));

const softmaxC = defineComposite(
  'softmax',
  ([x], a) => {
    const axis = a.axis as number;
    const e = x.sub(x.max(axis, true)).exp();
    return e.div(e.sum(axis, true));
  },
  { fused: lastAxisRow('softmax'), vjp: (g, _x, y, a) => [softmaxVjp(g, y, a.axis as number)] },
);
const logSoftmaxC = defineComposite(
  'log_softmax',
  ([x], a) => {
    const axis = a.axis as number;
    const shifted = x.sub(x.max(axis, true));
    return shifted.sub(shifted.exp().sum(axis, true).log());
  },
  // y = x - logsumexp(x): dx = g - softmax(x) * sum(g)
  { fused: lastAxisRow('log_softmax'), vjp: (g, _x, y, a) => [g.sub(y.exp().mul(g.sum(a.axis as number, true)))] },
);

/**
 * Softmax over the last axis of scores [.., T, C] under a causal mask: row i of each T sees
 * columns 0..i + offset. The row kernel applies the mask itself (no pass over the scores to
 * write -inf); its gradient is softmax's.
 */
/** Scores [.., T, C] with columns past row i + offset set to -inf. */
export function causalMask(s: Tensor, offset: number): Tensor {
  const [T, C] = s.shape.slice(-2);
  const qpos = iota([T, C], 0).add(offset);
  const kpos = iota([T, C], 1);
  return where(kpos.le(qpos), s, -Infinity);
}

const causalSoftmaxC = defineComposite(
  'causal_softmax',
  ([s], a) => softmax(causalMask(s, a.offset as number), -1),
  {
    fused: ([s], a) => rowOp('softmax', s, { mask: { t: s.type.shape[s.type.shape.length - 2], offset: a.offset as number } }),
    // masked entries have y = 0, so their gradient is 0 as through the mask's where
    vjp: (g, [s], y) => [softmaxVjp(g, y, s.rank - 1)],
  },
);
export function causalSoftmax<S extends Shape, D extends DType>(s: Tensor<S, D>, offset = 0): Tensor<S, D> {
  return causalSoftmaxC([s], { offset }) as Tensor<S, D>;
}

export function softmax<S extends Shape, D extends DType>(x: Tensor<S, D>, axis = -1): Tensor<S, D> {
  return softmaxC([x], { axis: normAxis(axis, x.rank, 'softmax') }) as Tensor<S, D>;
}
export function logSoftmax<S extends Shape, D extends DType>(x: Tensor<S, D>, axis = -1): Tensor<S, D> {
  return logSoftmaxC([x], { axis: normAxis(axis, x.rank, 'log_softmax') }) as Tensor<S, D>;
}
