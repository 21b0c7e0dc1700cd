/**
 * Fusion and scheduling: decides which nodes live in buffers ("materialised") and turns every
 * materialised non-source node into one kernel. Fusable nodes (elementwise ops, views) are
 * inlined as expressions into the kernels that read them.
 */
import type { Graph, Node } from '../ir';
import { graphNodes, numel, usersOf } from '../ir';
import { primitive } from '../primitive';
import { findEpilogues } from './epilogue';
import { leafBuffers } from './leaves';

export interface Schedule {
  /** every node that owns a buffer, in execution order (sources first) */
  readonly materialised: ReadonlySet<number>;
  /** nodes computed by a kernel, in execution order */
  readonly kernels: readonly Node[];
  /** the kernels to emit, in execution order: same-shape elementwise siblings share one */
  readonly groups: readonly (readonly Node[])[];
  readonly nodes: readonly Node[];
  /** materialised reshapes of materialised tensors: the same bytes, bound again (no copy kernel) */
  readonly reshapeAliases: ReadonlySet<number>;
  /** elementwise roots computed in the store of a product's kernel: root id -> the product (which gets no kernel and no buffer of its own) */
  readonly epilogues: ReadonlyMap<number, Node>;
}

const MAX_SIBLINGS = 8;
/**
 * Kernels this small (outputs, and every buffer they read, in elements) may share a dispatch with
 * unrelated ones: each dispatch costs ~50 us on llvmpipe, more than such a kernel's own work
 * (the per-parameter norms and updates of an optimizer step).
 */
const PACK_OUTPUTS = 1 << 12;
const PACK_READS = 1 << 16;

/**
 * Sibling fusion: elementwise kernels of the same shape that do not read each other become one
 * kernel with several outputs, so shared inputs are loaded and shared subexpressions computed
 * once (an optimizer update writes a parameter and its two moments from the same gradient); and
 * small elementwise kernels and reductions of any shapes share one dispatch (PACK_OUTPUTS).
 * A group is emitted where its last member was; a kernel that reads a member closes the group,
 * so nothing between its members depends on them.
 */
export function groupSiblings(kernels: readonly Node[], mat: ReadonlySet<number>, maxBindings: number, all: readonly Node[] = kernels, aliases: ReadonlySet<number> = new Set(), epilogues: ReadonlyMap<number, Node> = new Map()): Node[][] {
  const byId = new Map(all.map((n) => [n.id, n]));
  // a reshape alias reads its root's buffer: a kernel reading it reads the root's kernel
  const rootOf = (n: Node): Node => (aliases.has(n.id) ? rootOf(n.inputs[0]) : n);
  interface Group { members: Node[]; ids: Set<number>; reads: Set<number>; closed: boolean; key: string; small: boolean }
  const order: Group[] = [];
  const open: Group[] = [];
  for (const n of kernels) {
    // a root computed in a product's epilogue also reads what the product reads
    const leaves = [...leafBuffers(n, mat), ...(epilogues.get(n.id)?.inputs ?? [])];
    const reads = new Set(leaves.map((l) => l.id));
    for (const g of open) if (!g.closed && leaves.some((l) => g.ids.has(rootOf(l).id))) g.closed = true;
    const key = kindOf(n) === 'fusable' && !epilogues.has(n.id) ? n.type.shape.join(',') : '';
    const small = (kindOf(n) === 'fusable' || kindOf(n) === 'reduce') && !epilogues.has(n.id) && numel(n.type.shape) <= PACK_OUTPUTS && leaves.every((l) => numel(l.type.shape) <= PACK_READS);
    const fits = (g: Group) => !g.closed && g.members.length < MAX_SIBLINGS && new Set([...g.reads, ...reads]).size + g.members.length + 1 <= maxBindings;
    // join the open group that shares the most input data with it, if that is substantial:
    // unrelated kernels gain little from sharing a dispatch and would crowd out related ones
    let target: Group | undefined;
    let best = numel(n.type.shape) / 2;
    if (key) {
      for (const g of open) {
        if (g.key !== key || !fits(g)) continue;
        let shared = 0;
        for (const r of reads) if (g.reads.has(r)) shared += numel(byId.get(r)!.type.shape);
        for (const m of g.members) if (m.inputs.some((i) => n.inputs.includes(i))) shared += numel(n.type.shape);
        if (shared >= best) [best, target] = [shared, g];
      }
    }
    // else a small kernel joins the latest open group of small ones, whatever their shapes
    if (!target && small) target = open.findLast((g) => g.small && fits(g));
    if (target) {
      target.members.push(n);
      target.small &&= small;
      target.ids.add(n.id);
      for (const r of reads) target.reads.add(r);
      order.splice(order.indexOf(target), 1);
      order.push(target);
      continue;
    }
    const g: Group = { members: [n], ids: new Set([n.id]), reads, closed: !key && !small, key, small };
    order.push(g);
    if (key || small) open.push(g);
  }
  return order.map((g) => g.members);
}

