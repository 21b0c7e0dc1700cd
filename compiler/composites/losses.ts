/** Losses and index encodings. */
import { defineComposite } from '../composite';
import type { Tensor } from '../../dsl/tensor';
import { iota, where } from '../../dsl/tensor';
import type { DType } from '../ir';
import { shapeError } from '../primitive';
import { logSoftmax } from './activations';

const oneHotC = defineComposite('one_hot', ([ids], a) =>
  iota([...ids.shape, a.classes as number], ids.rank, ids.dtype).eq(ids.unsqueeze(-1)).cast(a.dtype as DType),
);

/** oneHot(ids, n): [..., n], 1 where the class equals the id (ids outside 0..n-1 give all zeros). */
export function oneHot(ids: Tensor, classes: number, dtype: DType = 'f32'): Tensor {
  if (ids.dtype !== 'i32' && ids.dtype !== 'u32') shapeError('one_hot', 'ids must be i32 or u32', ids.node.type);
  return oneHotC([ids], { classes, dtype });
}

const crossEntropyC = defineComposite('cross_entropy', ([logits, targets], a) => {
  const C = logits.shape[logits.rank - 1];
  const logp = logSoftmax(logits, -1);
  const picked = logp.mul(oneHot(targets, C, logits.dtype)).sum(-1);
  const keep = targets.ne(a.ignoreIndex as number);
  const nll = where(keep, picked.neg(), 0);
  if (a.reduction === 'none') return nll;
  if (a.reduction === 'sum') return nll.sum();
  return nll.sum().div(keep.cast(logits.dtype).sum().maximum(1));
});

/**
 * Cross-entropy of logits [..., C] against integer targets [...]; targets equal to
 * `ignoreIndex` count neither in the sum nor in the mean's denominator (as in PyTorch).
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: { ignoreIndex?: number; reduction?: 'mean' | 'sum' | 'none' } = {}): Tensor {
  if (targets.dtype !== 'i32') shapeError('cross_entropy', 'targets must be i32', targets.node.type);
  if (targets.rank !== logits.rank - 1 || targets.shape.some((d, i) => d !== logits.shape[i])) shapeError('cross_entropy', 'targets must have the shape of logits without the class axis', logits.node.type, targets.node.type);
  return crossEntropyC([logits, targets], { ignoreIndex: opts.ignoreIndex ?? -100, reduction: opts.reduction ?? 'mean' });
}
