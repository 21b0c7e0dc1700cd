/**
 * The one table of primitives. Each primitive is defined once, in its family file under
 * primitives/: shape and dtype rule, float64 reference evaluation, VJP rule and WGSL emission.
 */
import type { Attrs, DType, Node, TensorType } from './ir';
import { ShapeError, fmtType, makeNode } from './ir';
import type { Tensor } from '../dsl/tensor';

/** A tensor on the reference interpreter: values in float64, row-major. */
export interface RefTensor {
  readonly type: TensorType;
  readonly data: Float64Array;
}

/** Builds WGSL for a fusable primitive: expressions over the output position. */
export interface FuseCtx {
  /** WGSL expression (a `let` name) of input `i` at multi-index `idx` (i32 expressions) */
  load(i: number, idx: readonly string[]): string;
  /** binds an expression to a fresh `let` and returns its name */
  bind(expr: string, type: DType): string;
  /** the output's linear index as an i32 expression (for counters) */
  linear(): string;
  /** asks for a helper function (erf, rng, ...) to be included once */
  require(helperName: string, source: string): void;
  readonly out: TensorType;
  readonly inputs: readonly TensorType[];
}

/**
 * How a primitive becomes code:
 * - 'source': graph inputs and large constants, which live in buffers;
 * - 'fusable': an expression of its inputs at the output position (elementwise ops and views),
 *   inlined into whichever kernel consumes it;
 * - 'reduce': a reduction, emitted by the generic reduction kernel;
 * - 'kernel': a whole kernel of its own over materialised inputs (matmul, conv, ...);
 * - 'alias': a view that needs no code at all: it is its input's buffer bound at an offset
 *   (row_view, which splits tensors larger than one storage binding).
 */
export type Emission =
  | { kind: 'source' }
  | { kind: 'alias' }
  | {
      kind: 'fusable';
      emit(ctx: FuseCtx, idx: readonly string[], attrs: Attrs): string;
      /** every input is read at the output's own index (elementwise ops): a kernel that can run
       * an epilogue may compute such a node as it stores its own output */
      pointwise?: true;
    }
  | { kind: 'reduce'; combine: 'sum' | 'max' | 'min' | 'argmax' | 'argmin' }
  | {
      kind: 'kernel';
      emit(k: KernelCtx, attrs: Attrs): KernelSource | readonly RawKernel[];
      tuning?: (k: KernelCtx, attrs: Attrs) => TuneSpace | undefined;
      /** for kernels that only some adapters (or shapes) can run: where `applies`, the plan
       * replaces the node by `expand` (primitives) before it emits code */
      fallback?: { applies(k: KernelCtx, attrs: Attrs): boolean; expand(inputs: readonly Node[], attrs: Attrs): Node };
      /**
       * every kernel that writes the output does so through `epilogue(i: u32, v) -> v` (the
       * value at linear index i): raw shaders contain the line EPILOGUE_HOOK at top level where
       * that function (and any buffers it reads) is declared; a `KernelSource` gets it through
       * `st_out`. The scheduler may then fuse an elementwise consumer into the store (bias,
       * activation, residual), see compiler/codegen/epilogue.ts.
       */
      epilogue?: true;
    }
  | { kind: 'composite'; expand(inputs: readonly Node[], attrs: Attrs): Node; fused?: (inputs: readonly Node[], attrs: Attrs) => Node | undefined };

/** Where an epilogue-capable raw shader declares its epilogue (see Emission 'kernel'). */
export const EPILOGUE_HOOK = '// @epilogue';

export interface KernelCtx {
  readonly out: TensorType;
  readonly inputs: readonly TensorType[];
  readonly features: ReadonlySet<string>;
  readonly device: DeviceTraits;
}

/**
 * A kernel choice the autotuner may settle by measurement (runtime/autotune.ts): the variants
 * that are valid for this node on this adapter, and the one taken when nothing was measured.
 * `key` names the class of nodes one measurement stands for (op, shape, dtypes, flags).
 */
export interface TuneSpace {
  readonly key: string;
  readonly candidates: readonly string[];
  readonly fallback: string;
}

/** The variant to emit: the measured choice for this adapter when there is one, else the fallback. */
export function chooseVariant(device: DeviceTraits, space: TuneSpace): string {
  const measured = device.tuned?.(space.key);
  return measured !== undefined && space.candidates.includes(measured) ? measured : space.fallback;
}

