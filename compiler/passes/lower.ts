/** Lowering: replaces composite nodes by their expansion into primitives (recursively). */
import type { Graph, Node } from '../ir';
import { makeNode, mapGraph } from '../ir';
import { primitive } from '../primitive';

/**
 * `keep`: composites to leave in place (autodiff keeps those with a VJP rule of their own).
 * `fused`: use a composite's fused kernel where it has one (code generation, after autodiff).
 */
export function lowerComposites(g: Graph, keep: (n: Node) => boolean = () => false, fused = false): Graph {
  const done = new Map<number, Node>();
  // lowers the nodes an expansion created, stopping at nodes that are already lowered
  const lowerFresh = (root: Node): Node => {
    const stack: [Node, number][] = [[root, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [n, i] = top;
      if (done.has(n.id)) {
        stack.pop();
        continue;
      }
      if (i < n.inputs.length) {
        top[1]++;
        if (!done.has(n.inputs[i].id)) stack.push([n.inputs[i], 0]);
        continue;
      }
      stack.pop();
      const r = lowerOne(n, n.inputs.map((x) => done.get(x.id)!));
      done.set(n.id, r);
      done.set(r.id, r);
    }
    return done.get(root.id)!;
  };
  const lowerOne = (n: Node, inputs: readonly Node[]): Node => {
    const em = primitive(n.op).emission;
    if (em.kind !== 'composite' || keep(n)) return inputs.every((x, k) => x === n.inputs[k]) ? n : makeNode(n.op, inputs, n.attrs, n.type);
    const f = fused && em.fused ? em.fused(inputs, n.attrs) : undefined;
    return f ?? lowerFresh(em.expand(inputs, n.attrs));
  };
  return mapGraph(g, (n, inputs) => {
    const r = lowerOne(n, inputs);
    done.set(n.id, r);
    // a lowered node is final: expansions that reach it stop there
    done.set(r.id, r);
    return r;
  });
}
