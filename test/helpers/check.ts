/**
 * The one oracle helper: runs a traced function on the WebGPU backend and on the reference
 * interpreter (float64, unoptimised graph) and compares every output.
 */
import { expect } from 'vitest';
import type { DType } from '../../compiler/ir';
import { numel } from '../../compiler/ir';
import { trace } from '../../compiler/trace';
import type { SpecTree } from '../../compiler/trace';
import { optimize } from '../../compiler/passes';
import { compileTraced } from '../../runtime/compile';
import { evaluate } from '../../runtime/reference';
import type { HostTensor } from '../../runtime/host';
import type { BackendName, GpuBackendName } from '../../runtime/gpu';
import { getGpu } from '../../runtime/gpu';
import { compileGraph } from '../../runtime/executable';

export const BACKEND: BackendName = (process.env.OMNI_TEST_BACKEND as BackendName) || 'vulkan';

/** Small deterministic PRNG for test data (mulberry32). */
export function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Gen = (n: number, r: () => number) => number[];
export const uniform = (lo: number, hi: number): Gen => (n, r) => Array.from({ length: n }, () => lo + (hi - lo) * r());
export const ints = (lo: number, hi: number): Gen => (n, r) => Array.from({ length: n }, () => lo + Math.floor((hi - lo) * r()));
const defaultGen = (d: DType): Gen => (d === 'bool' ? ints(0, 2) : d === 'i32' ? ints(-50, 50) : d === 'u32' ? ints(0, 100) : uniform(-2, 2));

export interface CheckOptions {
  rtol?: number;
  atol?: number;
  seed?: number;
  gen?: Record<string, Gen> | Gen;
  values?: Record<string, number[]>;
  dims?: Record<string, number>;
  /** only the kernels meant for any adapter */
  portable?: boolean;
  /** split tensors as if a storage binding held at most this many bytes */
  maxBindingBytes?: number;
  /** read textures as sampled textures even where the device loads storage textures */
  sampledTextures?: boolean;
}

export async function checkAgainstReference(fn: (args: any) => unknown, specs: SpecTree, opts: CheckOptions = {}): Promise<Record<string, HostTensor>> {
  const traced = trace(fn, specs, opts.dims);
  const r = rng(opts.seed ?? 1234);
  const values: Record<string, number[]> = {};
  for (const i of traced.inputs) {
    const g = typeof opts.gen === 'function' ? opts.gen : opts.gen?.[i.name] ?? defaultGen(i.dtype);
    values[i.name] = opts.values?.[i.name] ?? g(numel(i.shape), r);
  }
  const ref = evaluate(traced.graph, new Map(Object.entries(values)));
  const exe = opts.sampledTextures
    ? await compileGraph(await getGpu(BACKEND as GpuBackendName), optimize(traced.graph), traced.inputs, { portable: opts.portable, maxBindingBytes: opts.maxBindingBytes, sampledTextures: true })
    : await compileTraced(optimize(traced.graph), traced.inputs, BACKEND, undefined, opts.portable, opts.maxBindingBytes);
  const got = await exe.run(values);
  for (const [name, node] of traced.graph.outputs) {
    const want = ref.get(name)!;
    const have = got[name];
    expect(have.shape, `shape of output '${name}'`).toEqual([...node.type.shape]);
    expect(have.dtype).toBe(node.type.dtype);
    const f16 = node.type.dtype === 'f16';
    const rtol = opts.rtol ?? (f16 ? 2e-3 : 2e-5);
    const atol = opts.atol ?? (f16 ? 2e-3 : 2e-5);
    assertClose(have.data, want.data, rtol, atol, `output '${name}' (${node.type.dtype}[${node.type.shape}])`);
  }
  return got;
}

export function assertClose(have: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number, what: string) {
  expect(have.length, `${what}: length`).toBe(want.length);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < want.length; i++) {
    const [a, b] = [have[i], want[i]];
    if (Number.isNaN(b) && Number.isNaN(a)) continue;
    if (a === b) continue;
    const err = Math.abs(a - b) - rtol * Math.abs(b);
    if (!(err <= atol) && (worst < 0 || err > worstErr)) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    throw new Error(`${what}: element ${worst} is ${have[worst]}, reference ${want[worst]} (|diff| ${Math.abs(have[worst] - want[worst]).toExponential(2)} > atol ${atol} + rtol ${rtol})`);
  }
}
