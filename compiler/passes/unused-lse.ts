/**
 * Fused attention is lowered with the forward kernel that also writes each query's
 * log-sum-exp (`withLse`), so that a training graph's gradient, which reads it, shares the node
 * (after CSE). Where nothing reads that column (inference), the plain kernel is taken instead:
 * its output needs no slicing, so no copy of it.
 */
import type { Graph, Node } from '../ir';
import { graphNodes, makeNode, mapGraph, usersOf } from '../ir';

/** a slice that keeps every value but the last column (the attention output itself) */
function outputSlice(n: Node, f: Node): boolean {
  if (n.op !== 'slice') return false;
  const last = f.type.shape.length - 1;
  const [start, stop, step] = ['start', 'stop', 'step'].map((k) => n.attrs[k] as number[]);
  return f.type.shape.every((d, i) => step[i] === 1 && start[i] === 0 && stop[i] === (i === last ? d - 1 : d));
}

export function plainFlashWhereLseUnused(g: Graph): Graph {
  const nodes = graphNodes(g);
  const users = usersOf(nodes);
  const outputs = new Set(g.outputs.map(([, n]) => n.id));
  const unused = new Set(
    nodes.filter((n) => n.op === 'flash_attention' && n.attrs.withLse && !outputs.has(n.id) && (users.get(n.id) ?? []).every((u) => outputSlice(u, n))).map((n) => n.id),
  );
  if (unused.size === 0) return g;
  const plain = new Map<number, Node>();
  return mapGraph(g, (n, inputs) => {
    const f = n.inputs[0];
    if (n.op === 'slice' && f && unused.has(f.id)) {
      const src = inputs[0];
      let p = plain.get(f.id);
      if (!p) {
        const { withLse: _, ...attrs } = f.attrs;
        p = makeNode('flash_attention', src.inputs, attrs, n.type);
        plain.set(f.id, p);
      }
      return p;
    }
    return inputs.every((x, k) => x === n.inputs[k]) ? n : makeNode(n.op, inputs, n.attrs, n.type);
  });
}
