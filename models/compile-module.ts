/**
 * `omni-emotion compile <arch> --config C.json --inputs I.safetensors --out DIR`: compiles an
 * architecture for the shapes of an example inputs file and writes a stand-alone inference
 * module (compiler/emit-module/generate.ts) with the same file conventions as `run`.
 */
import { readJsonConfig } from '../dsl/config';
import { spec, trace } from '../compiler/trace';
import type { SpecTree } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import { paramEntries, paramSpecs } from '../dsl/params';
import type { Tensor } from '../dsl/tensor';
import { makePlan, planTargetOf } from '../runtime/plan';
import { getGpu } from '../runtime/gpu';
import type { GpuBackendName } from '../runtime/gpu';
import { openSafetensors } from '../runtime/safetensors';
import { writeInferenceModule } from '../compiler/emit-module/generate';
import { RunError, findArchitecture } from './run';

export interface CompileRequest {
  readonly arch: string;
  readonly config: string;
  readonly inputs: string;
  readonly out: string;
  /** kernels for any adapter instead of this adapter's fastest */
  readonly portable?: boolean;
  readonly backend?: GpuBackendName;
}

export async function compileModule(req: CompileRequest): Promise<string[]> {
  const arch = findArchitecture(req.arch);
  const config = await readJsonConfig(arch.config, req.config);
  const tree = arch.params(config);
  const file = openSafetensors(req.inputs);
  const inputSpecs: Record<string, SpecTree> = {};
  try {
    for (const d of arch.inputs(config)) {
      const e = file.tensors.get(d.name);
      if (!e) throw new RunError(`${req.inputs}: missing input '${d.name}' (its shape fixes the compiled module's)`);
      const problem = d.check?.(e.shape);
      if (problem) throw new RunError(`${req.inputs}: input '${d.name}' has shape [${e.shape}]: ${problem}`);
      inputSpecs[d.name] = spec(e.shape, d.dtype);
    }
  } finally {
    file.close();
  }
  const forward = ({ params, inputs }: { params: any; inputs: Record<string, Tensor> }) => arch.forward(config, params, inputs);
  const graph = optimize(trace(forward, { params: paramSpecs(tree), inputs: inputSpecs }).graph);
  const gpu = await getGpu(req.backend);
  const plan = makePlan(planTargetOf(gpu, { portable: req.portable }), graph);
  const prefixes = ['', ...(arch.weights.prefixes ?? [])];
  return writeInferenceModule(req.out, {
    arch: arch.name,
    plan,
    weights: paramEntries(tree).map(([p]) => ({ input: `params.${p}`, names: prefixes.map((pre) => pre + p) })),
    tensors: Object.keys(inputSpecs).map((name) => ({ input: `inputs.${name}`, name })),
    outputs: [{ plan: '', name: arch.output }],
  });
}
