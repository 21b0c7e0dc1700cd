/**
 * Fusion and scheduling: decides which nodes live in buffers ("materialised") and turns every
 * materialised non-source node into one kernel. Fusable nodes (elementwise ops, views) are
 * inlined as expressions into the kernels that read them.
 */
import type { Graph, Node } from '../ir';
import { graphNodes, numel, usersOf } from '../ir';
import { primitive } from '../primitive';

export interface Schedule {
  /** every node that owns a buffer, in execution order (sources first) */
  readonly materialised: ReadonlySet<number>;
  /** nodes computed by a kernel, in execution order */
  readonly kernels: readonly Node[];
  readonly nodes: readonly Node[];
}

const kindOf = (n: Node) => primitive(n.op).emission.kind;
const VIEW_OPS = new Set(['reshape', 'permute', 'expand', 'slice']);

/** `maxInputs`: storage bindings a kernel may read (the output takes one more). */
export function schedule(g: Graph, maxInputs = 7, forced: ReadonlySet<number> = new Set()): Schedule {
  const nodes = graphNodes(g);
  const users = usersOf(nodes);
  const mat = new Set<number>(forced);
  for (const [, n] of g.outputs) mat.add(n.id);
  const cheap = new Set<number>();
  for (const n of nodes) {
    const kind = kindOf(n);
    if (kind !== 'fusable') mat.add(n.id);
    if (kind === 'kernel') for (const i of n.inputs) mat.add(i.id);
    if (n.op === 'fill' || n.op === 'iota') cheap.add(n.id);
    if (VIEW_OPS.has(n.op) && (cheap.has(n.inputs[0].id) || mat.has(n.inputs[0].id))) cheap.add(n.id);
  }
  // a fusable node read by several kernels is computed once, unless it is only index arithmetic
  for (const n of nodes) {
    if (kindOf(n) === 'fusable' && !cheap.has(n.id) && (users.get(n.id)?.length ?? 0) > 1) mat.add(n.id);
  }
  // too many distinct buffers for one kernel: materialise its fusable inputs and try again
  for (const n of nodes) {
    if (!mat.has(n.id) || kindOf(n) === 'source') continue;
    if (leafBuffers(n, mat).size > maxInputs) {
      const more = new Set(forced);
      for (const i of n.inputs) more.add(i.id);
      if (more.size === forced.size) throw new Error(`kernel for ${n.op} reads more than ${maxInputs} buffers`);
      return schedule(g, maxInputs, new Set([...mat, ...more]));
    }
  }
  const kernels = nodes.filter((n) => mat.has(n.id) && kindOf(n) !== 'source' && numel(n.type.shape) > 0);
  return { materialised: mat, kernels, nodes };
}

/** The materialised nodes a kernel computing `root` reads. */
export function leafBuffers(root: Node, mat: ReadonlySet<number>): Set<Node> {
  const out = new Set<Node>();
  const seen = new Set<number>();
  const visit = (n: Node) => {
    for (const i of n.inputs) {
      if (seen.has(i.id)) continue;
      seen.add(i.id);
      if (mat.has(i.id)) out.add(i);
      else visit(i);
    }
  };
  visit(root);
  return out;
}
