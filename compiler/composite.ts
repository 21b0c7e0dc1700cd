/**
 * Composite ops (softmax, norms, attention, ...) are defined by their expansion into
 * primitives, written with the DSL. They stay single nodes in the traced IR (readable dumps,
 * a place for a fused kernel) and the lowering pass replaces them by their expansion, so the
 * reference and the kernels come from the primitives. Autodiff differentiates the expansion,
 * unless the composite has a VJP rule of its own (as JAX's custom_vjp): then the node stays
 * whole through autodiff, so the forward pass of a training step still gets the fused kernel
 * and the backward pass is the rule's few kernels instead of the expansion's transpose.
 */
import type { Attrs, Node } from './ir';
import { makeNode } from './ir';
import { apply, definePrimitive } from './primitive';
import type { Primitive, VjpRule } from './primitive';
import { evaluateNodes } from '../runtime/reference';
import { Tensor } from '../dsl/tensor';

export type Expansion = (inputs: readonly Tensor[], attrs: Attrs) => Tensor;

/** A fused kernel for a composite: a node computing it in one go, or undefined where it does not apply. */
export type Fused = (inputs: readonly Node[], attrs: Attrs) => Node | undefined;

/** The float64 reference of a node defined by an expansion: the expansion evaluated on its inputs. */
export function referenceByExpansion(expandNodes: (inputs: readonly Node[], attrs: Attrs) => Node): Primitive['reference'] {
  return (ins, attrs) => {
    const stand = ins.map((t, i) => makeNode('input', [], { name: `_${i}` }, t.type));
    const out = expandNodes(stand, attrs);
    const byId = new Map(stand.map((n, i) => [n.id, ins[i].data]));
    return evaluateNodes([out], (n) => byId.get(n.id)!).get(out.id)!.data;
  };
}

export interface CompositeOptions {
  readonly fused?: Fused;
  readonly vjp?: VjpRule;
}

export function defineComposite(name: string, expand: Expansion, { fused, vjp }: CompositeOptions = {}): (inputs: readonly Tensor[], attrs?: Attrs) => Tensor {
  const expandNodes = (inputs: readonly Node[], attrs: Attrs) => expand(inputs.map((n) => new Tensor(n)), attrs).node;
  definePrimitive({
    name,
    // the type is whatever the expansion produces on stand-in inputs
    infer: (types, attrs) => expandNodes(types.map((t, i) => makeNode('input', [], { name: `_${i}`, shape: [...t.shape], dtype: t.dtype }, t)), attrs).type,
    reference: referenceByExpansion(expandNodes),
    emission: { kind: 'composite', expand: expandNodes, fused },
    vjp,
  });
  return (inputs, attrs = {}) => new Tensor(apply(name, inputs.map((t) => t.node), attrs));
}
