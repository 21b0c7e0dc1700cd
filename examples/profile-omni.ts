/**
 * Where the time of a tiny Omni-Emotion training step goes: one step timed kernel by kernel
 * (GPU timestamps). `npx tsx examples/profile-omni.ts [stage 1|2|3] [batch] [text length] [raw]`:
 * the step takes the frozen encoders' outputs (what `train` feeds by default), or with `raw` the
 * raw frames, crops and log-mel.
 */
import { spec } from '../compiler/trace';
import { Trainer } from '../runtime/train/trainer';
import { omniLoss, omniParams } from '../models/omni/model';
import { preset, PRESET_INPUTS, STAGE_TRAINABLE } from '../models/omni/presets';

const stage = Number(process.argv[2] ?? 3) as 1 | 2 | 3;
const B = Number(process.argv[3] ?? 4);
const L = Number(process.argv[4] ?? 64);
const raw = process.argv[5] === 'raw';
const c = preset('tiny');
const { frameSize, faceSize, melFrames } = PRESET_INPUTS.tiny;
const T = 4;
const ids = Array.from({ length: B * L }, (_, i) => (i % L === 2 ? -200 : i % L === 4 ? -300 : 65 + (i % 26)));
const batch = {
  input_ids: ids,
  labels: ids.map((v, i) => (i % L > 40 ? v : -100)),
  pixel_values: new Float32Array(B * T * 3 * frameSize * frameSize).fill(0.1),
  face_values: new Float32Array(B * T * 3 * faceSize * faceSize).fill(0.2),
  input_features: new Float32Array(B * 128 * melFrames).fill(-0.5),
};
// the encoders' output shapes of the tiny preset (SigLIP 4x4 patches x 64, face CNN 64x6x6, Whisper 50 x 64)
const hidden = {
  vision_hidden: spec([B * T, 16, 64]),
  face_map: spec([B * T, 64, 6, 6]),
  audio_hidden: spec([B, 50, 64]),
};
const size = (s: { shape: readonly number[] }) => s.shape.reduce((a, b) => a * b, 1);
const inputs = raw
  ? batch
  : { input_ids: batch.input_ids, labels: batch.labels, ...Object.fromEntries(Object.entries(hidden).map(([k, s]) => [k, new Float32Array(size(s)).fill(0.1)])) };
const t0 = performance.now();
const tr = await Trainer.create({
  params: omniParams(c),
  loss: omniLoss(c) as never,
  batch: {
    input_ids: spec([B, L], 'i32'),
    labels: spec([B, L], 'i32'),
    ...(raw ? { pixel_values: spec([B * T, 3, frameSize, frameSize]), face_values: spec([B * T, 3, faceSize, faceSize]), input_features: spec([B, 128, melFrames]) } : hidden),
  },
  optimizer: { kind: 'adamw' },
  lr: 1e-3,
  train: STAGE_TRAINABLE[stage],
});
console.log(`stage ${stage}, batch ${B}: ${tr.exe.stats.kernels} kernels (${tr.exe.stats.distinctShaders} distinct), compiled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
const t1 = performance.now();
await tr.step(inputs);
console.log(`first step (shader compiles) ${((performance.now() - t1) / 1000).toFixed(1)} s`);
const t2 = performance.now();
for (let i = 0; i < 3; i++) await tr.step(inputs);
console.log(`step ${((performance.now() - t2) / 3).toFixed(0)} ms`);
const prof = await tr.profile(inputs);
const total = prof.reduce((a, p) => a + p.ms, 0);
console.log(`sum of kernel times ${total.toFixed(0)} ms over ${prof.length} kernels; slowest:`);
for (const p of prof.slice(0, 15)) console.log(`  ${p.ms.toFixed(2).padStart(8)} ms  ${p.label}`);
const byOp = new Map<string, number>();
for (const p of prof) {
  const op = p.label.split(/[#:+]/)[0];
  byOp.set(op, (byOp.get(op) ?? 0) + p.ms);
}
console.log('by op:', [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', '));
process.exit(0);
