/**
 * Optimizers as update rules written in the DSL: they are traced into the training step, so
 * the whole update (for every parameter) compiles to fused WGSL kernels beside the backward pass.
 */
import * as t from 'io-ts';
import type { Tensor } from './tensor';

export const OptimizerConfig = t.union([
  t.intersection([t.type({ kind: t.literal('sgd') }), t.partial({ momentum: t.number, nesterov: t.boolean, dampening: t.number, weightDecay: t.number })]),
  t.intersection([t.type({ kind: t.union([t.literal('adam'), t.literal('adamw')]) }), t.partial({ beta1: t.number, beta2: t.number, eps: t.number, weightDecay: t.number })]),
]);
export type OptimizerConfig = t.TypeOf<typeof OptimizerConfig>;

/** Names of the per-parameter state slots an optimizer keeps. */
export function stateSlots(o: OptimizerConfig): string[] {
  if (o.kind === 'sgd') return (o.momentum ?? 0) !== 0 ? ['momentum'] : [];
  return ['m', 'v'];
}

export interface UpdateInputs {
  param: Tensor;
  grad: Tensor;
  state: Record<string, Tensor>;
  /** scalars (rank 0) */
  lr: Tensor;
  /** 1 - beta1^t and 1 - beta2^t (Adam bias corrections), computed on the host */
  bc1: Tensor;
  bc2: Tensor;
  /** the parameter group's weight decay (a compile-time constant) */
  weightDecay: number;
  /** 1 on the first step: SGD momentum starts from the gradient, as PyTorch does */
  first: Tensor;
}

export function update(o: OptimizerConfig, u: UpdateInputs): { param: Tensor; state: Record<string, Tensor> } {
  const { param: p, lr, weightDecay: wd } = u;
  let g = u.grad;
  if (o.kind === 'sgd') {
    if (wd) g = g.add(p.mul(wd));
    const mu = o.momentum ?? 0;
    if (mu === 0) return { param: p.sub(g.mul(lr)), state: {} };
    const damp = o.dampening ?? 0;
    // PyTorch: buf = g on the first step, then mu * buf + (1 - dampening) * g
    const fresh = u.state.momentum.mul(mu).add(g.mul(1 - damp));
    const buf = fresh.add(g.sub(fresh).mul(u.first));
    const step = o.nesterov ? g.add(buf.mul(mu)) : buf;
    return { param: p.sub(step.mul(lr)), state: { momentum: buf } };
  }
  const [b1, b2, eps] = [o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.eps ?? 1e-8];
  if (o.kind === 'adam' && wd) g = g.add(p.mul(wd));
  const m = u.state.m.mul(b1).add(g.mul(1 - b1));
  const v = u.state.v.mul(b2).add(g.mul(g).mul(1 - b2));
  const stepDir = m.div(u.bc1).div(v.div(u.bc2).sqrt().add(eps));
  // AdamW decays the weights directly (decoupled), scaled by the learning rate
  const decayed = o.kind === 'adamw' && wd ? p.sub(p.mul(lr).mul(wd)) : p;
  return { param: decayed.sub(stepDir.mul(lr)), state: { m, v } };
}
