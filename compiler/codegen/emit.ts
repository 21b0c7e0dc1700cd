/**
 * WGSL for one scheduled kernel. Elementwise roots and reductions share one frame (outputs at
 * bindings 0.., the buffers they read after, typed accessors `ld_inK` that convert storage
 * (f16, bool-as-u32) to value types, one invocation index `tid`, four (or two) outputs per invocation
 * where the last axis allows); primitives with kernels of their own (matmul, conv, row norms)
 * write theirs into the same frame or bring whole shaders.
 */
import type { DType, Node, TensorType } from '../ir';
import { numel, stridesOf } from '../ir';
import { primitive } from '../primitive';
import type { DeviceTraits, Emission, FuseCtx, Grid, KernelSource, RawKernel, TextureCopy } from '../primitive';
import { EPILOGUE_HOOK, PORTABLE_DEVICE, gridSize } from '../primitive';
import { WGSL_SPECIAL_FLOATS, byteSize, storageType, valueType } from '../dtype';
import { leafBuffers } from './leaves';

/** A resource bound to a kernel, in binding order. */
export type Binding =
  | { readonly kind: 'out'; readonly node: Node }
  | { readonly kind: 'in'; readonly node: Node }
  | { readonly kind: 'texture'; readonly key: string; readonly access: 'read' | 'write'; readonly width: number; readonly height: number }
  | { readonly kind: 'uniform'; readonly data: Uint32Array }
  | { readonly kind: 'scratch'; readonly bytes: number };

export interface EmittedKernel {
  /** the node it belongs to (the first, when several outputs are fused into one kernel) */
  readonly node: Node;
  /** materialised nodes it reads (its 'in' bindings) */
  readonly reads: readonly Node[];
  /** nodes whose buffers it writes (none for a packing kernel, several for sibling fusion) */
  readonly outputs: readonly Node[];
  readonly bindings: readonly Binding[];
  readonly wgsl: string;
  readonly groups: Grid;
  readonly invocations: number;
  readonly label: string;
  readonly copy?: TextureCopy;
}

function loadConv(v: string, d: DType): string {
  return d === 'bool' ? `(${v} != 0u)` : d === 'f16' ? `f32(${v})` : v;
}
/** `fn ld_<array>(i)`: element i of a bound buffer in its value type */
const loaderDecl = (array: string, d: DType) => `fn ld_${array}(i: i32) -> ${valueType(d)} { return ${loadConv(`${array}[i]`, d)}; }`;
function storeConv(v: string, d: DType): string {
  return d === 'bool' ? `select(0u, 1u, ${v})` : d === 'f16' ? `f16(${v})` : v;
}

function linearOf(idx: readonly string[], shape: readonly number[]): string {
  const st = stridesOf(shape);
  const terms = idx.map((e, d) => (shape[d] === 1 ? '' : st[d] === 1 ? e : `${e} * ${st[d]}`)).filter(Boolean);
  return terms.length ? terms.join(' + ') : '0';
}

/**
 * A reshape that splits an axis reads the parts as `((L / I))`, `((L / I') % S)`, .., `(L % S)`
 * (compiler/primitives/views.ts). Over a buffer, whose axes are row-major, such a run of axes is
 * one axis of their combined size indexed by L: merged here, so the read needs no division, and a
 * read that then matches the output's own index becomes a plain vector load (the gradient of
 * grouped-query attention read [.., 2, 362, 362] scores as [.., 724, 362] with two divisions
 * per value).
 */