/** What kernel choice depends on: read from the adapter once (see runtime/gpu.ts). */
export interface DeviceTraits {
  /** choices the autotuner measured on this adapter, by TuneSpace key */
  readonly tuned?: (key: string) => string | undefined;
  /** a CPU rasteriser (llvmpipe, SwiftShader): textures beat buffers, barriers are costly */
  readonly cpuLike: boolean;
  /** 0 when the adapter has no subgroups */
  readonly subgroupSize: number;
  readonly maxTextureDimension2D: number;
  /** the largest storage binding a kernel may use (scratch buffers included) */
  readonly maxStorageBufferBindingSize?: number;
  /** kernels' read textures are bound as read-only storage textures (see compiler/codegen/texture-reads.ts) */
  readonly storageTextureLoads?: boolean;
}

export const PORTABLE_DEVICE: DeviceTraits = { cpuLike: false, subgroupSize: 0, maxTextureDimension2D: 8192 };

/** A resource of a hand-written kernel, in binding order. */
export type RawBinding =
  | { readonly kind: 'out' }
  | { readonly kind: 'in'; readonly input: number }
  | { readonly kind: 'texture'; readonly key: string; readonly access: 'read' | 'write'; readonly width: number; readonly height: number }
  | { readonly kind: 'uniform'; readonly data: Uint32Array }
  /** a storage buffer for one kernel's output that a texture copy then reads (one buffer shared by every such kernel) */
  | { readonly kind: 'scratch'; readonly bytes: number };

/**
 * After the kernel (or instead of it, when its WGSL is empty), copy into texture `key`: from the
 * kernel's scratch buffer, or from its first input when that is already in the texture's layout.
 * A copy costs a memcpy where a shader's texture store costs ~12 ns per texel on llvmpipe.
 */
export interface TextureCopy {
  readonly key: string;
  readonly from: 'scratch' | 'in';
  /** texels per row copied */
  readonly width: number;
  readonly bytesPerRow: number;
  /** source byte offset, first texture row and number of rows of each block copied */
  readonly regions: readonly { readonly offset: number; readonly y: number; readonly rows: number }[];
}

/** A complete shader with its own bindings (used where the standard frame does not fit). */
/** Workgroups to dispatch: a count (the runtime folds it into x and y) or an explicit 3-D grid. */
export type Grid = number | readonly [number, number, number];

/** The number of workgroups in a grid. */
export const gridSize = (g: Grid): number => (typeof g === 'number' ? g : g[0] * g[1] * g[2]);

export interface RawKernel {
  readonly wgsl: string;
  readonly bindings: readonly RawBinding[];
  readonly groups: Grid;
  readonly label: string;
  readonly copy?: TextureCopy;
}

export interface KernelSource {
  /**
   * WGSL statements run by each invocation, which knows its index as `tid: i32` (already
   * checked against `invocations`). Inputs are read with `ld_in0(i: i32)`.., the output written
   * with `st_out(i: i32, v)`; values are in their dtype's value type (floats as f32).
   */
  readonly code: string;
  readonly workgroupSize: number;
  /** number of invocations wanted (the caller derives the dispatch grid) */
  readonly invocations: number;
  /** helper functions required */
  readonly helpers?: readonly (readonly [string, string])[];
}

/**
 * VJP rule: cotangent of the output -> cotangents of each input (undefined: zero / none).
 * Written with DSL tensors, so backward passes are ordinary graphs (and differentiable again).
 */
export type VjpRule = (ct: Tensor, primals: readonly Tensor[], out: Tensor, attrs: Attrs) => readonly (Tensor | undefined)[];

export interface Primitive {
  readonly name: string;
  readonly infer: (inputs: readonly TensorType[], attrs: Attrs) => TensorType;
  readonly reference: (inputs: readonly RefTensor[], attrs: Attrs, out: TensorType) => Float64Array;
  readonly emission: Emission;
  /** absent: the primitive has no gradient (integer outputs, random numbers, constants) */
  readonly vjp?: VjpRule;
}

const table = new Map<string, Primitive>();

export function definePrimitive(p: Primitive): Primitive {
  if (table.has(p.name)) throw new Error(`primitive '${p.name}' is defined twice`);
  table.set(p.name, p);
  return p;
}

export function primitive(name: string): Primitive {
  const p = table.get(name);
  if (!p) throw new Error(`unknown primitive '${name}'`);
  return p;
}

export function allPrimitives(): Primitive[] {
  return [...table.values()];
}

/** Applies a primitive: checks shapes now, so errors surface at the line that traced the op. */
export function apply(name: string, inputs: readonly Node[], attrs: Attrs = {}): Node {
  const p = primitive(name);
  const type = p.infer(inputs.map((i) => i.type), attrs);
  return makeNode(name, inputs, attrs, type);
}

export function shapeError(op: string, msg: string, ...types: TensorType[]): never {
  throw new ShapeError(`${op}: ${msg}${types.length ? ` (got ${types.map(fmtType).join(' and ')})` : ''}`);
}
