/** Lowering: replaces composite nodes by their expansion into primitives (recursively). */
import type { Graph, Node } from '../ir';
import { makeNode, mapGraph } from '../ir';
import { primitive } from '../primitive';

function lowerNode(n: Node, inputs: readonly Node[]): Node {
  const em = primitive(n.op).emission;
  if (em.kind !== 'composite') return inputs.every((i, k) => i === n.inputs[k]) ? n : makeNode(n.op, inputs, n.attrs, n.type);
  const expanded = em.expand(inputs, n.attrs);
  // an expansion may itself use composites
  return lowerGraphRoot(expanded);
}

function lowerGraphRoot(root: Node): Node {
  const g = lowerComposites({ inputs: [], outputs: [['', root]] });
  return g.outputs[0][1];
}

export function lowerComposites(g: Graph): Graph {
  return mapGraph(g, lowerNode);
}