export function mergeSplitAxes(idx: readonly string[], shape: readonly number[]): { idx: string[]; shape: number[] } {
  const first = /^\(\((\w+) \/ (\d+)\)\)$/;
  const middle = /^\(\((\w+) \/ (\d+)\) % (\d+)\)$/;
  const last = /^\((\w+) % (\d+)\)$/;
  const outIdx: string[] = [];
  const outShape: number[] = [];
  const size = (from: number, to: number) => shape.slice(from, to).reduce((a, b) => a * b, 1);
  for (let d = 0; d < idx.length; d++) {
    const f = first.exec(idx[d]);
    let e = d + 1;
    const mids: RegExpExecArray[] = [];
    for (let m; f && e < idx.length && (m = middle.exec(idx[e])) && m[1] === f[1]; e++) mids.push(m);
    const l = f && e < idx.length ? last.exec(idx[e]) : null;
    // each part divides by the combined size of the parts after it, and wraps at its own size
    const ok =
      !!f && !!l && l[1] === f[1] && Number(l[2]) === shape[e] && Number(f[2]) === size(d + 1, e + 1) &&
      mids.every((m, k) => Number(m[2]) === size(d + k + 2, e + 1) && Number(m[3]) === shape[d + k + 1]);
    if (ok) {
      outIdx.push(f[1]);
      outShape.push(size(d, e + 1));
      d = e;
    } else {
      outIdx.push(idx[d]);
      outShape.push(shape[d]);
    }
  }
  return { idx: outIdx, shape: outShape };
}

function unravel(lin: string, shape: readonly number[], prefix: string): { lines: string[]; idx: string[] } {
  const st = stridesOf(shape);
  const lines: string[] = [];
  const idx = shape.map((n, d) => {
    if (n === 1) return '0';
    const name = `${prefix}${d}`;
    const q = st[d] === 1 ? lin : `(${lin} / ${st[d]})`;
    lines.push(`let ${name} = ${d === 0 ? q : `${q} % ${n}`};`);
    return name;
  });
  return { lines, idx };
}

/** A block of statements; values that do not depend on a loop's variables are hoisted out of it. */
class Scope {
  readonly lines: string[] = [];
  readonly memo = new Map<string, string>();
  readonly defined: Set<string>;
  constructor(readonly parent?: Scope, names: readonly string[] = []) {
    this.defined = new Set(names);
  }
  /** the outermost scope an expression over these index strings can live in */
  home(idx: readonly string[]): Scope {
    const names = new Set(idx.flatMap((e) => e.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []));
    let s: Scope = this;
    while (s.parent && ![...names].some((v) => s.defined.has(v))) s = s.parent;
    return s;
  }
}

/**
 * Four neighbouring outputs per invocation (along the last axis): `names[j]` is the last
 * coordinate of lane j. A leaf buffer read at exactly those coordinates (everything else the same
 * for every lane) is read once as a vector; `scalar` holds the leaves that must not be (some
 * read of theirs is not of that form), `scalarUse` collects them while generating.
 */
interface Lanes {
  /** outputs per invocation: 4, or 2 where the last axis is even but not a multiple of 4 */
  readonly width: number;
  readonly names: readonly string[];
  /** lane 0's coordinates of the output and its shape: a leaf read there is read at vector index `tid` */
  readonly out?: { readonly idx: readonly string[]; readonly shape: readonly number[] };
  readonly scalar: ReadonlySet<number>;
  readonly scalarUse: Set<number>;
}

const mentions = (e: string, names: readonly string[]) => names.some((nm) => new RegExp(`\\b${nm}\\b`).test(e));

