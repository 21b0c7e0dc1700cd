/**
 * WGSL for one scheduled kernel. Every kernel has the same frame: the output buffer at
 * binding 0, the buffers it reads at 1.., typed accessors `ld_inK` / `st_out` that convert
 * storage (f16, bool-as-u32) to value types, and one invocation index `tid`.
 */
import type { DType, Node, TensorType } from '../ir';
import { numel, stridesOf } from '../ir';
import { primitive } from '../primitive';
import type { DeviceTraits, FuseCtx, KernelSource, RawKernel } from '../primitive';
import { PORTABLE_DEVICE } from '../primitive';
import { WGSL_SPECIAL_FLOATS, storageType, valueType } from '../dtype';
import { leafBuffers } from './schedule';

/** A resource bound to a kernel, in binding order. */
export type Binding =
  | { readonly kind: 'out'; readonly node: Node }
  | { readonly kind: 'in'; readonly node: Node }
  | { readonly kind: 'texture'; readonly key: string; readonly access: 'read' | 'write'; readonly width: number; readonly height: number }
  | { readonly kind: 'uniform'; readonly data: Uint32Array };

export interface EmittedKernel {
  /** the node it belongs to (the first, when several outputs are fused into one kernel) */
  readonly node: Node;
  /** materialised nodes it reads (its 'in' bindings) */
  readonly reads: readonly Node[];
  /** nodes whose buffers it writes (none for a packing kernel, several for sibling fusion) */
  readonly outputs: readonly Node[];
  readonly bindings: readonly Binding[];
  readonly wgsl: string;
  /** workgroups to dispatch */
  readonly groups: number;
  readonly invocations: number;
  readonly label: string;
}

function loadConv(v: string, d: DType): string {
  return d === 'bool' ? `(${v} != 0u)` : d === 'f16' ? `f32(${v})` : v;
}
function storeConv(v: string, d: DType): string {
  return d === 'bool' ? `select(0u, 1u, ${v})` : d === 'f16' ? `f16(${v})` : v;
}

