/**
 * Quick start: a small pre-LN transformer block written in the DSL, compiled to WGSL, run on
 * the WebGPU adapter and checked against the reference interpreter (float64).
 *
 *   npm run demo                      # run it
 *   npm run demo -- --dump ir|wgsl    # print the IR or the generated kernels
 */
import { pipe } from 'fp-ts/function';
import * as t from 'io-ts';
import type { Tensor } from '../dsl/tensor';
import { spec } from '../compiler/trace';
import { softmax } from '../compiler/composites';
import { compile } from '../runtime/compile';
import { decodeOrThrow, PositiveInt } from '../dsl/config';
import { paramSpecs, initParams, countParams } from '../dsl/params';
import * as nn from '../dsl/nn';
import { trace } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import { printGraph } from '../compiler/dump';
import { evaluate } from '../runtime/reference';
import { flattenInputs } from '../runtime/host';
import type { HostTensor } from '../runtime/host';
import { iota } from '../dsl/tensor';
import { runIfMain } from './run-main';

// A config decoded with io-ts: a bad field is reported by its path.
const Config = t.type({ dim: PositiveInt, heads: PositiveInt, kvHeads: PositiveInt, hidden: PositiveInt, classes: PositiveInt, seq: PositiveInt, batch: PositiveInt });
const config = decodeOrThrow(Config, { dim: 64, heads: 4, kvHeads: 2, hidden: 256, classes: 7, seq: 24, batch: 2 }, 'quickstart config');

const attn: nn.AttentionConfig = { dim: config.dim, heads: config.heads, kvHeads: config.kvHeads, qkvBias: true, outBias: false };
const paramTree = {
  ln1: nn.layerNormParams(config.dim),
  attn: nn.attentionParams(attn),
  ln2: nn.layerNormParams(config.dim),
  mlp: nn.mlpParams(config.dim, config.hidden),
  head: nn.linearParams(config.dim, config.classes),
};
type Params = { [K in keyof typeof paramTree]: any };

/** The model: a pure function (params, inputs) => outputs. */
function model({ params: p, x }: { params: Params; x: Tensor }) {
  const positions = iota([config.seq], 0);
  const h1 = x.add(pipe(x, nn.layerNorm(p.ln1), nn.selfAttention(p.attn, attn, { causal: true, rope: { positions, theta: 10000 } })));
  const h2 = h1.add(pipe(h1, nn.layerNorm(p.ln2), nn.mlp(p.mlp, 'gelu')));
  const logits = nn.linear(p.head)(h2.mean(1));
  return { logits, probs: softmax(logits, -1) };
}

export async function runQuickstart() {
  const dump = process.argv.includes('--dump') ? process.argv[process.argv.indexOf('--dump') + 1] : undefined;
  const specs = { params: paramSpecs(paramTree), x: spec([config.batch, config.seq, config.dim]) };
  if (dump === 'ir') {
    console.log(printGraph(optimize(trace(model, specs).graph)));
    return;
  }
  console.log(`tiny transformer block: ${countParams(paramTree)} parameters, input [${config.batch}, ${config.seq}, ${config.dim}]`);
  const t0 = performance.now();
  const exe = await compile(model, specs);
  console.log(`compiled for ${exe.backend}: ${exe.stats.kernels} kernels (${exe.stats.distinctShaders} distinct), planned ${exe.stats.plannedBytes} bytes vs ${exe.stats.naiveBytes} naive, ${(performance.now() - t0).toFixed(0)} ms`);
  if (dump === 'wgsl') {
    for (const k of exe.kernels) console.log(`// ---- ${k.label}: ${k.groups} workgroups\n${k.wgsl}\n`);
    return;
  }
  const params = initParams(paramTree, 42);
  const x = Float32Array.from({ length: config.batch * config.seq * config.dim }, (_, i) => Math.sin(i * 0.37) + 0.1 * Math.cos(i * 1.3));
  const inputs = { params, x };
  const t1 = performance.now();
  const out = await exe.run(inputs);
  const t2 = performance.now();
  for (let i = 0; i < 5; i++) await exe.run(inputs);
  const t3 = performance.now();
  console.log(`ran on the adapter: first call ${(t2 - t1).toFixed(1)} ms (shaders compile here), then ${((t3 - t2) / 5).toFixed(2)} ms per call`);

  const ref = evaluate(trace(model, specs).graph, new Map(Object.entries(flattenInputs(inputs)).map(([k, v]) => [k, (v as HostTensor).data ?? (v as Float32Array)])));
  let worst = 0;
  for (const name of ['logits', 'probs']) {
    const a = out[name].data;
    const b = ref.get(name)!.data;
    for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  }
  const probs = out.probs.data;
  console.log(`class probabilities, sample 0: [${Array.from(probs.slice(0, config.classes), (v) => v.toFixed(4)).join(', ')}]`);
  console.log(`max |WebGPU - reference| = ${worst.toExponential(2)}`);
  if (!(worst < 1e-4)) {
    throw new Error('the adapter disagrees with the reference interpreter');
  }
  console.log('ok: the compiled kernels match the reference interpreter');
}

// run directly (not when imported by the demo)
runIfMain(import.meta.url, 'quickstart', () => runQuickstart());