/** Generates the expression DAG of fusable nodes above the kernel's buffers. */
class ExprBuilder {
  private counter = 0;
  readonly helpers = new Map<string, string>();
  readonly bindingOf: Map<number, number>;
  /**
   * `prefix`: the buffers' names (`${prefix}K`, read with `ld_${prefix}K`); `given`: a node whose
   * value at the output's own position is already at hand as an expression (an epilogue's product).
   */
  constructor(
    readonly reads: readonly Node[],
    readonly lanes?: Lanes,
    readonly prefix = 'in',
    readonly given?: { readonly node: Node; readonly expr: string },
  ) {
    this.bindingOf = new Map(reads.map((n, i) => [n.id, i]));
  }
  /** whether leaf `n` is declared as an array of vectors */
  isVector(n: Node): boolean {
    return !!this.lanes && !this.lanes.scalar.has(n.id) && byteSize(n.type.dtype) === 4 && n.type.shape.length > 0 && n.type.shape[n.type.shape.length - 1] % this.lanes.width === 0;
  }
  /** lane j's value of a vector-read leaf, or undefined when this read is not of that form */
  private vectorLoad(n: Node, b: number, idx: readonly string[], shape: readonly number[], home: Scope): string | undefined {
    const lanes = this.lanes;
    if (!lanes || !this.isVector(n)) return undefined;
    const last = idx.length - 1;
    const j = lanes.names.indexOf(idx[last]);
    if (j < 0 || idx.slice(0, last).some((e) => mentions(e, lanes.names))) {
      lanes.scalarUse.add(n.id);
      return undefined;
    }
    const st = stridesOf(shape);
    const o = lanes.out;
    // read where the output is written: the vector index is the invocation's own
    const atOutput = o && o.shape.length === shape.length && o.shape.every((d, i) => d === shape[i]) && idx.every((e, i) => e === (i === last ? lanes.names[j] : o.idx[i]));
    const terms = idx.slice(0, last).map((e, d) => (shape[d] === 1 ? '' : `${e} * ${st[d] / lanes.width}`)).filter(Boolean);
    terms.push(`(${lanes.names[0]} / ${lanes.width})`);
    const index = atOutput ? 'tid' : terms.join(' + ');
    const key = `${n.id}|v|${index}`;
    let name = home.memo.get(key);
    if (!name) {
      name = this.fresh();
      home.lines.push(`let ${name} = ${this.prefix}${b}[${index}];`);
      home.defined.add(name);
      home.memo.set(key, name);
    }
    return loadConv(`${name}[${j}]`, n.type.dtype);
  }
  fresh(): string {
    return `v${this.counter++}`;
  }
  gen(n: Node, idx: readonly string[], scope: Scope, isRoot = false): string {
    if (n === this.given?.node) return this.given.expr;
    const home = scope.home(idx);
    const key = `${n.id}|${idx.join(',')}`;
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      const hit = s.memo.get(key);
      if (hit) return hit;
    }
    const b = this.bindingOf.get(n.id);
    let expr: string;
    if (b !== undefined && !isRoot) {
      const m = mergeSplitAxes(idx, n.type.shape);
      expr = this.vectorLoad(n, b, m.idx, m.shape, home) ?? `ld_${this.prefix}${b}(${linearOf(m.idx, m.shape)})`;
    } else {
      const p = primitive(n.op);
      if (p.emission.kind !== 'fusable') throw new Error(`cannot inline ${n.op}`);
      const ctx: FuseCtx = {
        load: (i, at) => this.gen(n.inputs[i], at, home),
        bind: (e, t) => this.bind(home, e, t),
        linear: () => this.bind(home, linearOf(idx, n.type.shape), 'i32'),
        require: (name, src) => this.helpers.set(name, src),
        out: n.type,
        inputs: n.inputs.map((i) => i.type),
      };
      expr = p.emission.emit(ctx, idx, n.attrs);
    }
    const name = this.bind(home, expr, n.type.dtype);
    home.memo.set(key, name);
    return name;
  }
  bind(scope: Scope, expr: string, t: DType | 'i32'): string {
    const name = this.fresh();
    scope.lines.push(`let ${name}: ${valueType(t as DType)} = ${expr};`);
    scope.defined.add(name);
    return name;
  }
}

const IDENTITY: Record<string, (d: DType) => string> = {
  sum: (d) => (valueType(d) === 'f32' ? '0.0' : valueType(d) === 'i32' ? '0i' : '0u'),
  max: (d) => (valueType(d) === 'f32' ? '(-inf_f32())' : valueType(d) === 'i32' ? 'i32(-2147483647 - 1)' : '0u'),
  min: (d) => (valueType(d) === 'f32' ? 'inf_f32()' : valueType(d) === 'i32' ? '2147483647i' : '4294967295u'),
};

/** One part of a kernel: same-shape elementwise roots, or one reduction. */
type Segment = readonly Node[];

/**
 * The segments of a schedule group: its same-shape elementwise members together (siblings share
 * loads), each reduction alone.
 */
function segmentsOf(group: readonly Node[]): Segment[] {
  const byShape = new Map<string, Node[]>();
  const out: Node[][] = [];
  for (const n of group) {
    if (primitive(n.op).emission.kind === 'reduce') {
      out.push([n]);
      continue;
    }
    const key = n.type.shape.join();
    let seg = byShape.get(key);
    if (!seg) byShape.set(key, (seg = [])), out.push(seg);
    seg.push(n);
  }
  return out;
}

