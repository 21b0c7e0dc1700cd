/**
 * The one device-dependent rewrite: nodes whose kernel this adapter cannot run (a primitive's
 * `fallback`, e.g. fused attention without 8- or 16-lane subgroups, or too long for a texture) become
 * their expansion into primitives.
 */
import type { Graph } from '../ir';
import { makeNode, mapGraph } from '../ir';
import { primitive } from '../primitive';
import type { DeviceTraits } from '../primitive';

/** `changed`: whether any node was expanded (the caller optimises the new nodes). */
export function expandFallbacks(g: Graph, features: ReadonlySet<string>, device: DeviceTraits): { graph: Graph; changed: boolean } {
  let changed = false;
  const graph = mapGraph(g, (n, inputs) => {
    const em = primitive(n.op).emission;
    if (em.kind === 'kernel' && em.fallback?.applies({ out: n.type, inputs: inputs.map((i) => i.type), features, device }, n.attrs)) {
      changed = true;
      return em.fallback.expand(inputs, n.attrs);
    }
    return inputs.every((x, k) => x === n.inputs[k]) ? n : makeNode(n.op, inputs, n.attrs, n.type);
  });
  return { graph: changed ? graph : g, changed };
}
