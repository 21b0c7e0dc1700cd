/**
 * Compile time of the paper preset: tracing, optimising and planning the three inference
 * executables of Omni-Emotion with whisper-large-v3, SigLIP-so400m, FaceXFormer and Qwen2-7B
 * (models/omni/compile-preset.ts) for this adapter, to WGSL and a buffer plan, without weights and
 * without the driver's shader compiles. No peer compiles this model.
 */
import { compilePreset } from '../../models/omni/compile-preset';
import { getGpu } from '../../runtime/gpu';
import { planTargetOf } from '../../runtime/plan';
import type { Case, Row } from '../types';

async function ours(): Promise<Case> {
  const target = planTargetOf(await getGpu());
  let kernels = 0;
  return {
    async run() {
      kernels = compilePreset('paper', target).steps.reduce((n, s) => n + s.kernels, 0);
    },
    async read() {
      return Float32Array.of(kernels);
    },
    get note() {
      return `${kernels} kernels (embed + prefill of 2523 tokens + decode)`;
    },
    dispose() {},
  };
}

const NONE = 'no equivalent (the model is not written for it)';

export const presetRows = (): Row[] => [{ name: 'paper preset compile (to WGSL, planned)', warmup: 0, ours, peers: { tfjs: NONE, 'jax-webgpu': NONE, 'jax-wasm': NONE, 'ort-cpu': NONE } }];
