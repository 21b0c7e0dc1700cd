/**
 * The reference interpreter: evaluates an IR graph in plain TypeScript, float64 throughout
 * (integers, bools and f16 are rounded to their dtype after each op). It is the oracle every
 * kernel is tested against, and the `cpu` backend.
 */
import type { Graph, Node } from '../compiler/ir';
import { fmtType, graphNodes, numel } from '../compiler/ir';
import { primitive } from '../compiler/primitive';
import type { RefTensor } from '../compiler/primitive';
import { coerce } from '../compiler/dtype';
import '../compiler/primitives';

export function evaluateNodes(roots: readonly Node[], bind: (input: Node) => Float64Array | ArrayLike<number>): Map<number, RefTensor> {
  const values = new Map<number, RefTensor>();
  const order = graphNodes({ inputs: [], outputs: roots.map((r) => ['', r] as const) });
  for (const n of order) {
    let data: Float64Array;
    if (n.op === 'input') {
      const raw = bind(n);
      if (raw.length !== numel(n.type.shape)) throw new Error(`input '${n.attrs.name}' ${fmtType(n.type)} got ${raw.length} values`);
      data = Float64Array.from(raw as ArrayLike<number>, (v) => coerce(Number(v), n.type.dtype));
    } else {
      data = primitive(n.op).reference(n.inputs.map((i) => values.get(i.id)!), n.attrs, n.type);
    }
    values.set(n.id, { type: n.type, data });
  }
  return values;
}

/** Evaluates a graph; inputs by name. */
export function evaluate(g: Graph, inputs: ReadonlyMap<string, ArrayLike<number>>): Map<string, RefTensor> {
  const values = evaluateNodes(
    g.outputs.map(([, n]) => n),
    (n) => {
      const name = n.attrs.name as string;
      const v = inputs.get(name);
      if (!v) throw new Error(`missing input '${name}'`);
      return v;
    },
  );
  return new Map(g.outputs.map(([k, n]) => [k, values.get(n.id)!]));
}
