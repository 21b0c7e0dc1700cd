/** Common-subexpression elimination: one node per (op, attrs, inputs). */
import type { Graph, Node } from '../ir';
import { attrsKey, makeNode, mapGraph } from '../ir';

const IMPURE = new Set(['input']);

export function cse(g: Graph): Graph {
  const seen = new Map<string, Node>();
  return mapGraph(g, (n, inputs) => {
    if (IMPURE.has(n.op)) return n;
    const key = `${n.op}|${attrsKey(n.attrs)}|${inputs.map((i) => i.id).join(',')}|${n.type.dtype}`;
    const hit = seen.get(key);
    if (hit) return hit;
    const same = inputs.every((i, k) => i === n.inputs[k]);
    const m = same ? n : makeNode(n.op, inputs, n.attrs, n.type);
    seen.set(key, m);
    return m;
  });
}
