/**
 * `omni-emotion train` (models/omni/train/driver.ts): the three stages on a SynthEmo corpus with
 * the tiny preset, a few steps each. Each stage updates only its trainable set and starts from
 * the previous stage's values; loss CSVs, checkpoints, loss.png, model.safetensors (LoRA merged)
 * and config.json are written; an interrupted stage resumes exactly; bad input is one clear error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND } from './helpers/check';
import { generateSynthEmo } from '../data/synth/index';
import { checkpointParams, runTraining, stageManifest } from '../models/omni/train/driver';
import type { TrainArgs } from '../models/omni/train/driver';
import { decodeRunConfig, resolveRunConfig } from '../models/omni/train/config';
import { faceApiExpressionWeights, omniParams } from '../models/omni/model';
import { preset } from '../models/omni/presets';
import { initParams } from '../dsl/params';
import type { ParamTree } from '../dsl/params';
import { openSafetensors } from '../runtime/safetensors';
import { readManifest } from '../data/manifest/index';
import type { HostTensor } from '../runtime/host';
import { main } from '../cli/main';

let root = '';
let manifest = '';
const quiet = () => {};
const base = (out: string, extra: Partial<TrainArgs> = {}): TrainArgs => ({
  preset: 'tiny', data: manifest, stage: 'all', out, steps: 3, batch: 2, backend: BACKEND, log: quiet,
  runConfig: { detect_faces: false, log_every: 1, plot_every: 2 }, ...extra,
});

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'omni-train-cli-'));
  manifest = (await generateSynthEmo({ out: join(root, 'synth'), n: 8, seed: 1 })).manifest;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const same = (a: HostTensor, b: HostTensor) => a.data.length === b.data.length && a.data.every((v, i) => v === b.data[i]);
/** the top-level components whose tensors differ between two parameter sets */
function changed(a: Record<string, HostTensor>, b: Record<string, HostTensor>): string[] {
  const out = new Set<string>();
  for (const [k, v] of Object.entries(b)) if (!a[k] || !same(a[k], v)) out.add(k.startsWith('llm.') && /lora_/.test(k) ? 'llm.lora' : k.split('.')[0]);
  return [...out].sort();
}
const pngSignature = (file: string) => [...readFileSync(file).subarray(0, 8)];
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const csvRows = (file: string) => readFileSync(file, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));

