/**
 * A preset compiled to kernels without its weights: the three executables inference runs (the
 * embedding step: encoders, projectors, fusion and splice; the LLM prefill over the spliced
 * prompt; one KV-cache decode step), traced, optimised and planned for an adapter: WGSL for every
 * kernel, its bindings (weights above the binding limit read in blocks at offsets) and the
 * buffer plan. Nothing is allocated and no shader module is built, so the paper preset (8.8 B
 * parameters, 35 GB in f32) compiles on a machine that could not hold its weights.
 */
import { trace } from '../../compiler/trace';
import type { SpecTree } from '../../compiler/trace';
import { optimize } from '../../compiler/passes';
import { makePlan } from '../../runtime/plan';
import type { PlanTarget } from '../../runtime/plan';
import { featureOptions, melFrames } from '../../data/features/index';
import { decodeGraph, prefillGraph } from '../llm/generate';
import { embedGraph } from './infer/describe';
import { preset } from './presets';
import type { PresetName } from './presets';
import { splicedLength } from './model';
import { faceImageSize } from './config';

export interface CompiledStep {
  readonly name: string;
  readonly kernels: number;
  readonly distinctShaders: number;
  /** bytes of the intermediate buffers the plan allocates (weights are the caller's) */
  readonly plannedBytes: number;
  readonly naiveBytes: number;
  /** bindings of a block of a tensor above the binding limit (at an offset into its buffer) */
  readonly offsetBindings: number;
  readonly seconds: number;
}

export interface PresetPlan {
  readonly preset: PresetName;
  /** prompt tokens before and after splicing the media in */
  readonly textLength: number;
  readonly splicedLength: number;
  readonly cacheLength: number;
  readonly steps: readonly CompiledStep[];
  readonly seconds: number;
}

const external = (name: string) => name.startsWith('params.');

function planStep(name: string, fn: (a: any) => unknown, specs: SpecTree, target: PlanTarget): CompiledStep {
  const t0 = performance.now();
  const plan = makePlan(target, optimize(trace(fn, specs).graph), external);
  const offsetBindings = plan.kernels.reduce((n, k) => n + k.bindings.filter((b) => (b.kind === 'in' || b.kind === 'out') && (b.offset ?? 0) > 0).length, 0);
  return { name, kernels: plan.stats.kernels, distinctShaders: plan.stats.distinctShaders, plannedBytes: plan.stats.plannedBytes, naiveBytes: plan.stats.naiveBytes, offsetBindings, seconds: (performance.now() - t0) / 1000 };
}

/** Plans inference of a preset for one clip and a prompt of `textLength` tokens, with room for `newTokens` answer tokens. */
export function compilePreset(name: PresetName, target: PlanTarget, opts: { textLength?: number; newTokens?: number } = {}): PresetPlan {
  const t0 = performance.now();
  const c = preset(name);
  const features = featureOptions(name, { faceSize: faceImageSize(c.face_config) });
  const L = opts.textLength ?? 64;
  const spliced = splicedLength(c, L, { video: true, audioMelFrames: melFrames(features) });
  const M = spliced + (opts.newTokens ?? 160);
  const embed = embedGraph(c, features, L, { visual: true, face: true, audio: true });
  const prefill = prefillGraph(c.text_config, 1, spliced, M, 'embeds');
  const decode = decodeGraph(c.text_config, 1, M);
  const steps = [planStep('embed', embed.fn, embed.specs, target), planStep('prefill', prefill.fn, prefill.specs, target), planStep('decode', decode.fn, decode.specs, target)];
  return { preset: name, textLength: L, splicedLength: spliced, cacheLength: M, steps, seconds: (performance.now() - t0) / 1000 };
}
