/**
 * A tiny Omni-Emotion training step as the demo runs it (instruct stage, full tuning, batch 8 x 261
 * text tokens, the frozen encoders' outputs fed in): the whole compiled step (forward over the
 * spliced sequence, backward, AdamW, clipping) with its loss read back. The note gives the step's
 * kernel count and its planned against naive memory of intermediates. No peer runs this model.
 */
import { spec } from '../../compiler/trace';
import { Trainer } from '../../runtime/train/trainer';
import { omniLoss, omniParams } from '../../models/omni/model';
import { preset, STAGE_TRAINABLE } from '../../models/omni/presets';
import { uniform } from '../timing';
import type { Case, Row } from '../types';

const [L, T] = [261, 4];

async function makeTrainer(B: number) {
  const c = preset('tiny');
  // the tiny encoders' output shapes (SigLIP 4x4 patches x 64, face CNN 64x6x6, Whisper 50 x 64)
  const hidden = { vision_hidden: [B * T, 16, 64], face_map: [B * T, 64, 6, 6], audio_hidden: [B, 50, 64] };
  // every row: <video> at 20, <audio> at 22, the answer's labels from 140 on
  const ids = Int32Array.from({ length: B * L }, (_, i) => (i % L === 20 ? c.video_token_index : i % L === 22 ? c.audio_token_index : 32 + ((i * 7) % 200)));
  const batch: Record<string, Int32Array | Float32Array> = { input_ids: ids, labels: Int32Array.from(ids, (v, i) => (i % L >= 140 ? v : -100)) };
  for (const [k, s] of Object.entries(hidden)) batch[k] = uniform(s.reduce((a, b) => a * b, 1), 90 + k.length, -1, 1);
  const trainer = await Trainer.create({
    params: omniParams(c),
    loss: omniLoss(c) as never,
    batch: { input_ids: spec([B, L], 'i32'), labels: spec([B, L], 'i32'), ...Object.fromEntries(Object.entries(hidden).map(([k, s]) => [k, spec(s)])) },
    optimizer: { kind: 'adamw' },
    lr: 1e-3,
    clipNorm: 1,
    train: STAGE_TRAINABLE[3],
  });
  return { trainer, batch };
}

async function ours(): Promise<Case> {
  const { trainer, batch } = await makeTrainer(8);
  const m = trainer.memory();
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  let loss = 0;
  return {
    note: `${trainer.exe.stats.kernels} kernels (${trainer.exe.stats.distinctShaders} distinct); intermediates planned ${mib(m.intermediateBytes)} vs naive ${mib(m.naiveIntermediateBytes)}`,
    async run() {
      loss = (await trainer.step(batch)).loss;
    },
    async read() {
      return Float32Array.of(loss);
    },
    dispose() {
      trainer.exe.dispose();
    },
  };
}

/**
 * The same step from nothing: trace, compile, plan, the driver's shader compiles (Mesa's on-disk
 * cache off for the process) and the first step. Each call takes another batch size, so its
 * shape-specialised kernels are all new.
 */
async function cold(): Promise<Case> {
  let B = 8;
  let loss = 0;
  let last: Trainer | undefined;
  return {
    note: 'Trainer.create + first step, batch 9, 10, ... (new kernels each call)',
    prepare() {
      last?.exe.dispose();
      B++;
    },
    async run() {
      const { trainer, batch } = await makeTrainer(B);
      last = trainer;
      loss = (await trainer.step(batch)).loss;
    },
    async read() {
      return Float32Array.of(loss);
    },
    dispose() {
      last?.exe.dispose();
    },
  };
}

const NONE = 'no equivalent (the model is not written for it)';
const none = { tfjs: NONE, 'jax-webgpu': NONE, 'jax-wasm': NONE, 'ort-cpu': NONE };

export const omniRows = (): Row[] => [
  { name: 'tiny Omni-Emotion instruct step (batch 8 x 261 tokens)', warmup: 1, ours, peers: none },
  { name: 'tiny Omni-Emotion step cold compile (+ first step)', warmup: 0, coldShaderCache: true, ours: cold, peers: none },
];
