/** Layer norm and RMS norm over the trailing axes, with optional affine parameters. */
import { defineComposite } from '../composite';
import type { Tensor } from '../../dsl/tensor';
import type { Shape } from '../../dsl/shape-types';
import type { Attrs, DType, Node } from '../ir';
import { rowOp } from '../primitives/rows';
import { shapeError } from '../primitive';

const trailing = (rank: number, n: number) => Array.from({ length: n }, (_, i) => rank - n + i);

/** One trailing axis: the row kernel (rows.ts). */
const rowNorm = (kind: 'layer_norm' | 'rms_norm') => ([x, ...affine]: readonly Node[], a: Attrs) => (a.normalized === 1 ? rowOp(kind, x, { eps: a.eps as number, hasWeight: kind === 'rms_norm' ? affine.length > 0 : !!a.hasWeight }, affine) : undefined);

const layerNormC = defineComposite('layer_norm', ([x, ...affine], a) => {
  const axes = trailing(x.rank, a.normalized as number);
  const mu = x.mean(axes, true);
  const xc = x.sub(mu);
  let y = xc.mul(xc.mul(xc).mean(axes, true).add(a.eps as number).rsqrt());
  const [w, b] = a.hasWeight ? affine : [undefined, affine[0]];
  if (w) y = y.mul(w);
  if (b) y = y.add(b);
  return y;
}, { fused: rowNorm('layer_norm') });

const rmsNormC = defineComposite('rms_norm', ([x, w], a) => {
  const axes = trailing(x.rank, a.normalized as number);
  const y = x.mul(x.mul(x).mean(axes, true).add(a.eps as number).rsqrt());
  return w ? y.mul(w) : y;
}, { fused: rowNorm('rms_norm') });

function checkAffine(op: string, x: Tensor, p: Tensor | undefined): number {
  if (!p) return 1;
  const n = p.rank;
  if (n > x.rank || p.shape.some((d, i) => d !== x.shape[x.rank - n + i])) shapeError(op, 'weight must match the trailing axes of the input', x.node.type, p.node.type);
  return n;
}

/** LayerNorm over the trailing axes that `weight` covers (the last axis without a weight). */
export function layerNorm<S extends Shape, D extends DType>(x: Tensor<S, D>, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor<S, D> {
  const n = Math.max(checkAffine('layer_norm', x, weight), checkAffine('layer_norm', x, bias));
  return layerNormC([x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])], { eps, normalized: n, hasWeight: !!weight }) as Tensor<S, D>;
}

export function rmsNorm<S extends Shape, D extends DType>(x: Tensor<S, D>, weight?: Tensor, eps = 1e-6): Tensor<S, D> {
  const n = checkAffine('rms_norm', x, weight);
  return rmsNormC(weight ? [x, weight] : [x], { eps, normalized: n }) as Tensor<S, D>;
}
