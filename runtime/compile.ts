/**
 * compile(fn, specs): trace, optimise, and build an Executable on the chosen backend
 * (a WebGPU adapter, or `cpu` = the reference interpreter). Executables are cached by the
 * traced graph's text, so compiling the same function for the same shapes twice is free.
 */
import type { Graph } from '../compiler/ir';
import { numel } from '../compiler/ir';
import { trace } from '../compiler/trace';
import type { SpecTree } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import { graphKey } from '../compiler/dump';
import type { BackendName, GpuBackendName } from './gpu';
import { defaultBackend, getGpu } from './gpu';
import type { Executable } from './executable';
import { compileGraph } from './executable';
import { evaluate } from './reference';
import type { HostTensor } from './host';
import { InputError, checkInput, flattenInputs, toHost } from './host';
import { checkDeviceInput, hostTensor, isDeviceTensor } from './device-tensor';
import { autotune } from './autotune';
import { tuneGeneration, tuneMode } from './tune-table';

export interface CompileOptions {
  readonly backend?: BackendName;
  /** sizes of named dims used in the specs */
  readonly dims?: Readonly<Record<string, number>>;
  /** run the simplification passes (default true) */
  readonly optimize?: boolean;
  /** inputs always given as device tensors (weights, optimizer state): no buffer of their own */
  readonly external?: (name: string) => boolean;
  /** use only the kernels meant for any adapter (the adapter-specific ones are skipped) */
  readonly portable?: boolean;
  /** split tensors as if one storage binding held at most this many bytes (below the adapter's
   * own limit; tests use it to split small tensors) */
  readonly maxBindingBytes?: number;
  /** external inputs whose contents never change while the same device tensor is passed
   * (inference weights): their repacking into kernel layouts runs once, not on every call */
  readonly constant?: (name: string) => boolean;
  /** measure the kernel variants this adapter has no measurement for first (runtime/autotune.ts;
   * also on when OMNI_AUTOTUNE=1) */
  readonly tune?: boolean;
}

const cache = new Map<string, Promise<Executable>>();
const CACHE_LIMIT = 256;

/** `fn` receives a tree of tensors shaped like `specs` (annotate its argument to type the shapes). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function compile(fn: (args: any) => unknown, specs: SpecTree, options: CompileOptions = {}): Promise<Executable> {
  const traced = trace(fn, specs, options.dims);
  const graph = options.optimize === false ? traced.graph : optimize(traced.graph);
  const backend = options.backend ?? defaultBackend();
  if (backend !== 'cpu' && !options.portable && options.tune) await autotune(await getGpu(backend as GpuBackendName), graph);
  return compileTraced(graph, traced.inputs, backend, options.external, options.portable, options.maxBindingBytes, options.constant);
}

export async function compileTraced(graph: Graph, inputs: Executable['inputs'], backend: BackendName, external?: (name: string) => boolean, portable = false, maxBindingBytes?: number, constant?: (name: string) => boolean): Promise<Executable> {
  if (backend === 'cpu') return referenceExecutable(graph, inputs);
  if (!portable && tuneMode() === 'measure') await autotune(await getGpu(backend as GpuBackendName), graph, { log: (l) => process.stderr.write(`${l}\n`) });
  const ext = external ? inputs.filter((i) => external(i.name)).map((i) => i.name) : [];
  const fixed = constant ? ext.filter((n) => constant(n)) : [];
  // a new measurement may change the kernels of a graph compiled before
  const key = `${backend}${portable ? ' portable' : ''} ${maxBindingBytes ?? ''} tuned ${tuneGeneration()}\n${ext.join(',')}\n${fixed.join(',')}\n${graphKey(graph)}`;
  let hit = cache.get(key);
  if (!hit) {
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    hit = getGpu(backend as GpuBackendName).then((gpu) => compileGraph(gpu, graph, inputs, { external, portable, maxBindingBytes, constant }));
    hit.catch(() => cache.delete(key));
    cache.set(key, hit);
  }
  return hit;
}

export function referenceExecutable(graph: Graph, inputs: Executable['inputs']): Executable {
  const outputs = graph.outputs.map(([name, n]) => ({ name, shape: [...n.type.shape], dtype: n.type.dtype }));
  return {
    backend: 'cpu',
    inputs,
    outputs,
    kernels: [],
    stats: { kernels: 0, distinctShaders: 0, plannedBytes: 0, naiveBytes: 0 },
    deviceTensor(shape, dtype, data) {
      return hostTensor(shape, dtype, data);
    },
    async run(tree, options) {
      const values = flattenInputs(tree);
      const bound = new Map<string, ArrayLike<number>>();
      for (const i of inputs) {
        if (!(i.name in values)) throw new InputError(`missing input '${i.name}' (${i.dtype}[${i.shape.join(', ')}])`);
        const v = values[i.name];
        if (isDeviceTensor(v)) checkDeviceInput(i.name, v, i.shape, i.dtype);
        bound.set(i.name, isDeviceTensor(v) ? v.host! : checkInput(i.name, v, i.shape, i.dtype));
      }
      const res = evaluate(graph, bound);
      const into = options?.into ?? {};
      const out: Record<string, HostTensor> = {};
      for (const o of outputs) {
        const t = toHost(res.get(o.name)!.data, o.shape, o.dtype);
        if (into[o.name]) into[o.name].write(t);
        if (options?.outputs ? options.outputs.includes(o.name) : !(o.name in into)) out[o.name] = t;
      }
      void numel;
      return out;
    },
    dispose() {},
  };
}
