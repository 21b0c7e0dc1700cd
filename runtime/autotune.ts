/**
 * The autotuner: for every node of a graph whose kernel has several valid variants on this
 * adapter (a primitive's `tuning`, e.g. matmul's texture tiles of 32 or 8 rows against the
 * portable buffer kernel), and that this adapter has no measurement for yet, time each variant
 * on the node alone (random inputs, warm-up runs that include the shader compile, then the median
 * of timed runs: op + submit + wait) and record the fastest in the adapter's table (tune-table.ts),
 * which every later plan on this adapter consults. Without a measurement a kernel takes its
 * fallback, the choice made from the adapter's description.
 */
import type { Graph, Node } from '../compiler/ir';
import { numel, topoSort } from '../compiler/ir';
import { apply, primitive } from '../compiler/primitive';
import type { KernelCtx, TuneSpace } from '../compiler/primitive';
import { spec, trace } from '../compiler/trace';
import { wrap } from '../dsl/tensor';
import type { Tensor } from '../dsl/tensor';
import { compileGraph } from './executable';
import type { Executable } from './executable';
import type { Gpu } from './gpu';
import { planTargetOf } from './plan';
import { loadTable, recordChoice } from './tune-table';

/** a variant must beat the fallback by more than this fraction to be chosen */
const TIE = 0.05;

export interface AutotuneOptions {
  /** timed runs per variant (after two warm-up runs) */
  readonly runs?: number;
  /** progress lines */
  readonly log?: (line: string) => void;
}

/** The tuning spaces of a graph's nodes on this adapter, one per key. */
export function tuningSpaces(gpu: Gpu, graph: Graph): { space: TuneSpace; node: Node }[] {
  const target = planTargetOf(gpu);
  const found = new Map<string, { space: TuneSpace; node: Node }>();
  for (const node of topoSort(graph.outputs.map(([, n]) => n))) {
    const emission = primitive(node.op).emission;
    if (emission.kind !== 'kernel' || !emission.tuning) continue;
    const k: KernelCtx = { out: node.type, inputs: node.inputs.map((i) => i.type), features: target.features, device: target.traits };
    const space = emission.tuning(k, node.attrs);
    if (space && space.candidates.length > 1 && !found.has(space.key)) found.set(space.key, { space, node });
  }
  return [...found.values()];
}

/**
 * Median ms of each variant of `node`, timed round-robin (the machine's speed drifts between
 * runs, so variants timed one after the other would compare different phases of it).
 */
async function timeVariants(gpu: Gpu, node: Node, key: string, variants: readonly string[], runs: number): Promise<Record<string, number>> {
  const specs = Object.fromEntries(node.inputs.map((i, j) => [`in${j}`, spec(i.type.shape, i.type.dtype)]));
  const traced = trace((args: Record<string, Tensor>) => wrap(apply(node.op, node.inputs.map((_, j) => args[`in${j}`].node), node.attrs)), specs);
  const trials: { variant: string; exe: Executable; ms: number[] }[] = [];
  try {
    for (const variant of variants) trials.push({ variant, exe: await compileGraph(gpu, traced.graph, traced.inputs, { external: () => true, tuned: (k) => (k === key ? variant : undefined) }), ms: [] });
    const exe = trials[0].exe;
    const inputs = Object.fromEntries(
      traced.inputs.map((i) => [i.name, exe.deviceTensor(i.shape, i.dtype, Float32Array.from({ length: numel(i.shape) }, () => (i.dtype === 'f32' || i.dtype === 'f16' ? Math.random() - 0.5 : 0)))]),
    );
    const into = Object.fromEntries(exe.outputs.map((o) => [o.name, exe.deviceTensor(o.shape, o.dtype)]));
    try {
      // two warm-up runs each: the first compiles the shaders
      for (const t of trials) for (let i = 0; i < 2; i++) await t.exe.run(inputs, { into });
      for (let i = 0; i < runs; i++)
        for (const t of trials) {
          const t0 = performance.now();
          await t.exe.run(inputs, { into });
          t.ms.push(performance.now() - t0);
        }
    } finally {
      for (const t of [...Object.values(inputs), ...Object.values(into)]) t.dispose();
    }
    return Object.fromEntries(trials.map((t) => [t.variant, t.ms.sort((a, b) => a - b)[t.ms.length >> 1]]));
  } finally {
    for (const t of trials) t.exe.dispose();
  }
}

/** Measures the variants of every tuning space of `graph` not measured on this adapter; returns the keys measured. */
export async function autotune(gpu: Gpu, graph: Graph, opts: AutotuneOptions = {}): Promise<string[]> {
  const table = loadTable(gpu.adapterInfo);
  const todo = tuningSpaces(gpu, graph).filter(({ space }) => !table.has(space.key));
  const done: string[] = [];
  for (const [i, { space, node }] of todo.entries()) {
    const ms = await timeVariants(gpu, node, space.key, space.candidates, opts.runs ?? 5);
    // the fallback unless another variant is clearly faster: timings move ~5% between runs here,
    // and short kernels all end at the same ~1.2 ms of submit and wait
    const fastest = space.candidates.reduce((best, v) => (ms[v] < ms[best] ? v : best));
    const choice = ms[space.fallback] <= ms[fastest] * (1 + TIE) ? space.fallback : fastest;
    recordChoice(gpu.adapterInfo, space.key, { choice, ms, measured: new Date().toISOString() });
    opts.log?.(`autotune ${i + 1}/${todo.length} ${space.key}: ${space.candidates.map((v) => `${v} ${ms[v].toFixed(2)} ms`).join(', ')} -> ${choice}`);
    done.push(space.key);
  }
  return done;
}
