/**
 * Algebraic simplification as a table of rewrite rules (pattern -> replacement), applied
 * bottom-up until nothing changes.
 */
import type { Graph, Node } from '../ir';
import { makeNode, mapGraph } from '../ir';
import { apply } from '../primitive';

type Rule = (n: Node) => Node | undefined;

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const isFill = (n: Node, v: number) => n.op === 'fill' && n.attrs.value === v;
const fillLike = (n: Node, value: number) => makeNode('fill', [], { shape: [...n.type.shape], dtype: n.type.dtype, value }, n.type);

export const RULES: Record<string, Rule> = {
  // views that do nothing
  'reshape(x) -> x': (n) => (n.op === 'reshape' && sameShape(n.type.shape, n.inputs[0].type.shape) ? n.inputs[0] : undefined),
  'reshape(reshape(x)) -> reshape(x)': (n) => (n.op === 'reshape' && n.inputs[0].op === 'reshape' ? apply('reshape', [n.inputs[0].inputs[0]], n.attrs) : undefined),
  'permute(x, id) -> x': (n) => (n.op === 'permute' && (n.attrs.perm as number[]).every((p, i) => p === i) ? n.inputs[0] : undefined),
  'permute(permute(x)) -> permute(x)': (n) => {
    if (n.op !== 'permute' || n.inputs[0].op !== 'permute') return undefined;
    const outer = n.attrs.perm as number[];
    const inner = n.inputs[0].attrs.perm as number[];
    return apply('permute', [n.inputs[0].inputs[0]], { perm: outer.map((p) => inner[p]) });
  },
  'slice(concat(..x..)) within x -> slice(x)': (n) => {
    if (n.op !== 'slice' || n.inputs[0].op !== 'concat') return undefined;
    const cat = n.inputs[0];
    const axis = cat.attrs.axis as number;
    const [start, stop, step] = ['start', 'stop', 'step'].map((k) => n.attrs[k] as number[]);
    if (step[axis] !== 1 || n.type.shape[axis] === 0) return undefined;
    let at = 0;
    for (const x of cat.inputs) {
      const len = x.type.shape[axis];
      if (start[axis] >= at && stop[axis] <= at + len) {
        const shift = (v: number[]) => v.map((q, i) => (i === axis ? q - at : q));
        const inner = apply('slice', [x], { start: shift(start), stop: shift(stop), step });
        return sameShape(inner.type.shape, x.type.shape) ? x : inner;
      }
      at += len;
    }
    return undefined;
  },
  'expand(x) -> x': (n) => (n.op === 'expand' && sameShape(n.type.shape, n.inputs[0].type.shape) ? n.inputs[0] : undefined),
  // gradients are built at trace time; after that a stop_gradient is the identity
  'stop_gradient(x) -> x': (n) => (n.op === 'stop_gradient' ? n.inputs[0] : undefined),
  'cast(x: d, d) -> x': (n) => (n.op === 'cast' && n.inputs[0].type.dtype === n.type.dtype ? n.inputs[0] : undefined),
  // views of fills are fills
  'view(fill) -> fill': (n) => (['reshape', 'permute', 'expand', 'slice'].includes(n.op) && n.inputs[0].op === 'fill' ? fillLike(n, n.inputs[0].attrs.value as number) : undefined),
  // arithmetic identities (shapes of elementwise operands are equal by construction)
  'x + 0 -> x': (n) => (n.op === 'add' && isFill(n.inputs[1], 0) ? n.inputs[0] : n.op === 'add' && isFill(n.inputs[0], 0) ? n.inputs[1] : undefined),
  'x - 0 -> x': (n) => (n.op === 'sub' && isFill(n.inputs[1], 0) ? n.inputs[0] : undefined),
  'x * 1 -> x': (n) => (n.op === 'mul' && isFill(n.inputs[1], 1) ? n.inputs[0] : n.op === 'mul' && isFill(n.inputs[0], 1) ? n.inputs[1] : undefined),
  'x / 1 -> x': (n) => (n.op === 'div' && isFill(n.inputs[1], 1) ? n.inputs[0] : undefined),
  'neg(neg(x)) -> x': (n) => (n.op === 'neg' && n.inputs[0].op === 'neg' ? n.inputs[0].inputs[0] : undefined),
};

const rules = Object.values(RULES);

export function simplify(g: Graph): Graph {
  return mapGraph(g, (n, inputs) => {
    let cur = inputs.every((i, k) => i === n.inputs[k]) ? n : makeNode(n.op, inputs, n.attrs, n.type);
    for (let guard = 0; guard < 64; guard++) {
      let next: Node | undefined;
      for (const r of rules) if ((next = r(cur))) break;
      if (!next) break;
      cur = next;
    }
    return cur;
  });
}
