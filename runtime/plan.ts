/**
 * An executable plan: everything needed to run a compiled graph, as plain data (kernels as WGSL
 * with their bindings, buffer slots and sizes, constants, inputs and outputs). The runtime
 * instantiates it on a device; `omni-emotion compile` writes it into a stand-alone module.
 */
import type { DType, Graph, Node } from '../compiler/ir';
import { numel } from '../compiler/ir';
import { byteSize } from '../compiler/dtype';
import { schedule } from '../compiler/codegen/schedule';
import { emitGroup } from '../compiler/codegen/emit';
import { shareTextures, textureId, textureWritten } from '../compiler/codegen/shared-textures';
import { storageTextureReads } from '../compiler/codegen/texture-reads';
import type { DeviceTraits, Grid } from '../compiler/primitive';
import { tunedChoices } from './tune-table';
import { PORTABLE_DEVICE } from '../compiler/primitive';
import type { Gpu } from './gpu';
import { planBuffers } from './memory';
import { splitOversized } from '../compiler/passes/split-oversized';
import { expandFallbacks } from '../compiler/passes/expand-fallbacks';
import { optimize } from '../compiler/passes';

export type PlanBinding =
  | {
      readonly kind: 'out' | 'in';
      readonly slot: number;
      readonly bytes: number;
      /** a graph input: a buffer given at run time replaces the slot (-1: external, none of its own) */
      readonly input?: string;
      /** bytes into the buffer where the binding starts (a row_view of a larger tensor) */
      readonly offset?: number;
      /** the tensor is this graph output: a buffer the output is written `into` may replace the slot */
      readonly output?: string;
    }
  /** 'read': a sampled texture; 'load': a read-only storage texture; 'write': a write-only storage texture */
  | { readonly kind: 'texture'; readonly id: string; readonly access: 'read' | 'load' | 'write'; readonly width: number; readonly height: number }
  | { readonly kind: 'uniform'; readonly data: readonly number[] }
  /** the plan's one scratch buffer (a packing kernel's output on its way into a texture) */
  | { readonly kind: 'scratch'; readonly bytes: number };

/** A buffer-to-texture copy after a kernel (or in its place when its WGSL is empty): see TextureCopy. */
export interface PlanCopy {
  /** the texture's id */
  readonly texture: string;
  readonly from: 'scratch' | 'in';
  readonly width: number;
  readonly bytesPerRow: number;
  readonly regions: readonly { readonly offset: number; readonly y: number; readonly rows: number }[];
}

export interface PlanTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** -1: no buffer of its own (an unused input, or an external one) */
  readonly slot: number;
  readonly bytes: number;
  /** an output that is an external input itself */
  readonly input?: string;
}

export interface ExecutablePlan {
  readonly inputs: readonly (PlanTensor & { readonly external: boolean })[];
  readonly outputs: readonly PlanTensor[];
  readonly slots: readonly number[];
  readonly constants: readonly { readonly slot: number; readonly shape: readonly number[]; readonly dtype: DType; readonly values: readonly number[] }[];
  readonly kernels: readonly {
    readonly label: string;
    readonly wgsl: string;
    readonly groups: Grid;
    readonly bindings: readonly PlanBinding[];
    /** reads only constant inputs and writes only textures (a weight packed into its matmul's layout): runs again only when those inputs are other buffers */
    readonly constant?: boolean;
    readonly copy?: PlanCopy;
  }[];
  readonly stats: { readonly kernels: number; readonly distinctShaders: number; readonly plannedBytes: number; readonly naiveBytes: number };
  /** the subgroup size the kernels were chosen for when any uses subgroups (they assume it: a generated module checks its adapter) */
  readonly subgroupSize?: number;
}

export interface PlanTarget {
  readonly features: ReadonlySet<string>;
  readonly traits: DeviceTraits;
  readonly maxStorageBuffersPerShaderStage: number;
  readonly maxStorageBufferBindingSize: number;
  /** storage bindings start at multiples of this (WebGPU's default: 256) */
  readonly minStorageBufferOffsetAlignment: number;
}

