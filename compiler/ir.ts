/**
 * The IR: an immutable DAG of primitive applications. A node refers to its inputs directly
 * (there is no global graph to mutate); a Graph is just named inputs and outputs, and every
 * pass builds new nodes. Node ids only order nodes deterministically.
 */
export type DType = 'f32' | 'f16' | 'i32' | 'u32' | 'bool';
export const DTYPES: readonly DType[] = ['f32', 'f16', 'i32', 'u32', 'bool'];

export interface TensorType {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export type AttrValue = number | string | boolean | null | readonly AttrValue[] | { readonly [k: string]: AttrValue } | Float64Array;
export type Attrs = { readonly [k: string]: AttrValue };

export interface Node {
  readonly id: number;
  readonly op: string;
  readonly inputs: readonly Node[];
  readonly attrs: Attrs;
  readonly type: TensorType;
}

export interface Graph {
  /** graph inputs by their dotted path name, in call order */
  readonly inputs: readonly Node[];
  /** outputs by dotted path name ('' for a single output) */
  readonly outputs: readonly (readonly [string, Node])[];
}

let nextId = 0;
export function makeNode(op: string, inputs: readonly Node[], attrs: Attrs, type: TensorType): Node {
  return Object.freeze({ id: nextId++, op, inputs: Object.freeze([...inputs]), attrs, type: Object.freeze({ shape: Object.freeze([...type.shape]), dtype: type.dtype }) });
}

export class ShapeError extends Error {
  override name = 'ShapeError';
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export const isFloat = (d: DType): boolean => d === 'f32' || d === 'f16';
export const isInt = (d: DType): boolean => d === 'i32' || d === 'u32';
export const fmtShape = (s: readonly number[]): string => `[${s.join(', ')}]`;
export const fmtType = (t: TensorType): string => `${t.dtype}${fmtShape(t.shape)}`;

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** All nodes reachable from the outputs, inputs before users. */
export function topoSort(roots: readonly Node[]): Node[] {
  const seen = new Set<number>();
  const order: Node[] = [];
  const stack: [Node, number][] = roots.map((r) => [r, 0] as [Node, number]).reverse();
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [n, i] = top;
    if (seen.has(n.id)) {
      stack.pop();
      continue;
    }
    if (i < n.inputs.length) {
      top[1]++;
      const child = n.inputs[i];
      if (!seen.has(child.id)) stack.push([child, 0]);
    } else {
      stack.pop();
      seen.add(n.id);
      order.push(n);
    }
  }
  return order;
}

export function graphNodes(g: Graph): Node[] {
  return topoSort([...g.outputs.map(([, n]) => n), ...g.inputs]);
}

/** Consumers of each node within a node list. */
export function usersOf(nodes: readonly Node[]): Map<number, Node[]> {
  const users = new Map<number, Node[]>();
  for (const n of nodes) for (const i of n.inputs) {
    const list = users.get(i.id);
    if (list) list.push(n);
    else users.set(i.id, [n]);
  }
  return users;
}

/** Rebuilds a graph bottom-up; `rewrite` gets a node whose inputs were already rewritten. */
export function mapGraph(g: Graph, rewrite: (n: Node, inputs: Node[]) => Node): Graph {
  const memo = new Map<number, Node>();
  for (const n of graphNodes(g)) {
    const inputs = n.inputs.map((i) => memo.get(i.id)!);
    memo.set(n.id, rewrite(n, inputs));
  }
  return { inputs: g.inputs.map((n) => memo.get(n.id)!), outputs: g.outputs.map(([k, n]) => [k, memo.get(n.id)!] as const) };
}

export function attrsKey(a: Attrs): string {
  return JSON.stringify(a, (_k, v) => (v instanceof Float64Array ? Array.from(v) : v));
}