describe('omni-emotion train (tiny preset, SynthEmo)', () => {
  it('runs the three stages with their trainable sets, carrying the parameters from stage to stage', async () => {
    const out = join(root, 'all');
    const r = await runTraining(base(out));
    expect(r.interrupted).toBe(false);
    expect(r.stages.map((s) => [s.stage, s.status, s.steps])).toEqual([['audio-align', 'trained', 3], ['face-align', 'trained', 3], ['instruct', 'trained', 3]]);
    for (const s of r.stages) {
      expect(Number.isFinite(s.lastLoss)).toBe(true);
      const rows = csvRows(join(out, s.stage, 'loss.csv'));
      expect(rows.map((x) => x[0])).toEqual([1, 2, 3]);
      expect(rows.every((x) => Number.isFinite(x[1]))).toBe(true);
      expect(existsSync(join(out, s.stage, 'checkpoint.safetensors'))).toBe(true);
    }
    const init = initParams(omniParams(preset('tiny')) as unknown as ParamTree, 0);
    const p1 = checkpointParams(join(out, 'audio-align', 'checkpoint.safetensors'));
    const p2 = checkpointParams(join(out, 'face-align', 'checkpoint.safetensors'));
    const p3 = checkpointParams(join(out, 'instruct', 'checkpoint.safetensors'));
    // stage 1: the audio projector alone; stage 2: the face projector alone (video_concat has no fusion layer)
    expect(changed(init, p1)).toEqual(['audio_projector']);
    expect(changed(p1, p2)).toEqual(['face_projector']);
    // stage 3: the projectors, the newline and the LoRA adapters; the LLM's own weights and the encoders stay
    expect(changed(p2, p3)).toEqual(['audio_projector', 'face_projector', 'image_newline', 'llm.lora', 'mm_projector']);
    expect(r.stages[2].trainable.filter((t) => t.startsWith('llm.')).every((t) => /\.self_attn\.[qkvo]_proj\.lora_[AB]$/.test(t))).toBe(true);

    // model.safetensors: omniParams' names, LoRA merged into the attention weights
    const f = openSafetensors(join(out, 'model.safetensors'));
    const names = [...f.tensors.keys()];
    expect(names.some((n) => n.includes('lora'))).toBe(false);
    expect(names.length).toBe(Object.keys(init).length);
    const q = 'llm.model.layers.0.self_attn.q_proj.weight';
    expect(same({ ...p2[q], data: f.read(q) as Float32Array }, p2[q])).toBe(false);
    // the second projector layers are as trained; the first ones absorb the feature standardisation
    expect(same({ ...p3['audio_projector.2.weight'], data: f.read('audio_projector.2.weight') as Float32Array }, p3['audio_projector.2.weight'])).toBe(true);
    expect(same({ ...p3['audio_projector.0.weight'], data: f.read('audio_projector.0.weight') as Float32Array }, p3['audio_projector.0.weight'])).toBe(false);
    f.close();
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.model_type).toBe('omni-emotion');
    expect(config.num_frames).toBe(4);
    expect(pngSignature(join(out, 'loss.png'))).toEqual(PNG);
  });

  it('--resume continues an interrupted stage exactly where its checkpoint left it', async () => {
    const steps = 5;
    const straight = join(root, 'straight');
    await runTraining(base(straight, { stage: 'audio-align', steps }));
    const cut = join(root, 'cut');
    // interrupt after step 2 (what SIGINT does: finish the step, checkpoint, return)
    const r1 = await runTraining(base(cut, { stage: 'audio-align', steps, log: (l) => void (l.startsWith('[audio-align] step 2/') && process.emit('SIGINT', 'SIGINT')) }));
    expect(r1.interrupted).toBe(true);
    expect(r1.stages[0].steps).toBe(2);
    expect(existsSync(join(cut, 'model.safetensors'))).toBe(false);
    // without --resume the checkpoint is not overwritten
    await expect(runTraining(base(cut, { stage: 'audio-align', steps }))).rejects.toThrow(/exists: pass --resume/);
    const r2 = await runTraining(base(cut, { stage: 'audio-align', steps, resume: true }));
    expect(r2.stages[0]).toMatchObject({ status: 'trained', steps, resumedFrom: 2, ran: 3 });
    const a = csvRows(join(straight, 'audio-align', 'loss.csv'));
    const b = csvRows(join(cut, 'audio-align', 'loss.csv'));
    expect(b.map((x) => x[0])).toEqual([1, 2, 3, 4, 5]);
    b.forEach((row, i) => expect(row[1]).toBeCloseTo(a[i][1], 5)); // same batches, same lr, same losses
    const pa = checkpointParams(join(straight, 'audio-align', 'checkpoint.safetensors'));
    const pb = checkpointParams(join(cut, 'audio-align', 'checkpoint.safetensors'));
    for (const k of Object.keys(pa).filter((k) => k.startsWith('audio_projector'))) Array.from(pa[k].data).forEach((v, i) => expect(pb[k].data[i]).toBeCloseTo(v, 5));
    // a finished stage is skipped on --resume; the next one starts from its values
    const r3 = await runTraining(base(cut, { stage: 'all', steps: 2, resume: true }));
    expect(r3.stages.map((s) => s.status)).toEqual(['skipped', 'trained', 'trained']);
    expect(changed(pb, checkpointParams(join(cut, 'face-align', 'checkpoint.safetensors')))).toEqual(['face_projector']);
    expect(existsSync(join(cut, 'model.safetensors'))).toBe(true);
    unlinkSync(join(cut, 'model.safetensors'));
  });

  it('reads the run config: defaults, overrides, full tuning', async () => {
    const tiny = resolveRunConfig('tiny');
    expect(tiny.stages['audio-align'].lr).toBe(3e-3);
    const paper = resolveRunConfig('paper');
    expect([paper.stages['audio-align'].lr, paper.stages['face-align'].lr, paper.stages.instruct.lr]).toEqual([1e-3, 1e-3, 2e-5]);
    expect(paper.warmup_ratio).toBe(0.03);
    const c = resolveRunConfig('tiny', decodeRunConfig({ batch_size: 4, stages: { instruct: { tuning: 'full', lr: 5e-4 } } }), { steps: 7 });
    expect([c.batch_size, c.stages.instruct.tuning, c.stages.instruct.lr, c.stages.instruct.steps]).toEqual([4, 'full', 5e-4, 7]);
    // stage views of the manifest: audio-align drops <video>, face-align drops <audio>
    const m = await readManifest(manifest);
    const human = (s: 'audio-align' | 'face-align' | 'instruct') => stageManifest(m, s).manifest.items[0].entry.conversations[0].value;
    expect(human('audio-align')).not.toContain('<video>');
    expect(human('audio-align')).toContain('<audio>');
    expect(human('face-align')).not.toContain('<audio>');
    expect(human('instruct')).toMatch(/<video>[\s\S]*<audio>/);
    // full tuning of the LLM in instruct
    const out = join(root, 'full');
    const r = await runTraining(base(out, { stage: 'instruct', steps: 1, runConfig: { detect_faces: false, stages: { instruct: { tuning: 'full' } } } }));
    expect(r.stages[0].trainable).toContain('llm.model.layers.0.mlp.up_proj.weight');
    expect(r.stages[0].trainable.some((t) => t.includes('lora'))).toBe(false);
  });

  it('feeds the frozen encoders\' outputs, computed once per item, with the same losses as running them in the step', async () => {
    const cached = await runTraining(base(join(root, 'enc-cached'), { stage: 'face-align', steps: 2, runConfig: { detect_faces: false, standardize_features: false } }));
    const raw = await runTraining(base(join(root, 'enc-raw'), { stage: 'face-align', steps: 2, runConfig: { detect_faces: false, encoder_cache: false } }));
    const a = csvRows(join(root, 'enc-cached', 'face-align', 'loss.csv'));
    const b = csvRows(join(root, 'enc-raw', 'face-align', 'loss.csv'));
    expect(a.map((x) => x[0])).toEqual([1, 2]);
    a.forEach((row, i) => expect(row[1]).toBeCloseTo(b[i][1], 4));
    expect(cached.stages[0].lastLoss).toBeCloseTo(raw.stages[0].lastLoss, 4);
  });

  it('face_encoder "face-api": the pretrained expression CNN, frozen, on 112 px crops; train_llm in an alignment stage', async () => {
    const out = join(root, 'face-api');
    const r = await runTraining(base(out, { stage: 'audio-align', steps: 1, runConfig: { detect_faces: false, face_encoder: 'face-api', stages: { 'audio-align': { train_llm: true } } } }));
    expect(r.stages[0].trainable).toContain('audio_projector.0.weight');
    expect(r.stages[0].trainable).toContain('llm.model.layers.0.mlp.up_proj.weight');
    expect(r.stages[0].trainable.some((t) => t.startsWith('face_') || t.startsWith('audio_encoder'))).toBe(false);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.face_config).toMatchObject({ model_type: 'face_api_expression', image_size: 112 });
    const bundled = faceApiExpressionWeights();
    const f = openSafetensors(join(out, 'model.safetensors'));
    const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    for (const [name, t] of Object.entries(bundled).slice(0, 4)) expect(bytes(f.read(name) as Float32Array).equals(bytes(t.data as Float32Array)), name).toBe(true);
    f.close();
  });

  it('modalities: a model trained without audio or faces skips their alignment stage and never sees them', async () => {
    const out = join(root, 'vision-only');
    const r = await runTraining(base(out, { steps: 2, runConfig: { detect_faces: false, modalities: { face: false, audio: false } } }));
    expect(r.stages.map((st) => st.stage)).toEqual(['instruct']);
    const before = initParams(omniParams(preset('tiny')) as unknown as ParamTree, 0);
    const after = checkpointParams(join(out, 'instruct', 'checkpoint.safetensors'));
    // no path reaches the face and audio projectors: their values stay the initialisers'
    for (const k of ['face_projector.0.weight', 'audio_projector.0.weight']) expect(same(after[k], before[k]), k).toBe(true);
    expect(same(after['mm_projector.0.weight'], before['mm_projector.0.weight'])).toBe(false);
    const va = await runTraining(base(join(root, 'vision-audio'), { steps: 1, runConfig: { detect_faces: false, modalities: { face: false } } }));
    expect(va.stages.map((st) => st.stage)).toEqual(['audio-align', 'instruct']);
    await expect(runTraining(base(join(root, 'no-audio-align'), { stage: 'audio-align', runConfig: { modalities: { audio: false } } }))).rejects.toThrow('stage audio-align: the run config leaves audio out (modalities)');
    // the stage manifest drops the <audio> placeholder when audio is left out
    const m = await readManifest(manifest);
    const human = stageManifest(m, 'instruct', ['video']).manifest.items[0].entry.conversations[0].value;
    expect(human).toContain('<video>');
    expect(human).not.toContain('<audio>');
  });

  it('fails with one clear line for bad presets, stages, manifests and config fields', async () => {
    const out = join(root, 'bad');
    await expect(runTraining(base(out, { preset: 'huge' }))).rejects.toThrow("unknown preset 'huge': expected one of tiny, small, paper");
    await expect(runTraining(base(out, { stage: 'pretrain' }))).rejects.toThrow("unknown stage 'pretrain'");
    await expect(runTraining(base(out, { data: join(root, 'none.jsonl') }))).rejects.toThrow('no such manifest file');
    const broken = join(root, 'broken.jsonl');
    writeFileSync(broken, '{"id": "x", "conversations": 3}\n');
    await expect(runTraining(base(out, { data: broken }))).rejects.toThrow(/broken\.jsonl: 1 bad line: line 1/);
    const cfg = join(root, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ stages: { instruct: { lr: 'fast' } }, lora_rank: 4 }));
    await expect(runTraining(base(out, { config: cfg }))).rejects.toThrow(/field 'stages\.instruct\.lr' expected a positive number, got "fast"; unknown field 'lora_rank'/);
    // through the CLI: one line on stderr, exit code 2
    expect(await main(['train', '--preset', 'tiny', '--data', manifest, '--out', out, '--config', cfg])).toBe(2);
    const code2 = await main(['train', '--data', manifest, '--out', out, '--stage', 'nope']);
    expect(code2).toBe(2);
    const code3 = await main(['train', '--data', manifest, '--out', out, '--steps', 'many']);
    expect(code3).toBe(2);
  });
});
