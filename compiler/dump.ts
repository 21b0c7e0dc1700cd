/** Readable text of the IR (`--dump ir`) and of the generated kernels (`--dump wgsl`). */
import type { AttrValue, Graph, Node } from './ir';
import { fmtType, graphNodes } from './ir';

function fmtAttr(v: AttrValue): string {
  if (v instanceof Float64Array) return v.length <= 8 ? `[${Array.from(v).join(', ')}]` : `<${v.length} values>`;
  if (Array.isArray(v)) return `[${v.map(fmtAttr).join(', ')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${k}: ${fmtAttr(x as AttrValue)}`).join(', ')}}`;
  return String(v);
}

/** One line per node: `%7 = add(%3, %5) : f32[2, 3]`; node numbers are local to the graph. */
export function printGraph(g: Graph): string {
  const nodes = graphNodes(g);
  const local = new Map<number, number>(nodes.map((n, i) => [n.id, i]));
  const ref = (n: Node) => `%${local.get(n.id)}`;
  const lines = nodes.map((n) => {
    const attrs = Object.entries(n.attrs).filter(([k]) => !(n.op === 'input' && (k === 'shape' || k === 'dtype')));
    const a = attrs.length ? ` {${attrs.map(([k, v]) => `${k}=${fmtAttr(v)}`).join(', ')}}` : '';
    return `${ref(n)} = ${n.op}(${n.inputs.map(ref).join(', ')})${a} : ${fmtType(n.type)}`;
  });
  lines.push(`return ${g.outputs.map(([k, n]) => `${k || '_'}=${ref(n)}`).join(', ')}`);
  return lines.join('\n');
}
