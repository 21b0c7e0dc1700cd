/**
 * Reverse-mode autodiff as a graph transform (as in JAX): the backward pass is built from the
 * primitives' VJP rules at trace time, so it is an ordinary graph that compiles, fuses and
 * runs as WGSL like any other, and can itself be differentiated.
 */
import type { Attrs, Node } from './ir';
import { fmtShape, isFloat, topoSort } from './ir';
import { apply, primitive } from './primitive';
import type { VjpRule } from './primitive';
import { lowerComposites } from './passes/lower';
import { defineComposite } from './composite';
import { Tensor, full } from '../dsl/tensor';

// ------------------------------------------------------------------ rematerialisation
const rematFns = new Map<number, (xs: readonly Tensor[]) => Tensor>();
let rematCount = 0;
let barrierCount = 0;
const rematC = defineComposite('remat', (xs, a) => rematFns.get(a.fn as number)!(xs), { vjp: (ct, xs, _out, a) => rematVjp(xs, a.fn as number, ct) });

/**
 * Activation checkpointing: `checkpoint(f)(...xs)` computes f(xs) as usual, but its internal
 * activations are not kept for the backward pass: the backward pass recomputes them from xs.
 */
export function checkpoint(f: (...xs: Tensor[]) => Tensor): (...xs: Tensor[]) => Tensor {
  const id = rematCount++;
  rematFns.set(id, (xs) => f(...xs));
  return (...xs) => rematC(xs, { fn: id });
}

function rematVjp(xs: readonly Tensor[], fn: number, ct: Tensor): Tensor[] {
  const barriers = xs.map((x) => new Tensor(apply('opt_barrier', [x.node], { id: barrierCount++ })));
  const out = rematFns.get(fn)!(barriers);
  const floatIdx = barriers.flatMap((b, i) => (isFloat(b.dtype) ? [i] : []));
  const { grads } = backprop([out], [ct], floatIdx.map((i) => barriers[i]));
  const all: Tensor[] = [];
  floatIdx.forEach((i, k) => (all[i] = grads[k]));
  return all;
}

/**
 * The VJP rule of a node defined by an expansion (fused kernels' primitives): the expansion,
 * rebuilt on the node's inputs, differentiated. (Its reshapes must not fold through an input
 * node, or the gradient finds no path to it: see dsl/tensor.ts reshape.)
 */
export const vjpOfExpansion =
  (expand: (inputs: readonly Tensor[], attrs: Attrs) => Tensor): VjpRule =>
  (ct, inputs, _out, attrs) =>
    backprop([expand(inputs, attrs)], [ct], inputs).grads;

export class GradError extends Error {
  override name = 'GradError';
}

/** Composites with a VJP rule of their own (rematerialisation regions, softmax, ...) stay whole. */
const hasOwnVjp = (n: Node): boolean => primitive(n.op).vjp !== undefined;

/**
 * Cotangents of `wrt` given cotangents of `outputs`. Composites without a VJP rule are lowered
 * first so their gradients come from their expansions; the returned `outputs` are the lowered
 * forward nodes (share them, so the forward pass is computed once).
 */
export function backprop(outputs: readonly Tensor[], cotangents: readonly Tensor[], wrt: readonly Tensor[]): { outputs: Tensor[]; grads: Tensor[] } {
  const lowered = lowerComposites({ inputs: [], outputs: outputs.map((o, i) => [String(i), o.node] as const) }, hasOwnVjp).outputs.map(([, n]) => n);
  const order = topoSort(lowered);
  const wrtIds = new Set(wrt.map((w) => w.node.id));
  // only nodes that depend on something we differentiate by need a cotangent
  const needed = new Set<number>();
  for (const n of order) if (wrtIds.has(n.id) || n.inputs.some((i) => needed.has(i.id))) needed.add(n.id);
  const ct = new Map<number, Tensor>();
  const accumulate = (n: Node, c: Tensor, from: Node) => {
    if (c.shape.length !== n.type.shape.length || c.shape.some((d, i) => d !== n.type.shape[i]))
      throw new GradError(`the VJP of ${from.op} gave a cotangent of shape ${fmtShape(c.shape)} for an input of shape ${fmtShape(n.type.shape)}`);
    const prev = ct.get(n.id);
    ct.set(n.id, prev ? prev.add(c as never) : c);
  };
  lowered.forEach((o, i) => {
    const c = cotangents[i];
    if (c.dtype !== o.type.dtype) throw new GradError(`cotangent of output ${i} is ${c.dtype}, the output is ${o.type.dtype}`);
    if (needed.has(o.id)) accumulate(o, c, o);
  });
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k];
    const c = ct.get(n.id);
    if (!c || n.inputs.length === 0 || !n.inputs.some((i) => needed.has(i.id))) continue;
    const rule = primitive(n.op).vjp;
    if (!rule) continue;
    const cts = rule(c, n.inputs.map((i) => new Tensor(i)), new Tensor(n), n.attrs);
    n.inputs.forEach((inp, i) => {
      const ci = cts[i];
      if (ci && needed.has(inp.id) && isFloat(inp.type.dtype)) accumulate(inp, ci, n);
    });
  }
  const grads = wrt.map((w) => ct.get(w.node.id) ?? full(w.shape, 0, w.dtype));
  return { outputs: lowered.map((n) => new Tensor(n)), grads };
}
