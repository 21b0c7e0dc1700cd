/**
 * A compiled graph on the WebGPU device: pipelines, bind groups and buffers are made once;
 * each call writes the inputs, records every dispatch into one command encoder, submits once
 * and reads back only the outputs asked for.
 */
import type { DType, Graph, Node } from '../compiler/ir';
import { numel } from '../compiler/ir';
import { schedule } from '../compiler/codegen/schedule';
import { emitKernels } from '../compiler/codegen/emit';
import type { Binding, EmittedKernel } from '../compiler/codegen/emit';
import { byteSize } from '../compiler/dtype';
import type { Gpu } from './gpu';
import { DeviceError } from './gpu';
import { awaitGpu } from './poll';
import { createTrackedBuffer, deviceStats } from './stats';
import type { HostData, HostTensor } from './host';
import { InputError, checkInput, flattenInputs, fromDeviceBytes, toDeviceBytes } from './host';
import { planBuffers } from './memory';
import { PORTABLE_DEVICE } from '../compiler/primitive';
import type { DeviceTensor } from './device-tensor';
import { bufferId, checkDeviceInput, gpuTensor, isDeviceTensor, padTo4 } from './device-tensor';

export interface RunOptions {
  /** output names to read back (default: every output not written `into` a device tensor) */
  readonly outputs?: readonly string[];
  /** outputs written into device tensors (which may also be this call's inputs: state updated in place) */
  readonly into?: Readonly<Record<string, DeviceTensor>>;
}

export interface Executable {
  readonly backend: string;
  readonly inputs: readonly { name: string; shape: number[]; dtype: DType }[];
  readonly outputs: readonly { name: string; shape: number[]; dtype: DType }[];
  run(inputs: Readonly<Record<string, unknown>>, options?: RunOptions): Promise<Record<string, HostTensor>>;
  /** a device tensor on this executable's backend (for state passed to run) */
  deviceTensor(shape: readonly number[], dtype: DType, data?: ArrayLike<number> | HostTensor): DeviceTensor;
  /** the generated kernels, for --dump wgsl */
  readonly kernels: readonly EmittedKernel[];
  readonly stats: { kernels: number; distinctShaders: number; plannedBytes: number; naiveBytes: number };
  dispose(): void;
}

/** Pipelines by WGSL source, shared by every executable on the device. */
const pipelineCache = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();
const PIPELINE_CACHE_LIMIT = 2048;
const layoutCache = new WeakMap<GPUDevice, Map<string, GPUBindGroupLayout>>();

function layoutEntry(b: Binding, i: number): GPUBindGroupLayoutEntry {
  const visibility = GPUShaderStage.COMPUTE;
  switch (b.kind) {
    case 'out':
      return { binding: i, visibility, buffer: { type: 'storage' } };
    case 'in':
      return { binding: i, visibility, buffer: { type: 'read-only-storage' } };
    case 'uniform':
      return { binding: i, visibility, buffer: { type: 'uniform' } };
    case 'texture':
      return b.access === 'read'
        ? { binding: i, visibility, texture: { sampleType: 'unfilterable-float', viewDimension: '2d' } }
        : { binding: i, visibility, storageTexture: { access: 'write-only', format: 'rgba32float', viewDimension: '2d' } };
  }
}

function layoutFor(device: GPUDevice, bindings: readonly Binding[]): GPUBindGroupLayout {
  let m = layoutCache.get(device);
  if (!m) layoutCache.set(device, (m = new Map()));
  const key = bindings.map((b) => (b.kind === 'texture' ? `t${b.access}` : b.kind)).join(',');
  let l = m.get(key);
  if (!l) {
    l = device.createBindGroupLayout({ entries: bindings.map(layoutEntry) });
    m.set(key, l);
  }
  return l;
}

export async function pipelineFor(gpu: Gpu, k: EmittedKernel): Promise<GPUComputePipeline> {
  const device = gpu.device;
  let m = pipelineCache.get(device);
  if (!m) pipelineCache.set(device, (m = new Map()));
  const hit = m.get(k.wgsl);
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
    throw new DeviceError(`kernel ${k.label} failed to compile: ${err.message}\n${msgs}\n--- WGSL ---\n${k.wgsl}`);
  }
  // bounded: executables hold their own pipelines, the cache only saves recompiling
  if (m.size >= PIPELINE_CACHE_LIMIT) m.delete(m.keys().next().value!);
  m.set(k.wgsl, pipeline);
  deviceStats.pipelines = m.size;
  return pipeline;
}

const align4 = (n: number) => Math.max(4, Math.ceil(n / 4) * 4);
export const bytesOf = (n: Node) => align4(numel(n.type.shape) * byteSize(n.type.dtype));