function linearOf(idx: readonly string[], shape: readonly number[]): string {
  const st = stridesOf(shape);
  const terms = idx.map((e, d) => (shape[d] === 1 ? '' : st[d] === 1 ? e : `${e} * ${st[d]}`)).filter(Boolean);
  return terms.length ? terms.join(' + ') : '0';
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

/** Generates the expression DAG of fusable nodes above the kernel's buffers. */
class ExprBuilder {
  private counter = 0;
  readonly helpers = new Map<string, string>();
  readonly bindingOf: Map<number, number>;
  constructor(readonly reads: readonly Node[]) {
    this.bindingOf = new Map(reads.map((n, i) => [n.id, i]));
  }
  fresh(): string {
    return `v${this.counter++}`;
  }
  gen(n: Node, idx: readonly string[], scope: Scope, isRoot = false): string {
    const home = scope.home(idx);
    const key = `${n.id}|${idx.join(',')}`;
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      const hit = s.memo.get(key);
      if (hit) return hit;
    }
    const b = this.bindingOf.get(n.id);
    let expr: string;
    if (b !== undefined && !isRoot) {
      expr = `ld_in${b}(${linearOf(idx, n.type.shape)})`;
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

/** Several same-shape elementwise roots computed by one kernel: shared loads and subexpressions once. */
function emitSiblings(roots: readonly Node[], mat: ReadonlySet<number>): EmittedKernel {
  const readSet = new Map<number, Node>();
  for (const r of roots) for (const l of leafBuffers(r, mat)) readSet.set(l.id, l);
  const reads = [...readSet.values()];
  const eb = new ExprBuilder(reads);
  const top = new Scope();
  const shape = roots[0].type.shape;
  const { lines, idx } = unravel('tid', shape, 'o');
  top.lines.push(...lines);
  roots.forEach((r, i) => top.lines.push(`st_out${i}(tid, ${eb.gen(r, idx, top, true)});`));
  const invocations = numel(shape);
  const needF16 = [...roots, ...reads].some((t) => t.type.dtype === 'f16');
  const wgsl = [
    needF16 ? 'enable f16;' : '',
    ...roots.map((r, i) => `@group(0) @binding(${i}) var<storage, read_write> out${i}: array<${storageType(r.type.dtype)}>;`),
    ...reads.map((r, i) => `@group(0) @binding(${roots.length + i}) var<storage, read> in${i}: array<${storageType(r.type.dtype)}>;`),
    ...roots.map((r, i) => `fn st_out${i}(i: i32, v: ${valueType(r.type.dtype)}) { out${i}[i] = ${storeConv('v', r.type.dtype)}; }`),
    ...reads.map((r, i) => `fn ld_in${i}(i: i32) -> ${valueType(r.type.dtype)} { return ${loadConv(`in${i}[i]`, r.type.dtype)}; }`),
    WGSL_SPECIAL_FLOATS,
    ...eb.helpers.values(),
    '@compute @workgroup_size(64)',
    'fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {',
    '  let tid = i32(gid.x + gid.y * nwg.x * 64u);',
    `  if (tid >= ${invocations}) { return; }`,
    top.lines.map((l) => '  ' + l).join('\n'),
    '}',
  ]
    .filter((l) => l !== '')
    .join('\n');
  const bindings: Binding[] = [...roots.map((r) => ({ kind: 'out' as const, node: r })), ...reads.map((r) => ({ kind: 'in' as const, node: r }))];
  return { node: roots[0], reads, outputs: roots, bindings, wgsl, groups: Math.ceil(invocations / 64), invocations, label: roots.map((r) => `${r.op}#${r.id}`).join('+') };
}

/** The kernels computing a schedule group: one node, or several same-shape elementwise siblings. */
export function emitGroup(group: readonly Node[], mat: ReadonlySet<number>, features: ReadonlySet<string>, device: DeviceTraits = PORTABLE_DEVICE): EmittedKernel[] {
  return group.length === 1 ? emitKernels(group[0], mat, features, device) : [emitSiblings(group, mat)];
}

export function emitKernels(n: Node, mat: ReadonlySet<number>, features: ReadonlySet<string>, device: DeviceTraits = PORTABLE_DEVICE): EmittedKernel[] {
  const p = primitive(n.op);
  const em = p.emission;
  let body: string;
  let reads: Node[];
  let invocations = numel(n.type.shape);
  let workgroupSize = 64;
  let helpers: Map<string, string>;
  if (em.kind === 'kernel') {
    reads = [...n.inputs];
    const src = em.emit({ out: n.type, inputs: n.inputs.map((i) => i.type), features, device }, n.attrs);
    if (Array.isArray(src)) return (src as readonly RawKernel[]).map((rk) => rawKernel(n, rk));
    const ks = src as KernelSource;
    body = ks.code;
    invocations = ks.invocations;
    workgroupSize = ks.workgroupSize;
    helpers = new Map(ks.helpers ?? []);
  } else {
    // in order of first use, so structurally equal kernels get equal WGSL and share a pipeline
    reads = [...leafBuffers(n, mat)];
    const eb = new ExprBuilder(reads);
    const top = new Scope();
    const { lines, idx } = unravel('tid', n.type.shape, 'o');
    top.lines.push(...lines);
    if (em.kind === 'fusable') {
      const v = eb.gen(n, idx, top, true);
      top.lines.push(`st_out(tid, ${v});`);
    } else if (em.kind === 'reduce') {
      body = '';
      const x = n.inputs[0];
      const axes = n.attrs.axes as number[];
      const redShape = axes.map((a) => x.type.shape[a]);
      const rn = numel(redShape);
      const ru = unravel('r_', redShape, 'r_d');
      const loop = new Scope(top, ['r_', ...ru.idx]);
      loop.lines.push(...ru.lines);
      const full = idx.map((e, d) => (axes.includes(d) ? ru.idx[axes.indexOf(d)] : e));
      const v = eb.gen(x, full, loop);
      const xt = x.type.dtype;
      const arg = em.combine === 'argmax' || em.combine === 'argmin';
      const base = arg ? (em.combine === 'argmax' ? 'max' : 'min') : em.combine;
      top.lines.push(`var acc: ${valueType(xt)} = ${IDENTITY[base](xt)};`);
      if (arg) {
        top.lines.push('var best = -1;');
        const better = em.combine === 'argmax' ? `(${v} > acc || (${v} != ${v} && acc == acc))` : `(${v} < acc || (${v} != ${v} && acc == acc))`;
        loop.lines.push(`if (best < 0 || ${better}) { acc = ${v}; best = r_; }`);
      } else {
        loop.lines.push(em.combine === 'sum' ? `acc += ${v};` : `acc = ${em.combine}(acc, ${v});`);
      }
      top.lines.push(`for (var r_ = 0; r_ < ${rn}; r_++) {`, ...loop.lines.map((l) => '  ' + l), '}');
      top.lines.push(arg ? 'st_out(tid, best);' : 'st_out(tid, acc);');
    } else {
      throw new Error(`no kernel for source ${n.op}`);
    }
    body = top.lines.map((l) => '  ' + l).join('\n');
    helpers = eb.helpers;
  }
  const types: TensorType[] = [n.type, ...reads.map((r) => r.type)];
  const needF16 = types.some((t) => t.dtype === 'f16');
  const decls = [
    `@group(0) @binding(0) var<storage, read_write> out: array<${storageType(n.type.dtype)}>;`,
    ...reads.map((r, i) => `@group(0) @binding(${i + 1}) var<storage, read> in${i}: array<${storageType(r.type.dtype)}>;`),
    `fn st_out(i: i32, v: ${valueType(n.type.dtype)}) { out[i] = ${storeConv('v', n.type.dtype)}; }`,
    ...reads.map((r, i) => `fn ld_in${i}(i: i32) -> ${valueType(r.type.dtype)} { return ${loadConv(`in${i}[i]`, r.type.dtype)}; }`),
  ];
  const wgsl = [
    needF16 ? 'enable f16;' : '',
    ...decls,
    WGSL_SPECIAL_FLOATS,
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
  const bindings: Binding[] = [{ kind: 'out', node: n }, ...reads.map((r) => ({ kind: 'in' as const, node: r }))];
  return [{ node: n, reads, outputs: [n], bindings, wgsl, groups: Math.ceil(invocations / workgroupSize), invocations, label: `${n.op}#${n.id}` }];
}

function rawKernel(n: Node, rk: RawKernel): EmittedKernel {
  const bindings: Binding[] = rk.bindings.map((b) => (b.kind === 'in' ? { kind: 'in', node: n.inputs[b.input] } : b.kind === 'out' ? { kind: 'out', node: n } : b));
  const reads = bindings.flatMap((b) => (b.kind === 'in' ? [b.node] : []));
  return { node: n, reads, outputs: bindings.some((b) => b.kind === 'out') ? [n] : [], bindings, wgsl: rk.wgsl, groups: rk.groups, invocations: rk.groups, label: `${n.op}#${n.id}:${rk.label}` };
}
