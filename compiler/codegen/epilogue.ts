/**
 * Epilogue fusion: an elementwise consumer of a matmul's (or convolution's) product, such as a
 * bias, an activation or a residual, is computed by the product's own kernel as it stores each
 * value, instead of by a kernel of its own that reads the product back (one pass over M x N and
 * one dispatch fewer). The product then never gets a buffer.
 */
import type { Node } from '../ir';
import { numel } from '../ir';
import { primitive } from '../primitive';
import { leafBuffers } from './leaves';

const emissionOf = (n: Node) => primitive(n.op).emission;

/** reads every input at the output's own linear position: elementwise ops, and reshapes (row-major order kept) */
const samePosition = (n: Node) => {
  const em = emissionOf(n);
  return n.op === 'reshape' || (em.kind === 'fusable' && em.pointwise === true);
};

/**
 * The one materialised node that reads `x`, when every path to it runs through elementwise ops
 * and reshapes only (so it reads `x` at its own linear index), else undefined.
 */
function soleReader(x: Node, users: ReadonlyMap<number, readonly Node[]>, mat: ReadonlySet<number>): Node | undefined {
  const roots = new Set<Node>();
  const seen = new Set<number>();
  const up = (n: Node): boolean =>
    (users.get(n.id) ?? []).every((u) => {
      if (!samePosition(u)) return false;
      if (mat.has(u.id)) return roots.add(u), true;
      if (seen.has(u.id)) return true;
      seen.add(u.id);
      return up(u);
    });
  if (!up(x) || roots.size !== 1) return undefined;
  return [...roots][0];
}

/**
 * Which materialised elementwise nodes are computed in the epilogue of which product: root id ->
 * the product node. A product qualifies when its primitive's kernels take an epilogue, it is not
 * an output, and its only reader is one elementwise root of the same size and dtype that reads
 * it at its own position; the fused
 * kernel must still bind within `maxInputs` buffers. One product per root.
 */
export function findEpilogues(nodes: readonly Node[], users: ReadonlyMap<number, readonly Node[]>, mat: ReadonlySet<number>, keep: ReadonlySet<number>, maxInputs: number): Map<number, Node> {
  const fused = new Map<number, Node>();
  for (const x of nodes) {
    const em = emissionOf(x);
    if (em.kind !== 'kernel' || !em.epilogue || !mat.has(x.id) || keep.has(x.id)) continue;
    const root = soleReader(x, users, mat);
    // (a reshape of the product itself is an alias of its buffer, not a kernel)
    if (!root || (root.op === 'reshape' && mat.has(root.inputs[0].id)) || fused.has(root.id)) continue;
    if (root.type.dtype !== x.type.dtype || numel(root.type.shape) !== numel(x.type.shape) || numel(x.type.shape) === 0) continue;
    const others = [...leafBuffers(root, mat)].filter((l) => l.id !== x.id);
    if (others.length + x.inputs.length > maxInputs) continue;
    fused.set(root.id, x);
  }
  return fused;
}
