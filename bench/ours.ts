/**
 * Our contestant: a compiled function whose inputs are device tensors, run with its output
 * written `into` a device tensor. `exe.run` records every dispatch into one command encoder,
 * submits once and awaits `queue.onSubmittedWorkDone()` (through the tamed poller): op +
 * submit + wait, no readback.
 */
import type { DType } from '../compiler/ir';
import { spec, trace } from '../compiler/trace';
import type { SpecTree } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import { compileGraph } from '../runtime/executable';
import type { Executable } from '../runtime/executable';
import { getGpu } from '../runtime/gpu';
import type { DeviceTensor } from '../runtime/device-tensor';
import type { Case } from './types';

export interface Input {
  readonly shape: number[];
  readonly data: ArrayLike<number>;
  readonly dtype?: DType;
}

/**
 * compile() without its cache of executables: the same trace, passes and executable, but each
 * call builds anew (the compile row times exactly that) and a bench may dispose what it built.
 * Every input is compiled as external (always a device tensor, bound directly, no buffer of its
 * own), which is how the bench calls it. `constant` inputs are weights as a loaded model holds
 * them: packed into their kernels' layout once, and again only when their contents change.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function compileFresh(fn: (args: any) => unknown, specs: SpecTree, constant?: (name: string) => boolean): Promise<Executable> {
  const traced = trace(fn, specs);
  return compileGraph(await getGpu(), optimize(traced.graph), traced.inputs, { external: () => true, constant });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function oursCase(fn: (args: any) => unknown, inputs: Record<string, Input>, note?: string, constant?: (name: string) => boolean): Promise<Case> {
  const specs: Record<string, SpecTree> = {};
  for (const [name, i] of Object.entries(inputs)) specs[name] = spec(i.shape, i.dtype ?? 'f32');
  const exe = await compileFresh(fn, specs, constant);
  if (exe.outputs.length !== 1) throw new Error(`a bench function has one output, this one has ${exe.outputs.length}`);
  const o = exe.outputs[0];
  const args: Record<string, DeviceTensor> = {};
  for (const [name, i] of Object.entries(inputs)) args[name] = exe.deviceTensor(i.shape, i.dtype ?? 'f32', i.data);
  const out = exe.deviceTensor(o.shape, o.dtype);
  return {
    note,
    async run() {
      await exe.run(args, { into: { [o.name]: out } });
    },
    async read() {
      return Float32Array.from((await out.read()).data as ArrayLike<number>);
    },
    dispose() {
      for (const t of Object.values(args)) t.dispose();
      out.dispose();
      exe.dispose();
    },
  };
}
