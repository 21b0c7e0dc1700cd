/**
 * Gradient checks (as JAX's check_grads): reverse-mode gradients from the VJP rules against
 * central finite differences, both on the float64 reference interpreter; then the same
 * gradient graph on WebGPU against the reference.
 */
import { expect } from 'vitest';
import { numel } from '../../compiler/ir';
import { trace } from '../../compiler/trace';
import type { SpecTree } from '../../compiler/trace';
import { evaluate } from '../../runtime/reference';
import { valueAndGrad } from '../../dsl/grad';
import { Tensor, constant } from '../../dsl/tensor';
import { checkAgainstReference, rng, uniform } from './check';
import type { Gen } from './check';

export interface GradCheckOptions {
  seed?: number;
  gen?: Record<string, Gen> | Gen;
  /** inputs not to differentiate (integer inputs are skipped anyway) */
  skip?: string[];
  /** coordinates sampled per input for finite differences */
  samples?: number;
  eps?: number;
  rtol?: number;
  atol?: number;
  /** also run the gradient graph on WebGPU (default true) */
  device?: boolean;
  deviceTol?: number;
}

/** Turns any output into a scalar with fixed random weights, so every output element matters. */
function scalarised(f: (args: any) => unknown, seed: number) {
  return (args: any) => {
    const out = f(args);
    const leaves: Tensor[] = out instanceof Tensor ? [out] : Object.values(out as Record<string, Tensor>);
    let total: Tensor | undefined;
    leaves.forEach((o, k) => {
      const r = rng(seed + 17 * k);
      const w = constant(Array.from({ length: o.size }, () => r() * 2 - 1), o.shape, o.dtype);
      const term = o.mul(w).sum();
      total = total ? total.add(term) : term;
    });
    return total!;
  };
}

export async function checkGrads(f: (args: any) => unknown, specs: SpecTree, opts: GradCheckOptions = {}) {
  const seed = opts.seed ?? 7;
  const loss = scalarised(f, seed);
  const wrt = (p: string) => !(opts.skip ?? []).includes(p);
  const fTraced = trace(loss, specs);
  const r = rng(seed);
  const values = new Map<string, number[]>();
  for (const i of fTraced.inputs) {
    const g = typeof opts.gen === 'function' ? opts.gen : opts.gen?.[i.name] ?? (i.dtype === 'i32' ? (n: number) => Array(n).fill(0) : uniform(-1.5, 1.5));
    values.set(i.name, g(numel(i.shape), r));
  }
  const gTraced = trace(valueAndGrad(loss, { wrt }), specs);
  const analytic = evaluate(gTraced.graph, values);
  const f0 = (vals: Map<string, number[]>) => evaluate(fTraced.graph, vals).get('')!.data[0];
  const eps = opts.eps ?? 1e-6;
  const samples = opts.samples ?? 10;
  let checked = 0;
  for (const inp of fTraced.inputs) {
    if (inp.dtype !== 'f32' || !wrt(inp.name)) continue;
    const grad = analytic.get(`flat.${inp.name}`)?.data ?? analytic.get(`grads.${inp.name}`)!.data;
    const n = numel(inp.shape);
    const picks = n <= samples ? [...Array(n).keys()] : Array.from({ length: samples }, (_, k) => Math.floor((k * n) / samples + r() * (n / samples)) % n);
    for (const i of picks) {
      const base = values.get(inp.name)!;
      const plus = [...base];
      const minus = [...base];
      plus[i] += eps;
      minus[i] -= eps;
      const fd = (f0(new Map(values).set(inp.name, plus)) - f0(new Map(values).set(inp.name, minus))) / (2 * eps);
      const an = grad[i];
      const tol = (opts.atol ?? 1e-6) + (opts.rtol ?? 1e-5) * Math.max(Math.abs(fd), Math.abs(an));
      if (!(Math.abs(fd - an) <= tol)) throw new Error(`d loss / d ${inp.name}[${i}]: reverse mode ${an}, finite differences ${fd}`);
      checked++;
    }
  }
  expect(checked).toBeGreaterThan(0);
  if (opts.device !== false) {
    const tol = opts.deviceTol ?? 1e-4;
    await checkAgainstReference(valueAndGrad(loss, { wrt }), specs, { seed, gen: opts.gen, rtol: tol, atol: tol, values: Object.fromEntries(values) });
  }
}