const widthOf = (seg: Segment): number => {
  const shape = seg[0].type.shape;
  const C = shape.length ? shape[shape.length - 1] : 1;
  const width = C % 4 === 0 ? 4 : C % 2 === 0 ? 2 : 1;
  return numel(shape) === 0 || !seg.every((r) => byteSize(r.type.dtype) === 4) ? 1 : width;
};

/**
 * Elementwise roots of one shape computed by one kernel (one root, or same-shape siblings sharing
 * loads and subexpressions). When the last axis is a multiple of 4 (else of 2) and every value
 * is 4 bytes, an invocation computes four (two) neighbouring outputs: reads along the last axis
 * become one vector load and the store one vector store (vec4: about 3x faster on llvmpipe, where
 * every storage access is a masked per-lane load). Leaves read any other way are re-declared
 * scalar and the kernel generated again.
 *
 * Several segments (a group of small independent kernels packed into one dispatch, see
 * groupSiblings): segment k runs on invocations [start_k, start_k + its count). A buffer is
 * declared as vectors only where every segment reading it reads it so, at one width.
 */
function emitSegments(segs: readonly Segment[], mat: ReadonlySet<number>): EmittedKernel {
  const segReads = segs.map((seg) => [...new Set(seg.flatMap((r) => [...leafBuffers(r, mat)]))]);
  const reads = [...new Set(segReads.flat())];
  const widths = segs.map(widthOf);
  let scalar = new Set<number>();
  for (;;) {
    const lanes = segs.map((_, k): Lanes | undefined => (widths[k] > 1 ? { width: widths[k], names: [], scalar, scalarUse: new Set() } : undefined));
    let first = 0;
    const bodies = segs.map((seg, k) => {
      const b = segmentBody(seg, reads, first, lanes[k]);
      first += seg.length;
      return b;
    });
    const more = new Set(scalar);
    for (const l of lanes) for (const id of l?.scalarUse ?? []) more.add(id);
    // a buffer read as vectors of one width by one segment and otherwise by another is scalar
    const widthsOf = new Map<number, Set<number>>();
    bodies.forEach((b, k) => {
      for (const r of segReads[k]) {
        const w = b.eb.isVector(r) ? widths[k] : 1;
        widthsOf.set(r.id, (widthsOf.get(r.id) ?? new Set()).add(w));
      }
    });
    for (const [id, ws] of widthsOf) if (ws.size > 1) more.add(id);
    if (more.size === scalar.size) return packKernel(segs, reads, bodies, widthsOf);
    scalar = more;
  }
}

interface SegmentBody {
  readonly lines: readonly string[];
  readonly invocations: number;
  readonly eb: ExprBuilder;
  /** outputs per invocation (1: no lanes) */
  readonly width: number;
}

/** The statements computing one segment from its invocation index `tid`; its roots are outputs `first`... */
function segmentBody(seg: Segment, reads: readonly Node[], first: number, lanesIn?: Lanes): SegmentBody {
  const shape = seg[0].type.shape;
  const combine = primitive(seg[0].op).emission;
  const reduce = combine.kind === 'reduce' ? combine.combine : undefined;
  const top = new Scope();
  const width = lanesIn ? lanesIn.width : 1;
  const { lines, idx } = unravel(lanesIn ? `(tid * ${width})` : 'tid', shape, 'o');
  top.lines.push(...lines);
  let lanes: Lanes | undefined;
  let laneIdx: string[][] = [idx];
  if (lanesIn) {
    const last = idx[idx.length - 1];
    const names = [last, ...Array.from({ length: width - 1 }, (_, j) => `q${j + 1}`)];
    for (let j = 1; j < width; j++) top.lines.push(`let q${j} = ${last} + ${j};`);
    lanes = { ...lanesIn, names, out: { idx, shape } };
    laneIdx = names.map((nm) => [...idx.slice(0, -1), nm]);
  }
  const eb = new ExprBuilder(reads, lanes);
  seg.forEach((r, k) => {
    const i = first + k;
    const vals = reduce ? reduceLanes(r, reduce, laneIdx, eb, top) : laneIdx.map((li) => eb.gen(r, li, top, true));
    const st = storageType(r.type.dtype);
    top.lines.push(lanes ? `out${i}[tid] = vec${width}<${st}>(${vals.map((v) => storeConv(v, r.type.dtype)).join(', ')});` : `st_out${i}(tid, ${vals[0]});`);
  });
  return { lines: top.lines, invocations: numel(shape) / width, eb, width };
}

