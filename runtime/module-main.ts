/**
 * The entry of a generated inference module (compiler/emit-module/generate.ts copies this file,
 * with the runtime files it uses, into the module): opens the device, loads the weights named in
 * model.json, checks the inputs against the compiled shapes and runs the plan.
 * Never imported by the repository itself.
 */
import { create, globals } from 'webgpu';
import { readFileSync } from 'node:fs';
import type { ExecutablePlan } from './plan';
import type { HostData } from './bytes';
import { fromDeviceBytes, toDeviceBytes } from './bytes';
import { awaitGpu } from './poll';
import { deviceRequest } from './device-request';
import { configureVectorWidth } from './vector-width';
import { instantiate } from './instantiate';
import type { StTensor } from './standalone-io';
import { ModuleInputError, readSafetensorsFile, writeSafetensorsF32 } from './standalone-io';
type DType = 'f32' | 'f16' | 'i32' | 'u32' | 'bool';
interface ModuleJson {
  arch: string;
  plan: ExecutablePlan;
  weights: { input: string; names: string[] }[];
  tensors: { input: string; name: string }[];
  outputs: { plan: string; name: string }[];
}
let modelJson: ModuleJson | undefined;
/** model.json beside the module (read on first use) */
function model(): ModuleJson {
  return (modelJson ??= JSON.parse(readFileSync(new URL('./model.json', import.meta.url), 'utf8')) as ModuleJson);
}
/** the instance and adapter must stay reachable while the device is used */
const keepAlive: unknown[] = [];

async function openDevice(): Promise<{ device: GPUDevice; takeError: () => Error | undefined }> {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  // llvmpipe's vector width is its subgroup size: ask for the one the kernels were written for
  const lanes = model().plan.subgroupSize;
  if ((lanes === 8 || lanes === 16) && !process.env.OMNI_VECTOR_WIDTH) process.env.OMNI_VECTOR_WIDTH = String(lanes * 32);
  configureVectorWidth();
  Object.assign(globalThis, globals);
  const gpu = create([`backend=${process.env.OMNI_BACKEND || 'vulkan'}`]) as GPU;
  const adapter = await awaitGpu(() => gpu.requestAdapter());
  if (!adapter) throw new ModuleInputError('no WebGPU adapter (install a Vulkan driver, e.g. Mesa lavapipe)');
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  if (lanes && (info.subgroupMinSize !== lanes || info.subgroupMaxSize !== lanes)) {
    throw new ModuleInputError(`this module's kernels were compiled for subgroups of ${lanes}; the adapter (${info.description || info.device}) has ${info.subgroupMinSize}..${info.subgroupMaxSize}: compile the module on this machine`);
  }
  const device = await awaitGpu(() => adapter.requestDevice(deviceRequest(adapter)));
  keepAlive.push(gpu, adapter, device);
  let first: Error | undefined;
  device.addEventListener('uncapturederror', (ev) => (first ??= new Error((ev as GPUUncapturedErrorEvent).error.message)));
  return { device, takeError: () => { const e = first; first = undefined; return e; } };
}

function tensorBytes(t: StTensor, want: { name: string; shape: readonly number[]; dtype: DType }, what: string): Uint8Array {
  if (t.shape.join() !== want.shape.join()) throw new ModuleInputError(`${what}: shape [${t.shape}], expected [${want.shape}]`);
  const isInt = want.dtype === 'i32' || want.dtype === 'u32';
  if (isInt !== (t.data instanceof Int32Array)) throw new ModuleInputError(`${what}: dtype ${t.dtype}, expected ${isInt ? 'I32 or I64' : 'F32, F16 or BF16'}`);
  return toDeviceBytes(t.data as HostData, want.dtype);
}

/** Loads the weights once; returns a function from an inputs file (or map) to the outputs. */
export async function load(weightsPath: string) {
  const { device, takeError } = await openDevice();
  const inst = await instantiate(device, model().plan, takeError);
  const file = readSafetensorsFile(weightsPath);
  const byInput = new Map(model().plan.inputs.map((i) => [i.name, i]));
  const weights = new Map<string, Uint8Array>();
  const missing: string[] = [];
  for (const w of model().weights) {
    const name = w.names.find((n) => file.has(n));
    if (!name) {
      missing.push(w.names[0]);
      continue;
    }
    weights.set(w.input, tensorBytes(file.get(name)!, byInput.get(w.input)!, `${weightsPath}: tensor '${name}'`));
  }
  if (missing.length) throw new ModuleInputError(`${weightsPath}: missing ${missing.length} tensors: ${missing.join(', ')}`);
  return async function run(inputs: Map<string, StTensor>, label = 'inputs') {
    const known = new Set(model().tensors.map((t) => t.name));
    for (const k of inputs.keys()) if (!known.has(k)) throw new ModuleInputError(`${label}: unexpected input '${k}'; ${model().arch} takes ${[...known].join(', ')}`);
    const bound = new Map<string, Uint8Array | GPUBuffer>(weights);
    for (const t of model().tensors) {
      const want = byInput.get(t.input)!;
      const v = inputs.get(t.name);
      if (!v) throw new ModuleInputError(`${label}: missing input '${t.name}' ${want.dtype}[${want.shape}]`);
      bound.set(t.input, tensorBytes(v, want, `${label}: input '${t.name}'`));
    }
    const raw = await inst.run(bound, model().outputs.map((o) => o.plan), new Map());
    const out = new Map<string, { shape: readonly number[]; data: HostData }>();
    for (const o of model().outputs) {
      const p = model().plan.outputs.find((x) => x.name === o.plan)!;
      out.set(o.name, { shape: p.shape, data: fromDeviceBytes(raw.get(o.plan)!, p.shape.reduce((a, d) => a * d, 1), p.dtype) });
    }
    return out;
  };
}

async function main(argv: string[]): Promise<number> {
  const arg = (k: string) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined; };
  const [weights, inputs, out] = [arg('--weights'), arg('--inputs'), arg('--out')];
  if (!weights || !inputs || !out) {
    process.stderr.write(`usage: node index.js --weights W.safetensors --inputs I.safetensors --out O.safetensors   (${model().arch})\n`);
    return 2;
  }
  try {
    const run = await load(weights);
    const res = await run(readSafetensorsFile(inputs), inputs);
    writeSafetensorsF32(out, res);
    return 0;
  } catch (e) {
    if (e instanceof ModuleInputError) {
      process.stderr.write(`${model().arch}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2)).then((c) => process.exit(c));
