/**
 * A compiled graph on the WebGPU device: the plan (runtime/plan.ts) instantiated once
 * (runtime/instantiate.ts); each call converts and checks the inputs, binds device tensors
 * directly, records every dispatch into one command encoder and reads back only what is asked.
 */
import type { DType, Graph } from '../compiler/ir';
import type { Grid } from '../compiler/primitive';
import { numel } from '../compiler/ir';
import type { Gpu } from './gpu';
import { DeviceError } from './gpu';
import type { HostTensor } from './host';
import { InputError, checkInput, flattenInputs, fromDeviceBytes, toDeviceBytes } from './host';
import type { DeviceTensor } from './device-tensor';
import { checkDeviceInput, gpuTensor, isDeviceTensor } from './device-tensor';
import type { ExecutablePlan } from './plan';
import { PlanError, makePlan, planTargetOf } from './plan';
import { instantiate } from './instantiate';

export { bytesOf } from './plan';

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
  /** one run timing every kernel (GPU timestamps), slowest first; absent on the cpu backend */
  profile?(inputs: Readonly<Record<string, unknown>>): Promise<{ label: string; ms: number }[]>;
  /** a device tensor on this executable's backend (for state passed to run) */
  deviceTensor(shape: readonly number[], dtype: DType, data?: ArrayLike<number> | HostTensor): DeviceTensor;
  /** the generated kernels, for --dump wgsl */
  readonly kernels: readonly { readonly label: string; readonly wgsl: string; readonly groups: Grid }[];
  readonly plan?: ExecutablePlan;
  readonly stats: { kernels: number; distinctShaders: number; plannedBytes: number; naiveBytes: number };
  dispose(): void;
}

export interface GraphOptions {
  /** inputs that are always passed as device tensors: they get no buffer of their own */
  readonly external?: (name: string) => boolean;
  /** skip adapter-specific kernels (tests run both paths) */
  readonly portable?: boolean;
  /** a binding limit below the adapter's (see CompileOptions) */
  readonly maxBindingBytes?: number;
  /** external inputs that never change while the same buffer is passed (see CompileOptions) */
  readonly constant?: (name: string) => boolean;
  /** kernel variants by tuning key, instead of the adapter's measured ones (the autotuner's trials) */
  readonly tuned?: (key: string) => string | undefined;
  /** bind read textures as sampled textures even where storage-texture loads are available (tests run both) */
  readonly sampledTextures?: boolean;
}

const pipelineCaches = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

export async function compileGraph(gpu: Gpu, g: Graph, inputs: Executable['inputs'], gopts: GraphOptions = {}): Promise<Executable> {
  const device = gpu.device;
  let plan: ExecutablePlan;
  try {
    plan = makePlan(planTargetOf(gpu, gopts), g, gopts.external, gopts.constant);
  } catch (e) {
    throw e instanceof PlanError ? new DeviceError(e.message) : e;
  }
  let cache = pipelineCaches.get(device);
  if (!cache) pipelineCaches.set(device, (cache = new Map()));
  const inst = await instantiate(device, plan, () => gpu.takeError(), cache);
  const inputByName = new Map(plan.inputs.map((i) => [i.name, i]));
  const outputByName = new Map(plan.outputs.map((o) => [o.name, o]));
  let disposed = false;
  const bindInputs = (values: Record<string, unknown>) => {
    for (const k of Object.keys(values)) if (!inputByName.has(k)) throw new InputError(`unexpected input '${k}'; expected ${[...inputByName.keys()].join(', ')}`);
    const bound = new Map<string, Uint8Array | GPUBuffer>();
    for (const inp of plan.inputs) {
      if (!(inp.name in values)) throw new InputError(`missing input '${inp.name}' (${inp.dtype}[${inp.shape.join(', ')}])`);
      const v = values[inp.name];
      if (inp.external && !isDeviceTensor(v)) throw new InputError(`input '${inp.name}' must be a device tensor (it was compiled as external)`);
      if (isDeviceTensor(v)) {
        checkDeviceInput(inp.name, v, inp.shape, inp.dtype);
        if (!v.buffer) throw new InputError(`input '${inp.name}' is a cpu tensor, this executable runs on ${gpu.backend}`);
        bound.set(inp.name, v.buffer);
      } else if (inp.slot >= 0) {
        bound.set(inp.name, toDeviceBytes(checkInput(inp.name, v, inp.shape, inp.dtype), inp.dtype));
      }
    }
    return bound;
  };

  return {
    backend: gpu.backend,
    inputs,
    outputs: plan.outputs.map(({ name, shape, dtype }) => ({ name, shape: [...shape], dtype })),
    kernels: plan.kernels,
    plan,
    stats: plan.stats,
    deviceTensor(shape, dtype, data) {
      return gpuTensor(gpu, shape, dtype, data);
    },
    async profile(tree) {
      const bound = bindInputs(flattenInputs(tree));
      return (await inst.profile(bound)).sort((a, b) => b.ms - a.ms);
    },
    async run(tree, options) {
      if (disposed) throw new Error('executable was disposed');
      const values = flattenInputs(tree);
      const bound = bindInputs(values);
      const into = new Map<string, GPUBuffer>();
      for (const [name, t] of Object.entries(options?.into ?? {})) {
        const o = outputByName.get(name);
        if (!o) throw new InputError(`no output named '${name}' to write into`);
        checkDeviceInput(`into.${name}`, t, o.shape, o.dtype);
        if (!t.buffer) throw new InputError(`output '${name}': a cpu tensor cannot receive a ${gpu.backend} result`);
        into.set(name, t.buffer);
      }
      const wanted = plan.outputs.filter((o) => (options?.outputs ? options.outputs.includes(o.name) : !into.has(o.name)));
      const bytes = await inst.run(bound, wanted.map((o) => o.name), into);
      const result: Record<string, HostTensor> = {};
      for (const o of wanted) result[o.name] = { shape: [...o.shape], dtype: o.dtype, data: fromDeviceBytes(bytes.get(o.name)!, numel(o.shape), o.dtype) };
      return result;
    },
    dispose() {
      disposed = true;
      inst.dispose();
    },
  };
}