/** What a plan is made for, read from a device (`portable`: the kernels for any adapter; `maxBindingBytes`: a binding limit below the adapter's). */
export function planTargetOf(gpu: Gpu, opts: { portable?: boolean; maxBindingBytes?: number; tuned?: (key: string) => string | undefined; sampledTextures?: boolean } = {}): PlanTarget {
  const l = gpu.limits;
  return {
    features: gpu.features,
    // kernel variants: the ones forced by the caller (the autotuner trying each), else the ones measured on this adapter
    traits: opts.portable
      ? PORTABLE_DEVICE
      : { ...gpu.traits, tuned: opts.tuned ?? tunedChoices(gpu.adapterInfo), storageTextureLoads: !opts.sampledTextures && gpu.traits.storageTextureLoads },
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage ?? 8,
    maxStorageBufferBindingSize: Math.min(l.maxStorageBufferBindingSize, opts.maxBindingBytes ?? Infinity),
    minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment ?? 256,
  };
}

export class PlanError extends Error {
  override name = 'PlanError';
}

/** Every kernel reads only what an earlier kernel wrote (or a source): the scheduler's ordering invariant, checked before anything runs. */
function checkOrder(kernels: readonly { label: string; reads: readonly Node[]; outputs: readonly Node[] }[]) {
  const firstWrite = new Map<number, number>();
  kernels.forEach((k, i) => k.outputs.forEach((o) => firstWrite.has(o.id) || firstWrite.set(o.id, i)));
  kernels.forEach((k, i) => {
    for (const r of k.reads) {
      const w = firstWrite.get(r.id);
      if (w !== undefined && w >= i) throw new Error(`internal: kernel ${i} (${k.label}) reads ${r.op}#${r.id} before kernel ${w} (${kernels[w].label}) writes it`);
    }
  });
}

const align4 = (n: number) => Math.max(4, Math.ceil(n / 4) * 4);
export const bytesOf = (n: Node) => align4(numel(n.type.shape) * byteSize(n.type.dtype));

/**
 * `external`: inputs always given as device tensors (no buffer of their own). `constant`: external
 * inputs whose contents never change while the same device tensor is passed (inference weights):
 * kernels that only repack them run once per set of buffers.
 */
