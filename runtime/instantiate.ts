/**
 * Instantiates an executable plan on a WebGPU device: buffers, constants, scratch textures,
 * uniform blocks, pipelines (with compile errors reported per kernel), and a `run` that records
 * every dispatch into one command encoder, submits once and reads back only what is asked.
 * It depends on nothing of the compiler, so generated inference modules carry this same code.
 */
import type { ExecutablePlan, PlanBinding } from './plan';
import { padTo4, toDeviceBytes } from './bytes';
import type { DType } from '../compiler/ir';
import { awaitGpu } from './poll';
import { contentVersion, contentsChanged, createTrackedBuffer, deviceStats } from './stats';

export interface Instance {
  /** upload bytes (storage layout) or bind a buffer for each input; read back `read`, copy outputs `into` buffers */
  run(inputs: ReadonlyMap<string, Uint8Array | GPUBuffer>, read: readonly string[], into: ReadonlyMap<string, GPUBuffer>): Promise<Map<string, ArrayBuffer>>;
  /** one run with a timestamp around every kernel (needs 'timestamp-query'): milliseconds per kernel */
  profile(inputs: ReadonlyMap<string, Uint8Array | GPUBuffer>): Promise<{ label: string; ms: number }[]>;
  dispose(): void;
}

export class KernelCompileError extends Error {
  override name = 'DeviceError';
}

const layoutCache = new WeakMap<GPUDevice, Map<string, GPUBindGroupLayout>>();

function layoutEntry(b: PlanBinding, i: number): GPUBindGroupLayoutEntry {
  const visibility = GPUShaderStage.COMPUTE;
  switch (b.kind) {
    case 'out':
      return { binding: i, visibility, buffer: { type: 'storage' } };
    case 'in':
      return { binding: i, visibility, buffer: { type: 'read-only-storage' } };
    case 'uniform':
      return { binding: i, visibility, buffer: { type: 'uniform' } };
    case 'scratch':
      return { binding: i, visibility, buffer: { type: 'storage' } };
    case 'texture':
      return b.access === 'read'
        ? { binding: i, visibility, texture: { sampleType: 'unfilterable-float', viewDimension: '2d' } }
        : { binding: i, visibility, storageTexture: { access: b.access === 'load' ? 'read-only' : 'write-only', format: 'rgba32float', viewDimension: '2d' } };
  }
}

function layoutFor(device: GPUDevice, bindings: readonly PlanBinding[]): GPUBindGroupLayout {
  let m = layoutCache.get(device);
  if (!m) layoutCache.set(device, (m = new Map()));
  const key = bindings.map((b) => (b.kind === 'texture' ? `t${b.access}` : b.kind)).join(',');
  let l = m.get(key);
  if (!l) m.set(key, (l = device.createBindGroupLayout({ entries: bindings.map(layoutEntry) })));
  return l;
}

const PIPELINE_CACHE_LIMIT = 2048;

async function pipelineFor(device: GPUDevice, k: ExecutablePlan['kernels'][number], cache: Map<string, GPUComputePipeline>): Promise<GPUComputePipeline | undefined> {
  if (!k.wgsl) return undefined; // a copy only
  const hit = cache.get(k.wgsl);
  if (hit) return hit;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code: k.wgsl, label: k.label });
  const pipeline = device.createComputePipeline({
    label: k.label,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layoutFor(device, k.bindings)] }),
    compute: { module, entryPoint: 'main' },
  });
  const err = await awaitGpu(() => device.popErrorScope());
  if (err) {
    const info = await module.getCompilationInfo();
    const msgs = info.messages.map((mm) => `  line ${mm.lineNum}: ${mm.message}`).join('\n');
    throw new KernelCompileError(`kernel ${k.label} failed to compile: ${err.message}\n${msgs}\n--- WGSL ---\n${k.wgsl}`);
  }
  // bounded: instances hold their own pipelines, the cache only saves recompiling
  if (cache.size >= PIPELINE_CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(k.wgsl, pipeline);
  deviceStats.pipelines = cache.size;
  return pipeline;
}

/** a kernel's bind group (none for a copy-only step) and the resources it was made of */
interface Bound {
  readonly group?: GPUBindGroup;
  readonly entries: readonly { readonly resource: GPUBindingResource }[];
}

