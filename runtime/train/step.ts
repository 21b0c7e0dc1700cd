/**
 * The training step as one traced function: loss, gradients of the trainable parameters,
 * unscaling (mixed precision), global-norm clipping, a finite check that turns the whole update
 * into a no-op when anything overflowed, and the optimizer update. It compiles to a single
 * executable, so a step is one submit.
 */
import type { Tensor } from '../../dsl/tensor';
import { where } from '../../dsl/tensor';
import { valueAndGrad, treeFromPaths } from '../../dsl/grad';
import type { OptimizerConfig } from '../../dsl/optim';
import { stateSlots, update } from '../../dsl/optim';
import { isFloat } from '../../compiler/ir';
import { withRngKey } from '../../dsl/rng-context';

/** What the user's loss sees: the full parameter tree, the batch and a per-step RNG key. */
export type LossFn = (args: { params: any; batch: any; key: Tensor }) => Tensor;

export interface StepPlan {
  /** dotted paths of trainable parameters, in a fixed order */
  readonly trainable: readonly string[];
  /** parameter group index of each trainable parameter */
  readonly groupOf: readonly number[];
  readonly weightDecay: readonly number[];
  readonly optimizer: OptimizerConfig;
  /** gradient clipping by global norm (0 = off) */
  readonly clipNorm: number;
  /** compute in f16 from f32 master weights */
  readonly mixed: boolean;
  /** micro-batches whose gradients are accumulated into one update */
  readonly accumulate: number;
}

export interface StepArgs {
  params: Record<string, unknown>;
  opt: Record<string, Record<string, unknown>>;
  hyper: { lr: Tensor; bc1: Tensor; bc2: Tensor; scale: Tensor; first: Tensor };
  /** one batch per micro-batch */
  batches: unknown[];
  keys: Tensor[];
}

function getPath(tree: unknown, path: string): Tensor {
  return path.split('.').reduce((node: any, k) => node?.[k], tree) as Tensor;
}

function setPaths(tree: unknown, values: Map<string, Tensor>, prefix = ''): unknown {
  if (Array.isArray(tree)) return tree.map((v, i) => setPaths(v, values, prefix ? `${prefix}.${i}` : `${i}`));
  if (tree !== null && typeof tree === 'object' && !('node' in (tree as object))) {
    return Object.fromEntries(Object.entries(tree as object).map(([k, v]) => [k, setPaths(v, values, prefix ? `${prefix}.${k}` : k)]));
  }
  return values.get(prefix) ?? tree;
}

function castTree(tree: unknown, dtype: 'f16'): unknown {
  if (tree !== null && typeof tree === 'object' && 'node' in (tree as object)) {
    const t = tree as Tensor;
    return isFloat(t.dtype) ? t.cast(dtype) : t;
  }
  if (Array.isArray(tree)) return tree.map((v) => castTree(v, dtype));
  if (tree !== null && typeof tree === 'object') return Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, castTree(v, dtype)]));
  return tree;
}

export function buildStep(loss: LossFn, plan: StepPlan) {
  return (args: StepArgs) => {
    const { params, hyper } = args;
    const trainable = plan.trainable.map((p) => getPath(params, p));
    // gradients of each micro-batch, summed, then averaged
    let lossSum: Tensor | undefined;
    let gradSum: Tensor[] | undefined;
    args.batches.forEach((batch, mb) => {
      const f = ({ t }: { t: Record<string, Tensor> }) => {
        const full = setPaths(params, new Map(plan.trainable.map((p, i) => [p, t[String(i)]])));
        const l = withRngKey(args.keys[mb], () =>
          plan.mixed
            ? loss({ params: castTree(full, 'f16'), batch: castTree(batch, 'f16'), key: args.keys[mb] }).cast('f32')
            : loss({ params: full, batch, key: args.keys[mb] }),
        );
        return l.mul(hyper.scale);
      };
      const { value, flat } = valueAndGrad(f)({ t: Object.fromEntries(trainable.map((x, i) => [String(i), x])) });
      const grads = plan.trainable.map((_, i) => flat[`t.${i}`]);
      lossSum = lossSum ? lossSum.add(value) : value;
      gradSum = gradSum ? gradSum.map((g, i) => g.add(grads[i])) : grads;
    });
    const inv = hyper.scale.mul(plan.accumulate).reciprocal();
    const grads = gradSum!.map((g) => g.mul(inv));
    const lossValue = lossSum!.mul(inv);
    const sq = grads.map((g) => g.mul(g).sum());
    const gnorm = sq.reduce((a, b) => a.add(b)).sqrt();
    // NaN fails every comparison, so this is false for NaN and for infinities
    const finite = gnorm.lt(Infinity).logicalAnd(lossValue.abs().lt(Infinity));
    const clip = plan.clipNorm > 0 ? gnorm.add(1e-6).reciprocal().mul(plan.clipNorm).minimum(1) : undefined;
    const newParams = new Map<string, Tensor>();
    const newOpt: Record<string, Record<string, Tensor>> = {};
    for (const slot of stateSlots(plan.optimizer)) newOpt[slot] = {};
    plan.trainable.forEach((path, i) => {
      const p = trainable[i];
      let g = clip ? grads[i].mul(clip) : grads[i];
      // a non-finite step must not poison the state: feed zeros, then keep the old values
      g = where(finite, g, 0);
      const state = Object.fromEntries(stateSlots(plan.optimizer).map((s) => [s, getPath(args.opt[s], path)]));
      const lr = hyper.lr.slice([plan.groupOf[i]]);
      const u = update(plan.optimizer, { param: p, grad: g, state, lr, bc1: hyper.bc1, bc2: hyper.bc2, weightDecay: plan.weightDecay[plan.groupOf[i]], first: hyper.first });
      newParams.set(path, where(finite, u.param, p));
      for (const [s, v] of Object.entries(u.state)) newOpt[s][path] = where(finite, v, state[s]);
    });
    return {
      params: treeFromPaths([...newParams]),
      opt: Object.fromEntries(Object.entries(newOpt).map(([s, m]) => [s, treeFromPaths(Object.entries(m))])),
      loss: lossValue,
      gnorm,
      finite: finite.cast('f32'),
    };
  };
}
