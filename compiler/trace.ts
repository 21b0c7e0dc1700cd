/**
 * Tracing: calls a model function on symbolic tensors and records the IR it builds.
 * Arguments and results are trees (records and arrays) of tensors, named by dotted paths.
 */
import type { DType, Graph, Node } from './ir';
import { DTYPES, ShapeError, makeNode } from './ir';
import { Tensor } from '../dsl/tensor';
import type { Dim, Shape } from '../dsl/shape-types';

export interface TensorSpec<S extends Shape = Shape, D extends DType = DType> {
  readonly kind: 'spec';
  readonly shape: S;
  readonly dtype: D;
}

export function spec<const S extends Shape, D extends DType = 'f32'>(shape: S, dtype: D = 'f32' as D): TensorSpec<S, D> {
  return { kind: 'spec', shape, dtype };
}

export type SpecTree = TensorSpec | { readonly [k: string]: SpecTree } | readonly SpecTree[];
export type TensorsOf<T> = T extends TensorSpec<infer S, infer D> ? Tensor<S, D> : T extends readonly unknown[] ? { [K in keyof T]: TensorsOf<T[K]> } : { [K in keyof T]: TensorsOf<T[K]> };
export type OutTree = Tensor | { readonly [k: string]: OutTree } | readonly OutTree[];

export const isSpec = (v: unknown): v is TensorSpec => typeof v === 'object' && v !== null && (v as TensorSpec).kind === 'spec';

/** Visits the leaves of a tree with their dotted path. */
export function leaves<L>(tree: unknown, isLeaf: (v: unknown) => v is L, prefix = ''): [string, L][] {
  if (isLeaf(tree)) return [[prefix, tree]];
  if (Array.isArray(tree)) return tree.flatMap((v, i) => leaves(v, isLeaf, prefix ? `${prefix}.${i}` : `${i}`));
  if (typeof tree === 'object' && tree !== null) return Object.entries(tree).flatMap(([k, v]) => leaves(v, isLeaf, prefix ? `${prefix}.${k}` : k));
  throw new TypeError(`expected a tensor or a tree of tensors at '${prefix || '<root>'}', got ${typeof tree}`);
}

function mapTree(tree: unknown, f: (path: string, leaf: TensorSpec) => unknown, prefix = ''): unknown {
  if (isSpec(tree)) return f(prefix, tree);
  if (Array.isArray(tree)) return tree.map((v, i) => mapTree(v, f, prefix ? `${prefix}.${i}` : `${i}`));
  if (typeof tree === 'object' && tree !== null) return Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, mapTree(v, f, prefix ? `${prefix}.${k}` : k)]));
  throw new TypeError(`expected a spec or a tree of specs at '${prefix || '<root>'}'`);
}

export function resolveShape(shape: readonly Dim[], dims: Readonly<Record<string, number>>, where: string): number[] {
  return shape.map((d) => {
    const v = typeof d === 'string' ? dims[d] : d;
    if (v === undefined) throw new ShapeError(`${where}: dimension '${d}' has no size (pass dims: { ${d}: ... })`);
    if (!(Number.isInteger(v) && v >= 0)) throw new ShapeError(`${where}: dimension ${String(d)} = ${v} is not a non-negative integer`);
    return v;
  });
}

export interface Traced {
  readonly graph: Graph;
  /** input name -> its spec, in call order */
  readonly inputs: readonly { name: string; shape: number[]; dtype: DType }[];
}

/** Traces `fn` on symbolic tensors shaped like `specs` (one tree: its leaf paths name the inputs). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function trace(fn: (args: any) => unknown, specs: SpecTree, dims: Readonly<Record<string, number>> = {}): Traced {
  const inputNodes: Node[] = [];
  const inputs: { name: string; shape: number[]; dtype: DType }[] = [];
  const args = mapTree(specs, (path, s) => {
    const name = path || 'x';
    if (!DTYPES.includes(s.dtype)) throw new ShapeError(`input '${name}': unknown dtype '${s.dtype}'`);
    const shape = resolveShape(s.shape, dims, `input '${name}'`);
    const n = makeNode('input', [], { name, shape, dtype: s.dtype }, { shape, dtype: s.dtype });
    inputNodes.push(n);
    inputs.push({ name, shape, dtype: s.dtype });
    return new Tensor(n);
  });
  const result = fn(args);
  const outs = leaves(result, (v): v is Tensor => v instanceof Tensor).map(([k, t]) => [k, t.node] as const);
  if (outs.length === 0) throw new TypeError('the traced function returned no tensors');
  return { graph: { inputs: inputNodes, outputs: outs }, inputs };
}
