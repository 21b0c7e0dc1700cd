/** Constant folding: small computations on constants run once, at compile time, on the reference. */
import type { Graph, Node } from '../ir';
import { makeNode, mapGraph, numel } from '../ir';
import { primitive } from '../primitive';

const MAX_FOLD = 4096;
const NEVER = new Set(['input', 'const', 'fill', 'random', 'iota']);

export function foldConstants(g: Graph): Graph {
  return mapGraph(g, (n, inputs) => {
    const rebuilt = inputs.every((i, k) => i === n.inputs[k]) ? n : makeNode(n.op, inputs, n.attrs, n.type);
    if (NEVER.has(n.op) || inputs.length === 0 || !inputs.every((i) => i.op === 'const' || i.op === 'fill')) return rebuilt;
    if (numel(n.type.shape) > MAX_FOLD || inputs.some((i) => numel(i.type.shape) > MAX_FOLD)) return rebuilt;
    const data = primitive(n.op).reference(
      inputs.map((i) => ({ type: i.type, data: valuesOf(i) })),
      n.attrs,
      n.type,
    );
    const first = data[0];
    if (data.every((v) => Object.is(v, first)) && data.length > 0) return makeNode('fill', [], { shape: [...n.type.shape], dtype: n.type.dtype, value: first }, n.type);
    return makeNode('const', [], { shape: [...n.type.shape], dtype: n.type.dtype, data }, n.type);
  });
}

function valuesOf(n: Node): Float64Array {
  if (n.op === 'const') return n.attrs.data as Float64Array;
  return new Float64Array(numel(n.type.shape)).fill(n.attrs.value as number);
}
