/** Readable text of the IR (`--dump ir`) and of the generated kernels (`--dump wgsl`). */
import type { AttrValue, Graph, Node } from './ir';
import { fmtType, graphNodes } from './ir';

/** FNV-1a over the bytes of a constant: cache keys must tell constants apart. */
export function hashValues(v: Float64Array): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  let h = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < bytes.length; i++) {
    h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ bytes[i], 0x5bd1e995) >>> 0;
  }
  return `${h.toString(16)}${h2.toString(16)}`;
}

/** `exact`: large constants show a hash of their contents (for cache keys) instead of only their length. */
function fmtAttr(v: AttrValue, exact: boolean): string {
  if (v instanceof Float64Array) return v.length <= 8 ? `[${Array.from(v).join(', ')}]` : exact ? `<${v.length} values #${hashValues(v)}>` : `<${v.length} values>`;
  if (Array.isArray(v)) return `[${v.map((x) => fmtAttr(x, exact)).join(', ')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${k}: ${fmtAttr(x as AttrValue, exact)}`).join(', ')}}`;
  return String(v);
}

/** The graph's text with every constant's contents hashed in: a key for compiled executables. */
export function graphKey(g: Graph): string {
  return printGraph(g, true);
}

/** One line per node: `%7 = add(%3, %5) : f32[2, 3]`; node numbers are local to the graph. */
export function printGraph(g: Graph, exact = false): string {
  const nodes = graphNodes(g);
  const local = new Map<number, number>(nodes.map((n, i) => [n.id, i]));
  const ref = (n: Node) => `%${local.get(n.id)}`;
  const lines = nodes.map((n) => {
    const attrs = Object.entries(n.attrs).filter(([k]) => !(n.op === 'input' && (k === 'shape' || k === 'dtype')));
    const a = attrs.length ? ` {${attrs.map(([k, v]) => `${k}=${fmtAttr(v, exact)}`).join(', ')}}` : '';
    return `${ref(n)} = ${n.op}(${n.inputs.map(ref).join(', ')})${a} : ${fmtType(n.type)}`;
  });
  lines.push(`return ${g.outputs.map(([k, n]) => `${k || '_'}=${ref(n)}`).join(', ')}`);
  return lines.join('\n');
}