const ids = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;
function bufferId(b: GPUBuffer): number {
  let id = ids.get(b);
  if (id === undefined) ids.set(b, (id = nextBufferId++));
  return id;
}

export async function instantiate(device: GPUDevice, plan: ExecutablePlan, takeError: () => Error | undefined, pipelineCache = new Map<string, GPUComputePipeline>()): Promise<Instance> {
  const pipelines = await Promise.all(plan.kernels.map((k) => pipelineFor(device, k, pipelineCache)));
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const buffers = plan.slots.map((size, i) => createTrackedBuffer(device, { size, usage, label: `slot${i}` }));
  for (const c of plan.constants) device.queue.writeBuffer(buffers[c.slot], 0, padTo4(constantBytes(c.values, c.dtype)));
  const textures = new Map<string, GPUTexture>();
  const uniforms: GPUBuffer[] = [];
  // packing kernels write the texture's contents here, then a copy moves them into the texture
  const scratchBytes = Math.max(0, ...plan.kernels.flatMap((k) => k.bindings.flatMap((b) => (b.kind === 'scratch' ? [b.bytes] : []))));
  const scratch = scratchBytes > 0 ? createTrackedBuffer(device, { size: scratchBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, label: 'scratch' }) : undefined;
  const resources = plan.kernels.map((k) =>
    k.bindings.map((b): GPUBindingResource | undefined => {
      if (b.kind === 'texture') {
        let t = textures.get(b.id);
        if (!t) textures.set(b.id, (t = device.createTexture({ size: [b.width, b.height], format: 'rgba32float', usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST, label: b.id })));
        return t.createView();
      }
      if (b.kind === 'uniform') {
        const data = Uint32Array.from(b.data);
        const u = createTrackedBuffer(device, { size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
        device.queue.writeBuffer(u, 0, data);
        uniforms.push(u);
        return { buffer: u };
      }
      if (b.kind === 'scratch') return { buffer: scratch!, offset: 0, size: b.bytes };
      // graph inputs, and outputs written into a caller's buffer, are resolved per call
      return b.input === undefined && b.output === undefined ? { buffer: buffers[b.slot], offset: b.offset ?? 0, size: b.bytes } : undefined;
    }),
  );
  // inputs bound from outside are part of the bind groups: cache them per set of buffers
  const bindGroupCache = new Map<string, Bound[]>();
  const bufferFor = (b: Extract<PlanBinding, { kind: 'in' | 'out' }>, external: ReadonlyMap<string, GPUBuffer>, direct: ReadonlyMap<string, GPUBuffer>): GPUBufferBinding => {
    const given = b.input !== undefined ? external.get(b.input) : b.output !== undefined ? direct.get(b.output) : undefined;
    return { buffer: given ?? buffers[b.slot], offset: b.offset ?? 0, size: b.bytes };
  };
  /** records kernel i's texture copy (its source: the scratch buffer, or its first binding's buffer) */
  const encodeCopy = (encoder: GPUCommandEncoder, i: number, bound: Bound) => {
    const c = plan.kernels[i].copy!;
    const src = c.from === 'scratch' ? { buffer: scratch!, offset: 0 } : (bound.entries[0].resource as GPUBufferBinding);
    const texture = textures.get(c.texture)!;
    for (const r of c.regions) {
      if (r.rows > 0) encoder.copyBufferToTexture({ buffer: src.buffer, offset: (src.offset ?? 0) + r.offset, bytesPerRow: c.bytesPerRow }, { texture, origin: [0, r.y] }, [c.width, r.rows]);
    }
  };
  const bindGroups = (external: ReadonlyMap<string, GPUBuffer>, direct: ReadonlyMap<string, GPUBuffer>) => {
    const key = [...external].map(([n, b]) => `${n}:${bufferId(b)}`).join(',') + '|' + [...direct].map(([n, b]) => `${n}:${bufferId(b)}`).join(',');
    let bg = bindGroupCache.get(key);
    if (!bg) {
      if (bindGroupCache.size > 8) bindGroupCache.delete(bindGroupCache.keys().next().value!);
      bg = plan.kernels.map((k, i) => {
        const entries = k.bindings.map((b, j) => {
          const r = resources[i][j] ?? (b.kind === 'in' || b.kind === 'out' ? bufferFor(b, external, direct) : undefined);
          if (!r || ('buffer' in r && !r.buffer)) throw new Error(`kernel ${k.label}: no buffer bound for input '${(b as { input?: string }).input}'`);
          return { binding: j, resource: r };
        });
        const p = pipelines[i];
        // a copy-only step binds nothing: its source is read from `entries` when it runs
        return { group: p ? device.createBindGroup({ layout: p.getBindGroupLayout(0), entries }) : undefined, entries };
      });
      bindGroupCache.set(key, bg);
    }
    return bg;
  };
  const maxPerDim = device.limits.maxComputeWorkgroupsPerDimension;
  const grids = plan.kernels.map((k): readonly [number, number, number] => {
    if (typeof k.groups !== 'number') return k.groups;
    const x = Math.min(k.groups, maxPerDim);
    return [x, Math.ceil(k.groups / Math.max(1, x)), 1];
  });
  const empty = grids.map(([x, y, z]) => x * y * z === 0);
  const first = takeError();
  if (first) throw first;
  // kernels that repack constant inputs (weights into their matmul's texture layout) run again
  // only when those inputs are bound to other buffers than in the last run
  const constantNames = [...new Set(plan.kernels.filter((k) => k.constant).flatMap((k) => k.bindings.flatMap((b) => (b.kind === 'in' && b.input !== undefined ? [b.input] : []))))];
  let packedFor: string | undefined;
  let spareStaging: GPUBuffer | undefined;
  // the last three waits for the device: the shortest is how long the next is expected to take
  // (unknown for the first three runs, the first of which compiles every shader)
  let recentWaits: number[] = [];
  const expectedWait = () => (recentWaits.length < 3 ? 0 : Math.min(...recentWaits));
  const directOutputs = new Set(plan.kernels.flatMap((k) => k.bindings.flatMap((b) => ((b.kind === 'in' || b.kind === 'out') && b.output !== undefined ? [b.output] : []))));

  return {
    async run(inputs, read, into) {
      const external = new Map<string, GPUBuffer>();
      for (const inp of plan.inputs) {
        const v = inputs.get(inp.name);
        if (v === undefined) continue;
        if (v instanceof Uint8Array) {
          if (inp.slot >= 0) device.queue.writeBuffer(buffers[inp.slot], 0, padTo4(v));
        } else external.set(inp.name, v);
      }
      // an output written into a buffer that is not also read in this run is computed there directly
      const inputBuffers = new Set(external.values());
      const direct = new Map([...into].filter(([name, target]) => directOutputs.has(name) && !inputBuffers.has(target)));
      const groups = bindGroups(external, direct);
      const bufferOf = (t: ExecutablePlan['outputs'][number]) => direct.get(t.name) ?? (t.input !== undefined && external.has(t.input) ? external.get(t.input)! : buffers[t.slot]);
      const constKey = constantNames.map((n) => {
        const b = external.get(n);
        return b ? `${bufferId(b)}.${contentVersion(b)}` : -1;
      }).join(',');
      const packed = constantNames.length > 0 && constKey === packedFor;
      const encoder = device.createCommandEncoder();
      // one compute pass, broken only where a texture copy must run between two dispatches
      let pass: GPUComputePassEncoder | undefined;
      plan.kernels.forEach((k, i) => {
        if (packed && k.constant) return;
        if (!empty[i]) {
          pass ??= encoder.beginComputePass();
          pass.setPipeline(pipelines[i]!);
          pass.setBindGroup(0, groups[i].group!);
          pass.dispatchWorkgroups(...grids[i]);
        }
        if (k.copy) {
          pass?.end();
          pass = undefined;
          encodeCopy(encoder, i, groups[i]);
        }
      });
      pass?.end();
      const byName = new Map(plan.outputs.map((o) => [o.name, o]));
      for (const [name, target] of into) {
        const o = byName.get(name)!;
        const src = bufferOf(o);
        if (o.bytes > 0 && src !== target) encoder.copyBufferToBuffer(src, 0, target, 0, o.bytes);
      }
      // every value read back goes into one staging buffer (one map per run, not one per value;
      // output sizes are multiples of 4), kept for the next run that reads as many bytes
      const at: number[] = [];
      let total = 0;
      for (const name of read) at.push(total), (total += byName.get(name)!.bytes);
      let staging: GPUBuffer | undefined;
      if (read.length > 0) {
        staging = spareStaging?.size === total ? spareStaging : createTrackedBuffer(device, { size: total, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        if (staging === spareStaging) spareStaging = undefined;
        read.forEach((name, i) => {
          const o = byName.get(name)!;
          encoder.copyBufferToBuffer(bufferOf(o), 0, staging!, at[i], o.bytes);
        });
      }
      device.queue.submit([encoder.finish()]);
      for (const target of into.values()) contentsChanged(target);
      const mapped = staging;
      const submitted = performance.now();
      if (!mapped) await awaitGpu(() => device.queue.onSubmittedWorkDone(), expectedWait());
      else await awaitGpu(() => mapped.mapAsync(GPUMapMode.READ), expectedWait());
      recentWaits = [performance.now() - submitted, ...recentWaits.slice(0, 2)];
      const err = takeError();
      if (err) {
        mapped?.destroy();
        throw err;
      }
      packedFor = constKey;
      const out = new Map<string, ArrayBuffer>();
      if (mapped) {
        const range = mapped.getMappedRange();
        read.forEach((name, i) => out.set(name, range.slice(at[i], at[i] + byName.get(name)!.bytes)));
        mapped.unmap();
        if (spareStaging) mapped.destroy();
        else spareStaging = mapped;
      }
      return out;
    },
    async profile(inputs) {
      if (!device.features.has('timestamp-query')) throw new Error("this device has no 'timestamp-query'");
      const external = new Map<string, GPUBuffer>();
      for (const inp of plan.inputs) {
        const v = inputs.get(inp.name);
        if (v instanceof Uint8Array) {
          if (inp.slot >= 0) device.queue.writeBuffer(buffers[inp.slot], 0, padTo4(v));
        } else if (v) external.set(inp.name, v);
      }
      const groups = bindGroups(external, new Map());
      const n = plan.kernels.length;
      const querySet = device.createQuerySet({ type: 'timestamp', count: Math.max(2, 2 * n) });
      const resolve = createTrackedBuffer(device, { size: Math.max(16, 16 * n), usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      const staging = createTrackedBuffer(device, { size: Math.max(16, 16 * n), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const encoder = device.createCommandEncoder();
      plan.kernels.forEach((k, i) => {
        // a kernel's time includes its texture copy: the end stamp is in an empty pass after it
        const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, ...(k.copy ? {} : { endOfPassWriteIndex: 2 * i + 1 }) } });
        if (!empty[i]) {
          pass.setPipeline(pipelines[i]!);
          pass.setBindGroup(0, groups[i].group!);
          pass.dispatchWorkgroups(...grids[i]);
        }
        pass.end();
        if (k.copy) {
          encodeCopy(encoder, i, groups[i]);
          encoder.beginComputePass({ timestampWrites: { querySet, endOfPassWriteIndex: 2 * i + 1 } }).end();
        }
      });
      if (n) encoder.resolveQuerySet(querySet, 0, 2 * n, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, staging, 0, Math.max(16, 16 * n));
      device.queue.submit([encoder.finish()]);
      await awaitGpu(() => staging.mapAsync(GPUMapMode.READ));
      const t = new BigInt64Array(staging.getMappedRange().slice(0));
      staging.unmap();
      for (const b of [staging, resolve]) b.destroy();
      querySet.destroy();
      return plan.kernels.map((k, i) => ({ label: k.label, ms: Number(t[2 * i + 1] - t[2 * i]) / 1e6 }));
    },
    dispose() {
      for (const b of [...buffers, ...uniforms]) b.destroy();
      scratch?.destroy();
      for (const t of textures.values()) t.destroy();
      spareStaging?.destroy();
    },
  };
}

/** Constant values in their storage layout. */
function constantBytes(values: readonly number[], dtype: DType): Uint8Array {
  const host = dtype === 'i32' ? Int32Array.from(values) : dtype === 'u32' ? Uint32Array.from(values) : dtype === 'bool' ? Uint8Array.from(values, (v) => (v ? 1 : 0)) : Float32Array.from(values);
  return toDeviceBytes(host, dtype);
}
