/**
 * Tensors larger than one storage binding (WebGPU's maxStorageBufferBindingSize: 128 MiB on
 * llvmpipe, while Qwen2-7B's 152064 x 3584 embedding is 2.2 GB in f32 and whisper-large-v3's
 * attention scores over 1500 frames are 180 MB) are split, never refused.
 *
 * Weights (graph inputs and constants) stay one buffer (maxBufferSize is far larger) that no
 * kernel binds whole: their readers take blocks of rows (row_view: the buffer bound at an
 * aligned offset), each within the limit:
 *
 *   matmul(x, W^T)    W [N, K] in row blocks W_i   -> concat_i matmul(x, W_i^T) over the columns
 *   matmul(x, W)      W [K, N] in row blocks W_i   -> sum_i matmul(x[:, K_i], W_i)
 *   matmul(W, y)      (W the left operand)         -> the same two rules, transposed
 *   gather(W, ids)    on axis 0                    -> each block's gather where the id falls in it
 *   matmul(x, W^T)    x in column blocks (an activation computed from a split weight, as in an
 *                     MLP's up and down projections)  -> per W block, the sum over x's blocks
 *
 * A computed tensor that large is never made whole: it is computed in blocks along an axis its
 * op is parallel in (a batch or head axis of a matmul, any axis of an elementwise op, an axis a
 * reduction or a row normalisation keeps), and so are its readers, block by block, until a
 * reader's result is small again (attention: scores -> softmax -> times V). Readers without such
 * a rule get the whole tensor, and the planner then names it and the binding limit (the weight
 * gradient of a split matrix, the logits of a very long sequence).
 */
import type { Graph, Node } from '../ir';
import { graphNodes, makeNode, mapGraph, numel, usersOf } from '../ir';
import { byteSize } from '../dtype';
import { apply, primitive } from '../primitive';
import { concat, where, wrap } from '../../dsl/tensor';
import { BINARY_OPS, UNARY_OPS } from '../primitives/elementwise';
import type { Tensor } from '../../dsl/tensor';

export interface SplitLimits {
  /** bytes one storage binding may span */
  readonly maxBindingBytes: number;
  /** bindings start at multiples of this many bytes */
  readonly offsetAlignment: number;
}

