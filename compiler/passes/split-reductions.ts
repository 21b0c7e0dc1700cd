/**
 * Long reductions into few outputs run as two passes: a reduction kernel gives each output to
 * one invocation, so summing a million elements into one value would run on a single thread.
 * The reduced axes are moved last and split into chunks; the first pass reduces every chunk in
 * parallel and the second the partial results. Views fuse into the first pass, so x is still
 * read once.
 */
import type { Graph, Node } from '../ir';
import { makeNode, mapGraph, numel } from '../ir';
import { apply } from '../primitive';

const SPLITTABLE: Record<string, number> = { reduce_sum: 0, reduce_max: -Infinity, reduce_min: Infinity };
const MIN_REDUCED = 8192;
const MAX_OUTPUTS = 512;

function split(n: Node, x: Node): Node {
  const axes = n.attrs.axes as number[];
  const shape = x.type.shape;
  const keep = shape.map((_, d) => d).filter((d) => !axes.includes(d));
  const outN = numel(keep.map((d) => shape[d]));
  const R = numel(axes.map((d) => shape[d]));
  const chunk = Math.ceil(Math.sqrt(R));
  const chunks = Math.ceil(R / chunk);
  let t = apply('permute', [x], { perm: [...keep, ...axes] });
  t = apply('reshape', [t], { shape: [outN, R] });
  if (chunks * chunk !== R) t = apply('pad', [t], { lo: [0, 0], hi: [0, chunks * chunk - R], value: SPLITTABLE[n.op] });
  t = apply('reshape', [t], { shape: [outN, chunks, chunk] });
  t = apply(n.op, [t], { axes: [2] });
  t = apply(n.op, [t], { axes: [1] });
  return apply('reshape', [t], { shape: [...n.type.shape] });
}

export function splitLongReductions(g: Graph): Graph {
  return mapGraph(g, (n, inputs) => {
    const fresh = inputs.every((i, k) => i === n.inputs[k]) ? n : makeNode(n.op, inputs, n.attrs, n.type);
    if (!(n.op in SPLITTABLE)) return fresh;
    const reduced = numel(inputs[0].type.shape) / Math.max(1, numel(n.type.shape));
    if (reduced < MIN_REDUCED || numel(n.type.shape) > MAX_OUTPUTS) return fresh;
    return split(n, inputs[0]);
  });
}