/** The WGSL and bindings of a kernel of segments (one segment: the plain frame, `tid` checked against its count). */
function packKernel(segs: readonly Segment[], reads: readonly Node[], bodies: readonly SegmentBody[], widthsOf: ReadonlyMap<number, ReadonlySet<number>>): EmittedKernel {
  const roots = segs.flat();
  const vecWidth = (n: Node) => [...(widthsOf.get(n.id) ?? [1])][0];
  const widthOfRoot = new Map(bodies.flatMap((b, k) => segs[k].map((r) => [r.id, b.width] as const)));
  const needF16 = [...roots, ...reads].some((t) => t.type.dtype === 'f16');
  const vec = (t: string, w: number) => (w > 1 ? `vec${w}<${t}>` : t);
  const helpers = new Map<string, string>();
  for (const b of bodies) for (const [k, v] of b.eb.helpers) helpers.set(k, v);
  const invocations = bodies.reduce((a, b) => a + b.invocations, 0);
  let start = 0;
  const main =
    bodies.length === 1
      ? ['  let tid = i32(gid.x + gid.y * nwg.x * 64u);', `  if (tid >= ${invocations}) { return; }`, ...bodies[0].lines.map((l) => '  ' + l)]
      : [
          '  let g = i32(gid.x + gid.y * nwg.x * 64u);',
          ...bodies.flatMap((b) => {
            const from = start;
            start += b.invocations;
            return [`  if (g < ${start}) {`, `    let tid = g${from ? ` - ${from}` : ''};`, ...b.lines.map((l) => '    ' + l), '    return;', '  }'];
          }),
        ];
  const wgsl = [
    needF16 ? 'enable f16;' : '',
    ...roots.map((r, i) => `@group(0) @binding(${i}) var<storage, read_write> out${i}: array<${vec(storageType(r.type.dtype), widthOfRoot.get(r.id)!)}>;`),
    ...reads.map((r, i) => `@group(0) @binding(${roots.length + i}) var<storage, read> in${i}: array<${vec(storageType(r.type.dtype), vecWidth(r))}>;`),
    ...roots.flatMap((r, i) => (widthOfRoot.get(r.id)! > 1 ? [] : [`fn st_out${i}(i: i32, v: ${valueType(r.type.dtype)}) { out${i}[i] = ${storeConv('v', r.type.dtype)}; }`])),
    ...reads.flatMap((r, i) => (vecWidth(r) > 1 ? [] : [loaderDecl(`in${i}`, r.type.dtype)])),
    WGSL_SPECIAL_FLOATS,
    ...helpers.values(),
    '@compute @workgroup_size(64)',
    'fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {',
    ...main,
    '}',
  ]
    .filter((l) => l !== '')
    .join('\n');
  const bindings: Binding[] = [...roots.map((r) => ({ kind: 'out' as const, node: r })), ...reads.map((r) => ({ kind: 'in' as const, node: r }))];
  return { node: roots[0], reads, outputs: roots, bindings, wgsl, groups: Math.ceil(invocations / 64), invocations, label: roots.map((r) => `${r.op}#${r.id}`).join('+') };
}

type ReduceCombine = Extract<Emission, { kind: 'reduce' }>['combine'];

