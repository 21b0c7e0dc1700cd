/**
 * `omni-emotion run <arch>`: one architecture on given weights and inputs, forward and, with
 * `grad`, the gradient of sum(output * cotangent) with respect to every parameter. Files follow
 * ARCHITECTURE.md's stable interface: HF config.json, HF-named weights, safetensors in and out.
 */
import { readJsonConfig } from '../dsl/config';
import { spec, trace } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import { printGraph } from '../compiler/dump';
import type { SpecTree } from '../compiler/trace';
import { paramEntries, paramSpecs } from '../dsl/params';
import { vjp } from '../dsl/grad';
import type { Tensor } from '../dsl/tensor';
import { compile } from '../runtime/compile';
import type { BackendName } from '../runtime/gpu';
import type { HostTensor } from '../runtime/host';
import type { TensorToWrite } from '../runtime/safetensors';
import { openSafetensors, writeSafetensorsAtomic } from '../runtime/safetensors';
import { fmtShape } from '../compiler/ir';
import { architecture, architectureNames } from './registry';
import type { Architecture } from './registry';
import { loadWeights, openCheckpoint, WeightsError } from './weights';
import './architectures';

export class RunError extends Error {
  override name = 'RunError';
}

export interface RunRequest {
  readonly arch: string;
  readonly config: string;
  readonly weights: string;
  readonly inputs: string;
  readonly out: string;
  readonly grad?: boolean;
  readonly backend?: BackendName;
  /** print the optimised IR or the generated kernels */
  readonly dump?: 'ir' | 'wgsl';
  readonly print?: (text: string) => void;
}

export function findArchitecture(name: string): Architecture {
  const a = architecture(name);
  if (!a) throw new RunError(`unknown architecture '${name}'; expected one of ${architectureNames().join(', ')}`);
  return a;
}

function readInputs(path: string, arch: Architecture, config: unknown, withCotangent: boolean) {
  const file = openSafetensors(path);
  try {
    const values: Record<string, HostTensor> = {};
    const decls = arch.inputs(config);
    const known = new Set([...decls.map((d) => d.name), ...(withCotangent ? ['cotangent'] : [])]);
    for (const name of file.tensors.keys()) if (!known.has(name)) throw new RunError(`${path}: unexpected input '${name}'; ${arch.name} takes ${[...known].join(', ')}`);
    for (const d of decls) {
      const e = file.tensors.get(d.name);
      if (!e) throw new RunError(`${path}: missing input '${d.name}' (${d.dtype})`);
      const problem = d.check?.(e.shape);
      if (problem) throw new RunError(`${path}: input '${d.name}' has shape ${fmtShape(e.shape)}: ${problem}`);
      const isInt = d.dtype === 'i32';
      if (isInt !== ['I64', 'I32', 'I16', 'I8', 'U8', 'U32'].includes(e.dtype)) throw new RunError(`${path}: input '${d.name}' is ${e.dtype}, expected ${isInt ? 'an integer type (I32/I64)' : 'a float type (F32/F16/BF16)'}`);
      values[d.name] = { shape: e.shape, dtype: d.dtype, data: file.read(d.name) as HostTensor['data'] };
    }
    let cotangent: HostTensor | undefined;
    if (withCotangent) {
      const e = file.tensors.get('cotangent');
      if (!e) throw new RunError(`${path}: --grad needs a 'cotangent' tensor with the output's shape`);
      cotangent = { shape: e.shape, dtype: 'f32', data: file.read('cotangent') as Float32Array };
    }
    return { values, cotangent };
  } finally {
    file.close();
  }
}

/** Detects which prefix the weights use, so gradients are written under the same names. */
function weightPrefix(arch: Architecture, config: unknown, path: string): string {
  const ckpt = openCheckpoint(path);
  try {
    const entries = paramEntries(arch.params(config));
    const candidates = ['', ...(arch.weights.prefixes ?? [])];
    return candidates.reduce((best, pre) => (entries.filter(([p]) => ckpt.tensors.has(pre + p)).length > entries.filter(([p]) => ckpt.tensors.has(best + p)).length ? pre : best), '');
  } finally {
    ckpt.close();
  }
}

export async function runArchitecture(req: RunRequest): Promise<Record<string, HostTensor>> {
  const arch = findArchitecture(req.arch);
  const config = await readJsonConfig(arch.config, req.config);
  const tree = arch.params(config);
  const weights = loadWeights(tree, req.weights, arch.weights);
  const prefix = weightPrefix(arch, config, req.weights);
  const { values, cotangent } = readInputs(req.inputs, arch, config, !!req.grad);
  const inputSpecs: Record<string, SpecTree> = {};
  for (const [k, v] of Object.entries(values)) inputSpecs[k] = spec(v.shape, v.dtype);
  const forward = ({ params, inputs }: { params: any; inputs: Record<string, Tensor> }) => arch.forward(config, params, inputs);
  const specs: Record<string, SpecTree> = { params: paramSpecs(tree), inputs: inputSpecs };
  let fn: (a: any) => unknown = forward;
  if (req.grad) {
    specs.cotangent = spec(cotangent!.shape);
    fn = ({ params, inputs, cotangent: ct }: { params: any; inputs: Record<string, Tensor>; cotangent: Tensor }) => {
      const { out, pullback } = vjp(forward, { wrt: (p) => p.startsWith('params.') || (p.startsWith('inputs.') && values[p.slice(7)].dtype === 'f32') })({ params, inputs });
      if (ct.shape.join() !== (out as Tensor).shape.join()) throw new RunError(`${req.inputs}: cotangent has shape ${fmtShape(ct.shape)}, the output ${arch.output} has ${fmtShape((out as Tensor).shape)}`);
      return { out, grads: pullback(ct) };
    };
  }
  const print = req.print ?? ((t: string) => void process.stdout.write(`${t}\n`));
  if (req.dump === 'ir') print(printGraph(optimize(trace(fn, specs).graph)));
  const exe = await compile(fn, specs, { backend: req.backend });
  if (req.dump === 'wgsl') for (const k of exe.kernels) print(`// ---- ${k.label} (${typeof k.groups === 'number' ? k.groups : k.groups.join('x')} workgroups)\n${k.wgsl}\n`);
  const res = await exe.run({ params: weights, inputs: values, ...(cotangent ? { cotangent } : {}) });
  const result: Record<string, HostTensor> = {};
  if (!req.grad) result[arch.output] = res[''];
  else {
    result[arch.output] = res.out;
    for (const [k, v] of Object.entries(res)) {
      if (k.startsWith('grads.params.')) result[`grad.${prefix}${k.slice('grads.params.'.length)}`] = v;
      else if (k.startsWith('grads.inputs.')) result[`grad.${k.slice('grads.inputs.'.length)}`] = v;
    }
  }
  const tensors: Record<string, TensorToWrite> = {};
  for (const [k, v] of Object.entries(result)) tensors[k] = { dtype: 'F32', shape: [...v.shape], data: v.data };
  writeSafetensorsAtomic(req.out, tensors);
  return result;
}

export { WeightsError };
