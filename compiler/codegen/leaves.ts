import type { Node } from '../ir';

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