/** The loop of a reduction: one accumulator per lane (names returned), over the reduced axes of the input. */
function reduceLanes(n: Node, combine: ReduceCombine, laneIdx: readonly (readonly string[])[], eb: ExprBuilder, top: Scope): string[] {
  const x = n.inputs[0];
  const axes = n.attrs.axes as number[];
  const redShape = axes.map((a) => x.type.shape[a]);
  const ru = unravel('r_', redShape, 'r_d');
  const loop = new Scope(top, ['r_', ...ru.idx]);
  loop.lines.push(...ru.lines);
  const xt = x.type.dtype;
  const arg = combine === 'argmax' || combine === 'argmin';
  const base = arg ? (combine === 'argmax' ? 'max' : 'min') : combine;
  const results = laneIdx.map((idx, j) => {
    const v = eb.gen(x, idx.map((e, d) => (axes.includes(d) ? ru.idx[axes.indexOf(d)] : e)), loop);
    top.lines.push(`var acc${j}: ${valueType(xt)} = ${IDENTITY[base](xt)};`);
    if (arg) {
      top.lines.push(`var best${j} = -1;`);
      const better = combine === 'argmax' ? `(${v} > acc${j} || (${v} != ${v} && acc${j} == acc${j}))` : `(${v} < acc${j} || (${v} != ${v} && acc${j} == acc${j}))`;
      loop.lines.push(`if (best${j} < 0 || ${better}) { acc${j} = ${v}; best${j} = r_; }`);
      return `best${j}`;
    }
    loop.lines.push(combine === 'sum' ? `acc${j} += ${v};` : `acc${j} = ${combine}(acc${j}, ${v});`);
    return `acc${j}`;
  });
  top.lines.push(`for (var r_ = 0; r_ < ${numel(redShape)}; r_++) {`, ...loop.lines.map((l) => '  ' + l), '}');
  return results;
}

/**
 * The kernels computing a schedule group: one node, or several same-shape elementwise siblings,
 * or (`epilogues`, see compiler/codegen/epilogue.ts) a product computed with the elementwise root it feeds.
 */
export function emitGroup(group: readonly Node[], mat: ReadonlySet<number>, features: ReadonlySet<string>, device: DeviceTraits = PORTABLE_DEVICE, epilogues: ReadonlyMap<number, Node> = new Map()): EmittedKernel[] {
  if (group.length > 1) return [emitSegments(segmentsOf(group), mat)];
  const product = epilogues.get(group[0].id);
  return product ? emitKernels(product, mat, features, device, group[0]) : emitKernels(group[0], mat, features, device);
}

/**
 * What declares `fn epilogue(i: u32, v) -> v` in a product's shader: the identity, or `root` at
 * linear index i given the product's value v there, reading its other buffers (`leaves`) from
 * binding `first` on.
 */
function epilogueDecls(product: Node, root: Node | undefined, mat: ReadonlySet<number>, first: number, specialFloats: boolean): { wgsl: string; leaves: Node[] } {
  const vt = valueType(product.type.dtype);
  if (!root) return { wgsl: `fn epilogue(i: u32, v: ${vt}) -> ${vt} { return v; }`, leaves: [] };
  const leaves = [...leafBuffers(root, mat)].filter((l) => l !== product);
  const eb = new ExprBuilder(leaves, undefined, 'epi_in', { node: product, expr: 'v' });
  const top = new Scope();
  const { lines, idx } = unravel('tid', root.type.shape, 'o');
  top.lines.push(...lines);
  const value = eb.gen(root, idx, top, true);
  const wgsl = [
    ...leaves.map((l, j) => `@group(0) @binding(${first + j}) var<storage, read> epi_in${j}: array<${storageType(l.type.dtype)}>;`),
    ...leaves.map((l, j) => loaderDecl(`epi_in${j}`, l.type.dtype)),
    specialFloats ? WGSL_SPECIAL_FLOATS : '',
    ...eb.helpers.values(),
    `fn epilogue(i: u32, v: ${vt}) -> ${vt} {`,
    '  let tid = i32(i);',
    ...top.lines.map((l) => '  ' + l),
    `  return ${value};`,
    '}',
  ];
  return { wgsl: wgsl.filter((l) => l !== '').join('\n'), leaves };
}

const withF16 = (wgsl: string, leaves: readonly Node[]) => (leaves.some((l) => l.type.dtype === 'f16') && !wgsl.includes('enable f16;') ? `enable f16;\n${wgsl}` : wgsl);