export interface GraphOptions {
  /** inputs that are always passed as device tensors: they get no buffer of their own */
  readonly external?: (name: string) => boolean;
  /** skip adapter-specific kernels (tests run both paths) */
  readonly portable?: boolean;
}

export async function compileGraph(gpu: Gpu, g: Graph, inputs: Executable['inputs'], gopts: GraphOptions = {}): Promise<Executable> {
  const device = gpu.device;
  const maxInputs = Math.max(1, Math.min(15, (gpu.limits.maxStorageBuffersPerShaderStage ?? 8) - 1));
  const sched = schedule(g, maxInputs);
  const kernels = sched.kernels.flatMap((n) => emitKernels(n, sched.materialised, gpu.features, gopts.portable ? PORTABLE_DEVICE : gpu.traits));
  const maxBinding = gpu.limits.maxStorageBufferBindingSize;
  for (const k of [...kernels.filter((kk) => kk.writesOutput).map((kk) => kk.node), ...kernels.flatMap((kk) => kk.reads)]) {
    if (bytesOf(k) > maxBinding) throw new DeviceError(`tensor ${k.op}#${k.id} needs ${bytesOf(k)} bytes, above this adapter's binding limit ${maxBinding} (splitting is not implemented yet)`);
  }
  const pipelines = await Promise.all(kernels.map((k) => pipelineFor(gpu, k)));

  // buffers: inputs and constants get their own; intermediates share by liveness
  const inputNodes = g.inputs;
  const externalIds = new Set(inputNodes.filter((n) => gopts.external?.(n.attrs.name as string)).map((n) => n.id));
  const plan = planBuffers(kernels, inputNodes, g.outputs.map(([, n]) => n), bytesOf, externalIds);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const buffers = plan.slots.map((size, i) => createTrackedBuffer(device, { size, usage, label: `slot${i}` }));
  const bufferOf = (n: Node): GPUBuffer => {
    const slot = plan.slotOf.get(n.id);
    if (slot === undefined) throw new Error(`no buffer planned for ${n.op}#${n.id}`);
    return buffers[slot];
  };
  // constants are written once
  for (const n of sched.nodes) {
    if (n.op === 'const' && plan.slotOf.has(n.id)) {
      const bytes = toDeviceBytes(checkInput(`const#${n.id}`, Array.from(n.attrs.data as Float64Array), n.type.shape, n.type.dtype), n.type.dtype);
      device.queue.writeBuffer(bufferOf(n), 0, padTo4(bytes));
    }
  }
  // inputs given as device tensors are bound directly; bind groups are cached per set of them
  // scratch textures (operands in the layout a kernel wants) and small uniform blocks
  const textures = new Map<string, GPUTexture>();
  const textureFor = (k: EmittedKernel, b: Extract<Binding, { kind: 'texture' }>) => {
    const key = `${k.node.id}:${b.key}`;
    let t = textures.get(key);
    if (!t) {
      t = device.createTexture({ size: [b.width, b.height], format: 'rgba32float', usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING, label: key });
      textures.set(key, t);
    }
    return t;
  };
  const uniforms = new Map<Uint32Array, GPUBuffer>();
  const uniformFor = (data: Uint32Array) => {
    let u = uniforms.get(data);
    if (!u) {
      u = createTrackedBuffer(device, { size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(u, 0, data);
      uniforms.set(data, u);
    }
    return u;
  };
  // inputs given as device tensors are bound directly; bind groups are cached per set of them
  const makeBindGroups = (external: ReadonlyMap<number, GPUBuffer>) =>
    kernels.map((k, i) =>
      device.createBindGroup({
        layout: pipelines[i].getBindGroupLayout(0),
        entries: k.bindings.map((b, j): GPUBindGroupEntry => {
          switch (b.kind) {
            case 'out':
              return { binding: j, resource: { buffer: external.get(k.node.id) ?? bufferOf(k.node), size: bytesOf(k.node) } };
            case 'in':
              return { binding: j, resource: { buffer: external.get(b.node.id) ?? bufferOf(b.node), size: bytesOf(b.node) } };
            case 'uniform':
              return { binding: j, resource: { buffer: uniformFor(b.data) } };
            case 'texture':
              return { binding: j, resource: textureFor(k, b).createView() };
          }
        }),
      }),
    );
  const bindGroupCache = new Map<string, GPUBindGroup[]>();
  const maxPerDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  const grids = kernels.map((k) => {
    const x = Math.min(k.groups, maxPerDim);
    return [x, Math.ceil(k.groups / x)] as const;
  });
  const outputs = g.outputs.map(([name, n]) => ({ name, shape: [...n.type.shape], dtype: n.type.dtype, node: n }));
  const inputByName = new Map(inputNodes.map((n) => [n.attrs.name as string, n]));
  const err0 = gpu.takeError();
  if (err0) throw err0;
  let disposed = false;

  return {
    backend: gpu.backend,
    inputs,
    outputs: outputs.map(({ name, shape, dtype }) => ({ name, shape, dtype })),
    kernels,
    stats: { kernels: kernels.length, distinctShaders: new Set(kernels.map((k) => k.wgsl)).size, plannedBytes: plan.plannedBytes, naiveBytes: plan.naiveBytes },
    deviceTensor(shape, dtype, data) {
      return gpuTensor(gpu, shape, dtype, data);
    },
    async run(tree, options) {
      if (disposed) throw new Error('executable was disposed');
      const values = flattenInputs(tree);
      const external = new Map<number, GPUBuffer>();
      for (const [name, n] of inputByName) {
        if (!(name in values)) throw new InputError(`missing input '${name}' (${n.type.dtype}[${n.type.shape.join(', ')}])`);
        const v = values[name];
        if (externalIds.has(n.id) && !isDeviceTensor(v)) throw new InputError(`input '${name}' must be a device tensor (it was compiled as external)`);
        if (!plan.slotOf.has(n.id) && !externalIds.has(n.id)) continue;
        if (isDeviceTensor(v)) {
          checkDeviceInput(name, v, n.type.shape, n.type.dtype);
          if (!v.buffer) throw new InputError(`input '${name}' is a cpu tensor, this executable runs on ${gpu.backend}`);
          external.set(n.id, v.buffer);
          continue;
        }
        const host = checkInput(name, v, n.type.shape, n.type.dtype);
        device.queue.writeBuffer(bufferOf(n), 0, padTo4(toDeviceBytes(host, n.type.dtype)));
      }
      const key = [...external].map(([id, b]) => `${id}:${bufferId(b)}`).join(',');
      let bindGroups = bindGroupCache.get(key);
      if (!bindGroups) {
        if (bindGroupCache.size > 8) bindGroupCache.delete(bindGroupCache.keys().next().value!);
        bindGroups = makeBindGroups(external);
        bindGroupCache.set(key, bindGroups);
      }
      const slotBuffer = (n: Node) => external.get(n.id) ?? bufferOf(n);
      for (const k of Object.keys(values)) if (!inputByName.has(k)) throw new InputError(`unexpected input '${k}'; expected ${[...inputByName.keys()].join(', ')}`);
      const encoder = device.createCommandEncoder();
      if (kernels.length) {
        const pass = encoder.beginComputePass();
        kernels.forEach((k, i) => {
          if (k.groups === 0) return;
          pass.setPipeline(pipelines[i]);
          pass.setBindGroup(0, bindGroups[i]);
          pass.dispatchWorkgroups(grids[i][0], grids[i][1]);
        });
        pass.end();
      }
      const into = options?.into ?? {};
      for (const [name, t] of Object.entries(into)) {
        const o = outputs.find((oo) => oo.name === name);
        if (!o) throw new InputError(`no output named '${name}' to write into`);
        checkDeviceInput(`into.${name}`, t, o.shape, o.dtype);
        if (!t.buffer) throw new InputError(`output '${name}': a cpu tensor cannot receive a ${gpu.backend} result`);
        if (numel(o.shape) > 0 && slotBuffer(o.node) !== t.buffer) encoder.copyBufferToBuffer(slotBuffer(o.node), 0, t.buffer, 0, bytesOf(o.node));
      }
      const wanted = outputs.filter((o) => (options?.outputs ? options.outputs.includes(o.name) : !(o.name in into)));
      const staging = wanted.map((o) => {
        const size = bytesOf(o.node);
        const s = createTrackedBuffer(device, { size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        if (numel(o.shape) > 0) encoder.copyBufferToBuffer(slotBuffer(o.node), 0, s, 0, size);
        return s;
      });
      device.queue.submit([encoder.finish()]);
      if (staging.length === 0) {
        await awaitGpu(() => device.queue.onSubmittedWorkDone());
        const e = gpu.takeError();
        if (e) throw e;
        return {};
      }
      await awaitGpu(() => Promise.all(staging.map((s) => s.mapAsync(GPUMapMode.READ))));
      const err = gpu.takeError();
      if (err) throw err;
      const result: Record<string, HostTensor> = {};
      wanted.forEach((o, i) => {
        const data: HostData = fromDeviceBytes(staging[i].getMappedRange().slice(0), numel(o.shape), o.dtype);
        staging[i].unmap();
        staging[i].destroy();
        result[o.name] = { shape: o.shape, dtype: o.dtype, data };
      });
      return result;
    },
    dispose() {
      disposed = true;
      for (const b of buffers) b.destroy();
      for (const t of textures.values()) t.destroy();
      for (const u of uniforms.values()) u.destroy();
    },
  };
}


