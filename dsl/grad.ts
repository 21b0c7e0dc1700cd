/**
 * Function transforms: grad, valueAndGrad, vjp and jvp take a traced function and return
 * another one, which compiles like any other (its backward pass is generated WGSL too).
 * Arguments are trees of tensors; gradients come back as trees of the selected leaves.
 */
import { backprop, checkpoint, GradError } from '../compiler/autodiff';
import { isFloat } from '../compiler/ir';
import { Tensor, full } from './tensor';

export { stopGradient } from './tensor';
export { GradError, checkpoint };

type Tree = unknown;
/** which argument leaves to differentiate by: a path predicate, a list of path prefixes, or all float leaves */
export type Wrt = ((path: string) => boolean) | readonly string[];

function tensorLeaves(tree: Tree, prefix = ''): [string, Tensor][] {
  if (tree instanceof Tensor) return [[prefix, tree]];
  if (Array.isArray(tree)) return tree.flatMap((v, i) => tensorLeaves(v, prefix ? `${prefix}.${i}` : `${i}`));
  if (tree !== null && typeof tree === 'object') return Object.entries(tree).flatMap(([k, v]) => tensorLeaves(v, prefix ? `${prefix}.${k}` : k));
  return [];
}

function selector(wrt?: Wrt): (path: string) => boolean {
  if (!wrt) return () => true;
  if (typeof wrt === 'function') return wrt;
  return (p) => wrt.some((w) => p === w || p.startsWith(`${w}.`));
}

/** Builds a tree from dotted paths (numeric segments still become object keys). */
export function treeFromPaths<T>(entries: readonly [string, T][]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [path, v] of entries) {
    const parts = path.split('.');
    let node = root;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]] = v;
  }
  return root;
}

function scalarOut(f: (args: never) => unknown, args: Tree): Tensor {
  const out = f(args as never);
  if (!(out instanceof Tensor)) throw new GradError('grad: the function must return one tensor (use vjp for several outputs)');
  if (out.size !== 1) throw new GradError(`grad: the function must return a scalar, got shape [${out.shape}] (use vjp)`);
  if (!isFloat(out.dtype)) throw new GradError(`grad: the output must be a float, got ${out.dtype}`);
  return out;
}

export interface ValueAndGrad {
  value: Tensor;
  /** gradients as a tree of the selected argument leaves */
  grads: Record<string, unknown>;
  /** the same gradients by dotted path */
  flat: Record<string, Tensor>;
}

export function valueAndGrad<A>(f: (args: A) => Tensor, opts: { wrt?: Wrt } = {}): (args: A) => ValueAndGrad {
  const pick = selector(opts.wrt);
  return (args) => {
    const value = scalarOut(f as never, args);
    const leaves = tensorLeaves(args).filter(([p, t]) => pick(p) && isFloat(t.dtype));
    const { outputs, grads } = backprop([value], [full(value.shape, 1, value.dtype)], leaves.map(([, t]) => t));
    const flat = Object.fromEntries(leaves.map(([p], i) => [p, grads[i]]));
    return { value: outputs[0], grads: treeFromPaths(Object.entries(flat)), flat };
  };
}

export function grad<A>(f: (args: A) => Tensor, opts: { wrt?: Wrt } = {}): (args: A) => Record<string, unknown> {
  const vg = valueAndGrad(f, opts);
  return (args) => vg(args).grads;
}

/** vjp(f)(args) -> outputs and a pullback from output cotangents (same tree) to argument cotangents. */
export function vjp<A>(f: (args: A) => unknown, opts: { wrt?: Wrt } = {}) {
  const pick = selector(opts.wrt);
  return (args: A) => {
    const out = f(args);
    const outLeaves = tensorLeaves(out);
    const inLeaves = tensorLeaves(args).filter(([p, t]) => pick(p) && isFloat(t.dtype));
    return {
      out,
      pullback(cotangents: unknown): Record<string, unknown> {
        const ctLeaves = new Map(tensorLeaves(cotangents));
        const cts = outLeaves.map(([p, o]) => {
          const c = ctLeaves.get(p);
          if (!c) throw new GradError(`vjp: no cotangent for output '${p || '<root>'}'`);
          if (c.shape.join() !== o.shape.join()) throw new GradError(`vjp: cotangent for '${p || '<root>'}' has shape [${c.shape}], the output [${o.shape}]`);
          return c;
        });
        const { grads } = backprop(outLeaves.map(([, o]) => o), cts, inLeaves.map(([, t]) => t));
        return treeFromPaths(inLeaves.map(([p], i) => [p, grads[i]]));
      },
    };
  };
}

/**
 * Forward mode: jvp(f)(primals, tangents) -> { out, tangent }, for f with one tensor output.
 * Computed as the transpose of the (linear) pullback: d/du <vjp(u), t>, so every primitive
 * with a VJP rule gets a JVP without a second rule table.
 */
export function jvp<A>(f: (args: A) => Tensor) {
  return (primals: A, tangents: Record<string, Tensor>) => {
    const out = f(primals);
    const inLeaves = tensorLeaves(primals).filter(([p]) => p in tangents);
    const u = full(out.shape, 0, out.dtype);
    const { grads } = backprop([out], [u], inLeaves.map(([, t]) => t));
    const lin = grads.map((g, i) => ({ g, t: tangents[inLeaves[i][0]] }));
    const { grads: [tangent] } = backprop(
      lin.map(({ g }) => g),
      lin.map(({ t }) => t),
      [u],
    );
    return { out, tangent };
  };
}