interface Block {
  readonly start: number;
  readonly count: number;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Row blocks of a tensor, each starting at an aligned offset and within the binding limit even as
 * 32-bit values: an f16 block cast to f32 for its consumer is still one binding.
 */
export function rowBlocks(shape: readonly number[], dtype: Node['type']['dtype'], limits: SplitLimits): Block[] | undefined {
  const rows = shape[0];
  const width = numel(shape.slice(1));
  const rowBytes = width * byteSize(dtype);
  if (shape.length < 1 || rows < 2 || rowBytes === 0) return undefined;
  const unit = limits.offsetAlignment / gcd(rowBytes, limits.offsetAlignment);
  const maxRows = Math.floor(Math.floor(limits.maxBindingBytes / (width * Math.max(4, byteSize(dtype)))) / unit) * unit;
  if (maxRows < 1) return undefined; // one row (aligned) is already too large
  const parts = Math.ceil(rows / maxRows);
  const per = Math.min(maxRows, Math.ceil(rows / parts / unit) * unit);
  const blocks: Block[] = [];
  for (let start = 0; start < rows; start += per) blocks.push({ start, count: Math.min(per, rows - start) });
  return blocks;
}

/** Combines many tensors a few at a time, so no fused kernel reads more buffers than a binding table holds. */
function tree(xs: readonly Tensor[], combine: (group: readonly Tensor[]) => Tensor, arity = 8): Tensor {
  let level = [...xs];
  while (level.length > 1) {
    const next: Tensor[] = [];
    for (let i = 0; i < level.length; i += arity) next.push(level.length - i === 1 ? level[i] : combine(level.slice(i, i + arity)));
    level = next;
  }
  return level[0];
}

const sliceAxis = (x: Tensor, axis: number, start: number, count: number): Tensor =>
  x.slice(x.shape.map((_, d) => (d === axis ? [start, start + count] : null)) as never);

/** A split tensor: its blocks along `axis`, as tensors (row views of a weight, or computed). */
interface Split {
  /** row blocks of a weight (or an elementwise op of them: a cast): the matmul and gather rules apply */
  readonly weight: boolean;
  readonly axis: number;
  readonly blocks: readonly Block[];
  readonly parts: readonly Tensor[];
}

/** A matmul reading a split weight: the result as a whole, and as column blocks when it is the weight's rows that become its columns. */
function matmulRule(n: Node, inputs: readonly Node[], split: ReadonlyMap<number, Split>): { whole: Tensor; split?: Split } | undefined {
  const [a, b] = n.inputs;
  const [ta, tb] = [!!n.attrs.ta, !!n.attrs.tb];
  const r = n.type.shape.length;
  const mm = (x: Tensor, y: Tensor) => wrap(apply('matmul', [x.node, y.node], { ta, tb }));
  const sum = (g: readonly Tensor[]) => g.reduce((acc, t) => acc.add(t));
  const weight = (x: Node) => (r === 2 && split.get(x.id)?.weight ? split.get(x.id) : undefined);
  const sb = weight(b);
  const sa = weight(a);
  const xs = split.get(a.id);
  if (sb && tb && xs && !sa && !ta && xs.axis === 1) {
    // x split along the inner dimension (the columns of a split MLP activation) times W [N, K] in
    // row blocks: block j of the result is the sum over x's blocks k of x_k W_j[:, k]^T
    const parts = sb.parts.map((p) => tree(xs.parts.map((xk, k) => mm(xk, sliceAxis(p, 1, xs.blocks[k].start, xs.blocks[k].count))), sum));
    return { whole: tree(parts, (g) => concat(g, 1)), split: { weight: false, axis: 1, blocks: sb.blocks, parts } };
  }
  if (sb && !tb && xs && !sa && !ta && xs.axis === 1 && sameBlocks({ ...xs, axis: 0 }, sb)) {
    // x's column blocks are W's row blocks (a gradient flowing back through x W^T): sum of x_k W_k
    return { whole: tree(xs.parts.map((xk, k) => mm(xk, sb.parts[k])), sum) };
  }
  if (sb && !xs) {
    const x = wrap(inputs[0]);
    if (tb) {
      // rows of stored W are the result's columns
      const parts = sb.parts.map((p) => mm(x, p));
      return { whole: tree(parts, (g) => concat(g, 1)), split: { weight: false, axis: 1, blocks: sb.blocks, parts } };
    }
    return { whole: tree(sb.parts.map((p, i) => mm(sliceAxis(x, ta ? 0 : 1, sb.blocks[i].start, sb.blocks[i].count), p)), sum) };
  }
  if (sa && !split.has(b.id)) {
    const y = wrap(inputs[1]);
    if (!ta) {
      const parts = sa.parts.map((p) => mm(p, y));
      return { whole: tree(parts, (g) => concat(g, 0)), split: { weight: false, axis: 0, blocks: sa.blocks, parts } };
    }
    return { whole: tree(sa.parts.map((p, i) => mm(p, sliceAxis(y, tb ? 1 : 0, sa.blocks[i].start, sa.blocks[i].count))), sum) };
  }
  return undefined;
}

function gatherRule(n: Node, inputs: readonly Node[], split: ReadonlyMap<number, Split>): Tensor | undefined {
  const s = split.get(n.inputs[0].id);
  if (!s || !s.weight || (n.attrs.axis as number) !== 0 || split.has(n.inputs[1].id)) return undefined;
  const ids = wrap(inputs[1]);
  const extra = n.type.shape.length - ids.shape.length;
  // out-of-block ids are clamped into the block (as gather does with any id) and masked out
  const take = (i: number) => {
    const { start, count } = s.blocks[i];
    const local = ids.sub(start).maximum(0).minimum(count - 1);
    return wrap(apply('gather', [s.parts[i].node, local.node], { axis: 0 }));
  };
  const inBlock = (i: number) => ids.ge(s.blocks[i].start).reshape([...ids.shape, ...Array(extra).fill(1)]);
  let out = take(0);
  for (let i = 1; i < s.parts.length; i++) out = where(inBlock(i) as never, take(i), out);
  return out;
}

const ELEMENTWISE = new Set([...UNARY_OPS, ...BINARY_OPS, 'where', 'cast', 'stop_gradient']);

/** Whether n computes each block along `axis` from the same block of its inputs (blockedInputs says which inputs are cut). */
function parallelAlong(n: Node, axis: number): boolean {
  const r = n.type.shape.length;
  if (axis >= r) return false;
  const kind = primitive(n.op).emission.kind;
  if (ELEMENTWISE.has(n.op)) return n.inputs.every((i) => i.type.shape.length === r && i.type.shape[axis] === n.type.shape[axis]);
  if (kind === 'reduce') return !(n.attrs.axes as number[]).includes(axis);
  if (n.op === 'row_op') return axis < r - 1;
  if (n.op === 'matmul') return axis < r - 2 || (axis === r - 2 && !n.attrs.ta);
  return false;
}

/** The inputs of n that are cut along the axis (the others, like a row norm's weight or the right matmul operand when rows are split, are read whole). */
function blockedInputs(n: Node, axis: number): boolean[] {
  const r = n.type.shape.length;
  if (n.op === 'matmul' && axis === r - 2) return [true, false];
  return n.inputs.map((i) => i.type.shape.length === r && i.type.shape[axis] === n.type.shape[axis]);
}

/**
 * How axis `a` of shape x reappears after a reshape to y: as output axis `axis`, whose index is
 * the input's (same), its divided by f (a split of x[a] into y[axis] x f) or times f (a merge of
 * x[a] with the following axes, f = their product).
 */
function reshapeAxis(x: readonly number[], y: readonly number[], a: number): { axis: number; kind: 'same' | 'split' | 'merge'; f: number } | undefined {
  const lead = numel(x.slice(0, a));
  for (let b = 0; b < y.length; b++) {
    if (numel(y.slice(0, b)) !== lead || (y[b] === 1 && x[a] !== 1)) continue;
    if (y[b] === x[a]) return { axis: b, kind: 'same', f: 1 };
    const [outer, run, from] = y[b] < x[a] ? [y[b], y, b + 1] : [x[a], x, a + 1];
    const f = Math.max(x[a], y[b]) / outer;
    if (!Number.isInteger(f)) return undefined;
    let p = 1;
    for (let k = from; k < run.length && p < f; k++) p *= run[k];
    return p === f ? { axis: b, kind: y[b] < x[a] ? 'split' : 'merge', f } : undefined;
  }
  return undefined;
}

/** Blocks along axis a of x, as blocks of the reshaped tensor (undefined when a block would cut an output index). */
function reshapeBlocks(x: readonly number[], y: readonly number[], a: number, blocks: readonly Block[]): { axis: number; blocks: Block[] } | undefined {
  const m = reshapeAxis(x, y, a);
  if (!m) return undefined;
  if (m.kind === 'merge') return { axis: m.axis, blocks: blocks.map((b) => ({ start: b.start * m.f, count: b.count * m.f })) };
  if (blocks.some((b) => b.start % m.f !== 0 || b.count % m.f !== 0)) return undefined;
  return { axis: m.axis, blocks: blocks.map((b) => ({ start: b.start / m.f, count: b.count / m.f })) };
}

/**
 * Blocks along `axis` of n must not cut an index of a reshape ahead (attention's scores
 * [B, Hkv, G*Tq, Tk] are reshaped to [B, Hkv, G, Tq, Tk]): the multiple of rows they come in,
 * looking through elementwise readers.
 */
function granule(n: Node, axis: number, users: ReadonlyMap<number, Node[]>, depth = 0): number {
  let g = 1;
  for (const u of users.get(n.id) ?? []) {
    let f = 1;
    if (u.op === 'reshape') {
      const m = reshapeAxis(n.type.shape, u.type.shape, axis);
      f = m?.kind === 'split' ? m.f : 1;
    } else if (ELEMENTWISE.has(u.op) && depth < 4 && u.type.shape.join() === n.type.shape.join()) f = granule(u, axis, users, depth + 1);
    g = (g * f) / gcd(g, f);
  }
  return g;
}

const sameBlocks = (a: Split, b: Split) => a.axis === b.axis && a.blocks.length === b.blocks.length && a.blocks.every((x, i) => x.start === b.blocks[i].start && x.count === b.blocks[i].count);

/** Blocks along the first axis n is parallel in whose single index (times its granule) fits a binding. */
function computedBlocks(n: Node, limit: number, users: ReadonlyMap<number, Node[]>): { axis: number; blocks: Block[] } | undefined {
  const shape = n.type.shape;
  const bytes = numel(shape) * Math.max(4, byteSize(n.type.dtype));
  for (let axis = 0; axis < shape.length; axis++) {
    const extent = shape[axis];
    if (extent < 2 || !parallelAlong(n, axis)) continue;
    const unit = granule(n, axis, users);
    const per = Math.floor(Math.floor(limit / (bytes / extent)) / unit) * unit;
    if (per < 1 || extent % unit !== 0) continue;
    const parts = Math.ceil(extent / per);
    const size = Math.min(per, Math.ceil(extent / parts / unit) * unit);
    const blocks: Block[] = [];
    for (let start = 0; start < extent; start += size) blocks.push({ start, count: Math.min(size, extent - start) });
    return { axis, blocks };
  }
  return undefined;
}

/**
 * A block of an input that is not split. The slice is pushed through broadcasts and elementwise
 * ops, so a large fusable input (a causal mask broadcast over heads) stays fusable in each block
 * instead of being made whole for all of them.
 */
function restrict(x: Node, axis: number, b: Block, memo = new Map<string, Node>()): Node {
  const key = `${x.id}:${axis}:${b.start}:${b.count}`;
  const hit = memo.get(key);
  if (hit) return hit;
  const shape = x.type.shape.map((d, k) => (k === axis ? b.count : d));
  let r: Node;
  if (x.op === 'fill') r = apply('fill', [], { ...x.attrs, shape });
  else if (x.op === 'expand' && x.inputs[0].type.shape[axis] === 1) r = apply('expand', [x.inputs[0]], { ...x.attrs, shape });
  else if (x.op === 'expand') r = apply('expand', [restrict(x.inputs[0], axis, b, memo)], { ...x.attrs, shape });
  else if (ELEMENTWISE.has(x.op) && x.inputs.every((i) => i.type.shape.length === shape.length && i.type.shape[axis] === x.type.shape[axis]))
    r = apply(x.op, x.inputs.map((i) => restrict(i, axis, b, memo)), x.attrs);
  else r = sliceAxis(wrap(x), axis, b.start, b.count).node;
  memo.set(key, r);
  return r;
}

export function splitOversized(g: Graph, limits: SplitLimits): Graph {
  const nodes = graphNodes(g);
  const big = (n: Node) => numel(n.type.shape) * byteSize(n.type.dtype) > limits.maxBindingBytes;
  if (!nodes.some(big)) return g;
  const users = usersOf(nodes);
  const split = new Map<number, Split>(); // keyed by the ORIGINAL node's id
  return mapGraph(g, (n, inputs) => {
    const kept = () => (inputs.every((x, k) => x === n.inputs[k]) ? n : makeNode(n.op, inputs, n.attrs, n.type));
    if (primitive(n.op).emission.kind === 'source') {
      const blocks = big(n) ? rowBlocks(n.type.shape, n.type.dtype, limits) : undefined;
      if (blocks && blocks.length > 1) split.set(n.id, { weight: true, axis: 0, blocks, parts: blocks.map((b) => wrap(apply('row_view', [n], { start: b.start, count: b.count }))) });
      return n;
    }
    const splitInputs = n.inputs.map((i) => split.get(i.id));
    if (!big(n) && !splitInputs.some(Boolean)) return kept();
    if (n.op === 'matmul') {
      const r = matmulRule(n, inputs, split);
      if (r) {
        if (r.split) split.set(n.id, r.split);
        return r.whole.node;
      }
    }
    if (n.op === 'gather') return gatherRule(n, inputs, split)?.node ?? kept();
    const given = splitInputs.filter((x): x is Split => x !== undefined);
    if (n.op === 'reshape') {
      const s0 = given[0];
      const out = s0 && reshapeBlocks(n.inputs[0].type.shape, n.type.shape, s0.axis, s0.blocks);
      if (!out) return kept();
      const parts = out.blocks.map((b, i) => wrap(apply('reshape', [s0.parts[i].node], { ...n.attrs, shape: n.type.shape.map((d, k) => (k === out.axis ? b.count : d)) })));
      split.set(n.id, { weight: false, axis: out.axis, blocks: out.blocks, parts });
      return tree(parts, (grp) => concat(grp, out.axis)).node;
    }
    // blockwise: along the split inputs' axis (all split the same way), or a new one for a large result
    let plan: { axis: number; blocks: readonly Block[] } | undefined;
    if (given.length) plan = given.every((x) => sameBlocks(x, given[0])) && parallelAlong(n, given[0].axis) ? given[0] : undefined;
    else plan = computedBlocks(n, limits.maxBindingBytes, users);
    if (!plan) return kept();
    const { axis, blocks } = plan;
    const cut = blockedInputs(n, axis);
    if (n.inputs.some((x, k) => split.has(x.id) && !cut[k])) return kept();
    const parts = blocks.map((b, i) =>
      wrap(apply(n.op, n.inputs.map((x, k) => (!cut[k] ? inputs[k] : split.get(x.id)?.parts[i].node ?? restrict(inputs[k], axis, b))), n.attrs)),
    );
    split.set(n.id, { weight: given.length > 0 && given.every((x) => x.weight) && ELEMENTWISE.has(n.op), axis, blocks, parts });
    // the whole, for readers without a blockwise rule (unreachable, hence dropped, when there are none)
    return tree(parts, (grp) => concat(grp, axis)).node;
  });
}
