/**
 * Parameters are data: a nested record whose leaves are parameter specs (shape, dtype and an
 * initialiser). The same tree gives the compile-time specs of a model's weights and, through
 * `initParams`, their initial values; dotted paths name them (freezing, LoRA, checkpoints).
 */
import type { DType } from '../compiler/ir';
import { numel } from '../compiler/ir';
import { spec } from '../compiler/trace';
import type { SpecTree } from '../compiler/trace';
import { keyFromSeed, normalAt, randomBits, uniformAt } from '../kernels/rng';
import type { HostTensor } from '../runtime/host';
import { toHost } from '../runtime/host';

export type Init =
  | { readonly kind: 'zeros' }
  | { readonly kind: 'ones' }
  | { readonly kind: 'constant'; readonly value: number }
  | { readonly kind: 'normal'; readonly std: number; readonly mean?: number }
  | { readonly kind: 'uniform'; readonly low: number; readonly high: number }
  | { readonly kind: 'xavier_uniform' | 'xavier_normal'; readonly gain?: number }
  | { readonly kind: 'kaiming_uniform' | 'kaiming_normal'; readonly a?: number; readonly mode?: 'fan_in' | 'fan_out' }
  | { readonly kind: 'truncated_normal'; readonly std: number };

export const init = {
  zeros: (): Init => ({ kind: 'zeros' }),
  ones: (): Init => ({ kind: 'ones' }),
  constant: (value: number): Init => ({ kind: 'constant', value }),
  normal: (std = 1, mean = 0): Init => ({ kind: 'normal', std, mean }),
  uniform: (low = 0, high = 1): Init => ({ kind: 'uniform', low, high }),
  xavierUniform: (gain = 1): Init => ({ kind: 'xavier_uniform', gain }),
  xavierNormal: (gain = 1): Init => ({ kind: 'xavier_normal', gain }),
  /** PyTorch's nn.Linear / nn.Conv default is kaimingUniform(sqrt(5)) */
  kaimingUniform: (a = 0, mode: 'fan_in' | 'fan_out' = 'fan_in'): Init => ({ kind: 'kaiming_uniform', a, mode }),
  kaimingNormal: (a = 0, mode: 'fan_in' | 'fan_out' = 'fan_in'): Init => ({ kind: 'kaiming_normal', a, mode }),
  truncatedNormal: (std = 0.02): Init => ({ kind: 'truncated_normal', std }),
};

export interface ParamSpec<S extends readonly number[] = readonly number[], D extends DType = DType> {
  readonly kind: 'param';
  readonly shape: S;
  readonly dtype: D;
  readonly init: Init;
}

export function param<const S extends readonly number[], D extends DType = 'f32'>(shape: S, initialiser: Init = init.zeros(), dtype: D = 'f32' as D): ParamSpec<S, D> {
  return { kind: 'param', shape, dtype, init: initialiser };
}

/** A nested record or array whose leaves are parameter specs (any object shape: interfaces too). */
export type ParamTree = ParamSpec | object;
export const isParam = (v: unknown): v is ParamSpec => typeof v === 'object' && v !== null && (v as ParamSpec).kind === 'param';

/** The compile-time specs of a parameter tree (same structure). */
export function paramSpecs(tree: ParamTree): SpecTree {
  const go = (v: unknown): unknown =>
    isParam(v) ? spec(v.shape, v.dtype) : Array.isArray(v) ? v.map(go) : Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, go(x)]));
  return go(tree) as SpecTree;
}

/** Leaves with their dotted paths, in a stable order. */
export function paramEntries(tree: ParamTree, prefix = ''): [string, ParamSpec][] {
  if (isParam(tree)) return [[prefix, tree]];
  const entries = Array.isArray(tree) ? tree.map((v, i) => [String(i), v] as const) : Object.entries(tree);
  return entries.flatMap(([k, v]) => paramEntries(v as ParamTree, prefix ? `${prefix}.${k}` : k));
}

export function countParams(tree: ParamTree): number {
  return paramEntries(tree).reduce((a, [, p]) => a + numel(p.shape), 0);
}

/** fan_in / fan_out as PyTorch computes them: weight [out, in, ...kernel]. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) return { fanIn: shape[0] ?? 1, fanOut: shape[0] ?? 1 };
  const rf = numel(shape.slice(2));
  return { fanIn: shape[1] * rf, fanOut: shape[0] * rf };
}

/** Hash of a path, so each parameter has its own stream whatever the tree's order. */
function pathKey(seed: number, path: string): [number, number] {
  let [k0, k1] = keyFromSeed(seed);
  for (let i = 0; i < path.length; i++) {
    k0 = randomBits(k0, k1, path.charCodeAt(i));
    k1 = randomBits(k1, k0, i);
  }
  return [k0, k1];
}

export function initValues(p: ParamSpec, seed: number, path: string): Float64Array {
  const n = numel(p.shape);
  const [k0, k1] = pathKey(seed, path);
  const u = (i: number) => uniformAt(k0, k1, i);
  const g = (i: number) => normalAt(k0, k1, i);
  const { fanIn, fanOut } = fans(p.shape);
  const i0 = p.init;
  const out = new Float64Array(n);
  const fill = (f: (i: number) => number) => {
    for (let i = 0; i < n; i++) out[i] = f(i);
  };
  switch (i0.kind) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'constant':
      out.fill(i0.value);
      break;
    case 'normal':
      fill((i) => (i0.mean ?? 0) + i0.std * g(i));
      break;
    case 'uniform':
      fill((i) => i0.low + (i0.high - i0.low) * u(i));
      break;
    case 'truncated_normal':
      // redraw outside two standard deviations, as timm/PyTorch trunc_normal_ with a=-2std, b=2std
      fill((i) => {
        for (let t = 0; ; t++) {
          const z = normalAt(k0, k1, i + t * n);
          if (Math.abs(z) <= 2) return z * i0.std;
        }
      });
      break;
    case 'xavier_uniform': {
      const b = (i0.gain ?? 1) * Math.sqrt(6 / (fanIn + fanOut));
      fill((i) => -b + 2 * b * u(i));
      break;
    }
    case 'xavier_normal': {
      const s = (i0.gain ?? 1) * Math.sqrt(2 / (fanIn + fanOut));
      fill((i) => s * g(i));
      break;
    }
    case 'kaiming_uniform':
    case 'kaiming_normal': {
      const fan = i0.mode === 'fan_out' ? fanOut : fanIn;
      const gain = Math.sqrt(2 / (1 + (i0.a ?? 0) ** 2));
      const std = gain / Math.sqrt(fan);
      if (i0.kind === 'kaiming_normal') fill((i) => std * g(i));
      else fill((i) => -Math.sqrt(3) * std + 2 * Math.sqrt(3) * std * u(i));
      break;
    }
  }
  return out;
}

/** Initial values of every parameter, by dotted path (deterministic in seed and path). */
export function initParams(tree: ParamTree, seed = 0): Record<string, HostTensor> {
  return Object.fromEntries(paramEntries(tree).map(([path, p]) => [path, toHost(initValues(p, seed, path), p.shape, p.dtype)]));
}