const kindOf = (n: Node) => primitive(n.op).emission.kind;
/** readers that may each recompute a one-op node rather than read it from a buffer */
const MAX_RECOMPUTE = 4;
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
    if (kind === 'kernel' || kind === 'alias') for (const i of n.inputs) mat.add(i.id);
    if (n.op === 'fill' || n.op === 'iota') cheap.add(n.id);
    // a few elements of arithmetic on buffers (a step's finite flag, a clip factor) are cheaper
    // to recompute wherever they are needed than to give a kernel and a buffer of their own
    if (kind === 'fusable' && numel(n.type.shape) <= 16 && n.inputs.every((i) => cheap.has(i.id) || mat.has(i.id) || kindOf(i) !== 'fusable')) cheap.add(n.id);
    if (VIEW_OPS.has(n.op) && (cheap.has(n.inputs[0].id) || mat.has(n.inputs[0].id))) cheap.add(n.id);
  }
  // a fusable node read by several kernels is computed once, unless it is only index arithmetic,
  // or one elementwise op on one buffer (and scalars): each reader loads that buffer instead of
  // the node's, so recomputing it saves a kernel and a pass over memory (a gradient scaled
  // before both the norm and the update of a parameter)
  const recomputable = (n: Node) =>
    !VIEW_OPS.has(n.op) && n.op !== 'random' &&
    (users.get(n.id)?.length ?? 0) <= MAX_RECOMPUTE &&
    n.inputs.every((i) => mat.has(i.id) || cheap.has(i.id)) &&
    n.inputs.filter((i) => !cheap.has(i.id) && numel(i.type.shape) > 16).length <= 1;
  for (const n of nodes) {
    if (kindOf(n) === 'fusable' && !cheap.has(n.id) && (users.get(n.id)?.length ?? 0) > 1 && !recomputable(n)) mat.add(n.id);
  }
  // ...or unless every kernel that would inline it is an elementwise root of its own shape:
  // those become siblings in one kernel, which computes it once (see groupSiblings)
  const outputIds = new Set(g.outputs.map(([, n]) => n.id));
  const rootsOf = new Map<number, Set<number>>();
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    const roots = new Set<number>();
    for (const u of users.get(n.id) ?? []) {
      if (mat.has(u.id)) roots.add(u.id);
      else for (const r of rootsOf.get(u.id) ?? []) roots.add(r);
    }
    rootsOf.set(n.id, roots);
    if (!mat.has(n.id) || forced.has(n.id) || outputIds.has(n.id) || kindOf(n) !== 'fusable' || (users.get(n.id)?.length ?? 0) < 2) continue;
    if ((users.get(n.id) ?? []).some((u) => kindOf(u) !== 'fusable')) continue;
    const shape = n.type.shape.join();
    if (roots.size >= 2 && roots.size <= MAX_SIBLINGS && [...roots].every((r) => kindOf(byId.get(r)!) === 'fusable' && byId.get(r)!.type.shape.join() === shape)) mat.delete(n.id);
  }
  // too many distinct buffers for one kernel: materialise its fusable inputs and try again
  for (const n of nodes) {
    if (!mat.has(n.id) || kindOf(n) === 'source' || kindOf(n) === 'alias') continue;
    if (leafBuffers(n, mat).size > maxInputs) {
      const more = new Set(forced);
      for (const i of n.inputs) more.add(i.id);
      if (more.size === forced.size) throw new Error(`kernel for ${n.op} reads more than ${maxInputs} buffers`);
      return schedule(g, maxInputs, more);
    }
  }
  // a reshape of a buffer holds the same bytes in the same order: a kernel that reads it binds the
  // buffer itself (a copy kernel cost 27 ms per attention-score reshape of a tiny training step)
  const reshapeAliases = new Set(nodes.filter((n) => n.op === 'reshape' && mat.has(n.id) && mat.has(n.inputs[0].id) && !outputIds.has(n.id)).map((n) => n.id));
  const epilogues = findEpilogues(nodes, users, mat, outputIds, maxInputs);
  const inEpilogue = new Set([...epilogues.values()].map((x) => x.id));
  // sources and aliases (buffer ranges of a source, reshapes of a buffer) need no kernel; a
  // product computed with its epilogue runs where its root was (its only reader, so later)
  const kernels = nodes.filter((n) => mat.has(n.id) && kindOf(n) !== 'source' && kindOf(n) !== 'alias' && !reshapeAliases.has(n.id) && !inEpilogue.has(n.id) && numel(n.type.shape) > 0);
  return { materialised: mat, kernels, groups: groupSiblings(kernels, mat, maxInputs + 1, nodes, reshapeAliases, epilogues), nodes, reshapeAliases, epilogues };
}