export function makePlan(target: PlanTarget, traced: Graph, external: (name: string) => boolean = () => false, constant: (name: string) => boolean = () => false): ExecutablePlan {
  const traits = { ...target.traits, maxStorageBufferBindingSize: target.maxStorageBufferBindingSize };
  // kernels this adapter cannot run become their expansions (then optimised like any graph)
  const expanded = expandFallbacks(traced, target.features, traits);
  const device = expanded.changed ? optimize(expanded.graph) : traced;
  // weights larger than one binding are read in row blocks (bound at offsets into their buffer)
  const g = splitOversized(device, { maxBindingBytes: target.maxStorageBufferBindingSize, offsetAlignment: target.minStorageBufferOffsetAlignment });
  const maxInputs = Math.max(1, Math.min(15, target.maxStorageBuffersPerShaderStage - 1));
  const sched = schedule(g, maxInputs);
  const shared = shareTextures(sched.groups.flatMap((grp) => emitGroup(grp, sched.materialised, target.features, traits, sched.epilogues)));
  const kernels = shared.kernels;
  const texture = (k: (typeof kernels)[number], key: string) => shared.canonical(textureId(k, key));
  for (const k of [...kernels.flatMap((kk) => kk.outputs), ...kernels.flatMap((kk) => kk.reads)]) {
    if (bytesOf(k) > target.maxStorageBufferBindingSize)
      throw new PlanError(
        `tensor ${k.op}#${k.id} ${k.type.dtype}[${k.type.shape}] needs ${bytesOf(k)} bytes in one binding, above this adapter's limit ${target.maxStorageBufferBindingSize}: ` +
          'only weights read by matmul, gather or elementwise ops are split into blocks (compiler/passes/split-oversized.ts)',
      );
  }
  const externalIds = new Set(g.inputs.filter((n) => external(n.attrs.name as string)).map((n) => n.id));
  // a row_view is its root tensor's buffer at an offset, a reshape alias the whole buffer: liveness and slots are the root's
  const aliasOf = (n: Node): { root: Node; offset: number } => {
    if (sched.reshapeAliases.has(n.id)) return aliasOf(n.inputs[0]);
    if (n.op !== 'row_view') return { root: n, offset: 0 };
    const inner = aliasOf(n.inputs[0]);
    return { root: inner.root, offset: inner.offset + (n.attrs.start as number) * numel(n.type.shape.slice(1)) * byteSize(n.type.dtype) };
  };
  for (const k of kernels) {
    for (const r of k.reads) {
      const { root, offset } = aliasOf(r);
      if (offset % target.minStorageBufferOffsetAlignment !== 0) throw new PlanError(`${r.op}#${r.id} of ${root.op}#${root.id} ${root.type.dtype}[${root.type.shape}] starts at byte ${offset}, not a multiple of this adapter's offset alignment ${target.minStorageBufferOffsetAlignment}`);
    }
  }
  const rooted = kernels.map((k) => ({ ...k, reads: [...new Set(k.reads.map((r) => aliasOf(r).root))] }));
  checkOrder(rooted);
  const plan = planBuffers(rooted, g.inputs, g.outputs.map(([, n]) => n), bytesOf, externalIds);
  const slot = (n: Node) => plan.slotOf.get(n.id) ?? -1;
  const isConstant = (k: (typeof kernels)[number]) =>
    textureWritten(k) !== undefined &&
    k.bindings.every((b) => b.kind !== 'out') &&
    k.bindings.every((b) => {
      if (b.kind !== 'in') return true;
      const { root } = aliasOf(b.node);
      return externalIds.has(root.id) && constant(inputName.get(root.id)!);
    });
  const inputName = new Map(g.inputs.map((n) => [n.id, n.attrs.name as string]));
  const storageLoads = !!target.traits.storageTextureLoads;
  // outputs computed into a buffer of their own (not an alias, not returned under two names) can
  // be written straight into a caller's buffer instead of being copied there after the run
  const outputCount = new Map<number, number>();
  for (const [, n] of g.outputs) outputCount.set(n.id, (outputCount.get(n.id) ?? 0) + 1);
  const directOutput = new Map(g.outputs.filter(([, n]) => outputCount.get(n.id) === 1 && aliasOf(n).root === n && !inputName.has(n.id)).map(([name, n]) => [n.id, name]));
  const bufferBinding = (kind: 'out' | 'in', n: Node): PlanBinding => {
    const { root, offset } = aliasOf(n);
    const input = inputName.get(root.id);
    const at = offset > 0 ? { offset } : {};
    if (input !== undefined) return { kind, slot: externalIds.has(root.id) ? -1 : slot(root), bytes: bytesOf(n), input, ...at };
    const output = root === n ? directOutput.get(n.id) : undefined;
    return { kind, slot: slot(root), bytes: bytesOf(n), ...at, ...(output !== undefined ? { output } : {}) };
  };
  return {
    inputs: g.inputs.map((n) => ({ name: n.attrs.name as string, shape: [...n.type.shape], dtype: n.type.dtype, slot: slot(n), bytes: bytesOf(n), external: externalIds.has(n.id) })),
    outputs: g.outputs.map(([name, n]) => ({ name, shape: [...n.type.shape], dtype: n.type.dtype, slot: externalIds.has(n.id) ? -1 : slot(n), bytes: bytesOf(n), ...(inputName.has(n.id) ? { input: inputName.get(n.id) } : {}) })),
    slots: plan.slots,
    constants: sched.nodes.filter((n) => n.op === 'const' && plan.slotOf.has(n.id)).map((n) => ({ slot: slot(n), shape: [...n.type.shape], dtype: n.type.dtype, values: Array.from(n.attrs.data as Float64Array) })),
    kernels: kernels.map((k) => ({
      label: k.label,
      wgsl: storageLoads ? storageTextureReads(k.wgsl) : k.wgsl,
      groups: k.groups,
      ...(isConstant(k) ? { constant: true } : {}),
      ...(k.copy ? { copy: { texture: texture(k, k.copy.key), from: k.copy.from, width: k.copy.width, bytesPerRow: k.copy.bytesPerRow, regions: k.copy.regions } } : {}),
      bindings: k.bindings.map((b): PlanBinding => {
        switch (b.kind) {
          case 'out':
          case 'in':
            return bufferBinding(b.kind, b.node);
          case 'texture':
            return { kind: 'texture', id: texture(k, b.key), access: storageLoads && b.access === 'read' ? 'load' : b.access, width: b.width, height: b.height };
          case 'uniform':
            return { kind: 'uniform', data: Array.from(b.data) };
          case 'scratch':
            return { kind: 'scratch', bytes: b.bytes };
        }
      }),
    })),
    stats: { kernels: kernels.length, distinctShaders: new Set(kernels.flatMap((k) => (k.wgsl ? [k.wgsl] : []))).size, plannedBytes: plan.plannedBytes, naiveBytes: plan.naiveBytes },
    ...(kernels.some((k) => k.wgsl.includes('enable subgroups;')) ? { subgroupSize: target.traits.subgroupSize } : {}),
  };
}