/** `root`: an elementwise consumer of `n` computed in its kernels' stores (n's emission takes epilogues). */
export function emitKernels(n: Node, mat: ReadonlySet<number>, features: ReadonlySet<string>, device: DeviceTraits = PORTABLE_DEVICE, root?: Node): EmittedKernel[] {
  const p = primitive(n.op);
  const em = p.emission;
  if (em.kind === 'fusable' || em.kind === 'reduce') return [emitSegments([[n]], mat)];
  if (em.kind !== 'kernel') throw new Error(`no kernel for source ${n.op}`);
  if (root && !em.epilogue) throw new Error(`${n.op} takes no epilogue`);
  const reads = [...n.inputs];
  const src = em.emit({ out: n.type, inputs: n.inputs.map((i) => i.type), features, device }, n.attrs);
  if (Array.isArray(src)) {
    return (src as readonly RawKernel[]).map((rk) => {
      if (!em.epilogue || !rk.bindings.some((b) => b.kind === 'out')) return rawKernel(n, rk);
      const epi = epilogueDecls(n, root, mat, rk.bindings.length, true);
      if (!rk.wgsl.includes(EPILOGUE_HOOK)) throw new Error(`${n.op} kernel ${rk.label} has no epilogue hook`);
      const wgsl = withF16(rk.wgsl.replace(EPILOGUE_HOOK, epi.wgsl), epi.leaves);
      return rawKernel(n, { ...rk, wgsl, bindings: [...rk.bindings, ...epi.leaves.map(() => ({ kind: 'in' as const, input: -1 }))] }, root, epi.leaves);
    });
  }
  const { code: body, invocations, workgroupSize } = src as KernelSource;
  const helpers = new Map((src as KernelSource).helpers ?? []);
  const epi = root ? epilogueDecls(n, root, mat, 1 + reads.length, false) : undefined;
  const leaves = epi?.leaves ?? [];
  const out = root ?? n;
  const types: TensorType[] = [n.type, ...reads.map((r) => r.type), ...leaves.map((l) => l.type)];
  const needF16 = types.some((t) => t.dtype === 'f16');
  const decls = [
    `@group(0) @binding(0) var<storage, read_write> out: array<${storageType(n.type.dtype)}>;`,
    ...reads.map((r, i) => `@group(0) @binding(${i + 1}) var<storage, read> in${i}: array<${storageType(r.type.dtype)}>;`),
    `fn st_out(i: i32, v: ${valueType(n.type.dtype)}) { out[i] = ${storeConv(epi ? 'epilogue(u32(i), v)' : 'v', n.type.dtype)}; }`,
    ...reads.map((r, i) => loaderDecl(`in${i}`, r.type.dtype)),
  ];
  const wgsl = [
    needF16 ? 'enable f16;' : '',
    ...decls,
    WGSL_SPECIAL_FLOATS,
    epi?.wgsl ?? '',
    ...helpers.values(),
    `@compute @workgroup_size(${workgroupSize})`,
    'fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {',
    `  let tid = i32(gid.x + gid.y * nwg.x * ${workgroupSize}u);`,
    `  if (tid >= ${invocations}) { return; }`,
    body,
    '}',
  ]
    .filter((l) => l !== '')
    .join('\n');
  const allReads = [...reads, ...leaves];
  const bindings: Binding[] = [{ kind: 'out', node: out }, ...allReads.map((r) => ({ kind: 'in' as const, node: r }))];
  return [{ node: n, reads: allReads, outputs: [out], bindings, wgsl, groups: Math.ceil(invocations / workgroupSize), invocations, label: labelOf(n, root) }];
}

const labelOf = (n: Node, root?: Node) => `${n.op}#${n.id}${root ? `+${root.op}#${root.id}` : ''}`;

/** `root`, `leaves`: the epilogue's root (written instead of n) and its buffers (the 'in' bindings with input -1, in order). */
function rawKernel(n: Node, rk: RawKernel, root?: Node, leaves: readonly Node[] = []): EmittedKernel {
  let leaf = 0;
  const bindings: Binding[] = rk.bindings.map((b) => (b.kind === 'in' ? { kind: 'in', node: b.input < 0 ? leaves[leaf++] : n.inputs[b.input] } : b.kind === 'out' ? { kind: 'out', node: root ?? n } : b));
  const reads = bindings.flatMap((b) => (b.kind === 'in' ? [b.node] : []));
  return { node: n, reads, outputs: bindings.some((b) => b.kind === 'out') ? [root ?? n] : [], bindings, wgsl: rk.wgsl, groups: rk.groups, invocations: gridSize(rk.groups), label: `${labelOf(n, root)}:${rk.label}`, ...(rk.copy ? { copy: rk.copy } : {}) };
}
