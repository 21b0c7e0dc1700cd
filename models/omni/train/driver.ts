/**
 * The Omni-Emotion training driver (what `omni-emotion train` runs; a plain async function so
 * tests call it directly):
 *
 *   1. the run config: preset defaults, `--config FILE` (models/omni/train/config.ts), `--steps`/`--batch`;
 *   2. the feature cache of the manifest's train split in DIR/cache (items without a split count as train);
 *   3. per requested stage, in order (PAPER.md "Decisions"):
 *        audio-align  trains STAGE_TRAINABLE[1] (the audio projector) on audio-text pairs: the human
 *                     turns lose their `<video>`, so only the audio path runs;
 *        face-align   trains STAGE_TRAINABLE[2] (the face projector, and the fusion layer when the
 *                     variant has one) on video-text pairs (`<audio>` removed);
 *        instruct     trains the projectors and the LLM, through LoRA on the LLM's attention
 *                     projections (default; dsl/lora.ts) or fully (`"tuning": "full"`), on the
 *                     manifest's instructions as they are (`<video>` and `<audio>`);
 *      each stage starts from the previous stage's final parameters (Trainer `initial`: from
 *      memory, or from DIR/<previous>/checkpoint.safetensors when that stage finished in an
 *      earlier run), runs runtime/train/loop.ts with progress (step, loss, lr, samples/s, ETA),
 *      DIR/<stage>/loss.csv, DIR/<stage>/checkpoint.safetensors every epoch, at the end and on
 *      SIGINT/SIGTERM, and DIR/<stage>/done.json when it completes;
 *   4. DIR/loss.png (all stages' curves) every `plot_every` steps and after each stage;
 *   5. at the end: DIR/model.safetensors (LoRA merged into the LLM weights; names are omniParams'
 *      paths) and DIR/config.json (the model's config: the preset with the run's fusion/frames),
 *      plus DIR/run.json (the resolved run config).
 *
 * Batches have one static shape per stage (the trainer compiles one step): the batch size is
 * fixed (the loader drops each epoch's last, smaller batch) and the text is right-padded to the
 * longest item of the stage (pad id, label -100), which changes nothing before it (causal).
 *
 * `resume`: a finished stage (done.json) is skipped; the current stage's checkpoint is loaded
 * (parameters, optimizer state, step, loss scale) and the loader continues at the trainer's step
 * (the loader's order is a pure function of (seed, epoch), so the batches are exactly those the
 * first run would have seen); loss.csv rows after the checkpoint's step are dropped. Without
 * `resume`, a stage whose checkpoint already exists in DIR is an error (nothing is overwritten).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from '../../../cli/errors';
import { spec } from '../../../compiler/trace';
import type { SpecTree } from '../../../compiler/trace';
import type { ParamTree } from '../../../dsl/params';
import { paramEntries } from '../../../dsl/params';
import { mergeLora, withLora } from '../../../dsl/lora';
import { readManifest } from '../../../data/manifest/index';
import type { Manifest, ManifestItem } from '../../../data/manifest/index';
import { buildFeatureCache, featureOptions, featureShapes } from '../../../data/features/index';
import type { FeatureCache, FeatureOptions } from '../../../data/features/index';
import { FIELDS_FOR, createLoader } from '../../../data/loader/index';
import type { Batch, Loader } from '../../../data/loader/index';
import { ByteTokenizer } from '../../../data/tokenizer/bytes';
import type { Tokenizer } from '../../../data/tokenizer/types';
import { IGNORE_INDEX, PLACEHOLDERS } from '../../../data/tokenizer/chat';
import type { PlaceholderKind } from '../../../data/tokenizer/chat';
import type { HostTensor } from '../../../runtime/host';
import { openSafetensors, writeSafetensorsAtomic } from '../../../runtime/safetensors';
import type { StDType, TensorToWrite } from '../../../runtime/safetensors';
import type { BackendName } from '../../../runtime/gpu';
import { Trainer } from '../../../runtime/train/trainer';
import { trainLoop } from '../../../runtime/train/loop';
import type { LoopSummary } from '../../../runtime/train/loop';
import { loadCheckpoint } from '../../../runtime/train/checkpoint';
import { bundledPretrainedWeights, omniLoss, omniParams } from '../model';
import { FACE_API_FACE, PRESETS, STAGE_TRAINABLE, preset as presetConfig, presetJson } from '../presets';
import { faceImageSize } from '../config';
import type { FeatureField } from '../../../data/features/index';
import { ENCODER_OUTPUT, EncodedItems, foldStandardization } from './encoder-cache';
import type { ChannelStats } from './encoder-cache';
import type { PresetName } from '../presets';
import type { OmniConfig } from '../config';
import { STAGES, STAGE_NUMBER, decodeRunConfig, readRunConfigFile, resolveRunConfig } from './config';
import type { RunConfig, RunConfigInput, StageName } from './config';
import { readLossCsv, writeLossPng } from './plot';
import type { LossPoint } from './plot';

export interface TrainArgs {
  readonly preset: string;
  /** the JSONL manifest */
  readonly data: string;
  /** one stage or 'all' */
  readonly stage: string;
  readonly out: string;
  readonly resume?: boolean;
  /** a JSON run-config file (config.ts) */
  readonly config?: string;
  /** the run config as an object (programmatic use; checked like the file; `config` wins) */
  readonly runConfig?: RunConfigInput;
  /** steps of every stage (wins over the config) */
  readonly steps?: number;
  readonly batch?: number;
  readonly backend?: BackendName;
  /** the feature cache folder (default OUT/cache; runs on the same data and features can share one) */
  readonly featureCache?: string;
  /** progress lines (default: stderr) */
  readonly log?: (line: string) => void;
}

export interface StageReport {
  readonly stage: StageName;
  /** 'skipped': already finished in an earlier run (resume) */
  readonly status: 'trained' | 'skipped' | 'interrupted';
  readonly steps: number;
  /** steps run in this call */
  readonly ran: number;
  readonly lastLoss: number;
  readonly seconds: number;
  /** mean seconds per step in this call, the first (compiling) step excluded when there are more */
  readonly secondsPerStep: number;
  readonly firstStepSeconds: number;
  readonly trainable: readonly string[];
  readonly trainableCount: number;
  readonly resumedFrom?: number;
}

export interface TrainResult {
  readonly config: RunConfig;
  readonly stages: readonly StageReport[];
  readonly interrupted: boolean;
  /** DIR/model.safetensors, when the run completed */
  readonly model?: string;
  readonly plot: string;
}

const STAGE_FIELDS: Record<StageName, readonly PlaceholderKind[]> = { 'audio-align': ['audio'], 'face-align': ['video'], instruct: ['video', 'audio'] };

/** `<video>` or `<audio>` (and the newline after it) out of a text. */
const stripPlaceholder = (text: string, kind: PlaceholderKind): string => text.split(`${PLACEHOLDERS[kind].text}\n`).join('').split(PLACEHOLDERS[kind].text).join('');

/**
 * The stage's view of the manifest: human turns keep only the placeholders the stage trains on
 * (audio-align: `<audio>`; face-align: `<video>`; instruct: both); items that then lack one of
 * them are left out.
 */
export function stageManifest(m: Manifest, stage: StageName, keep: readonly PlaceholderKind[] = STAGE_FIELDS[stage]): { manifest: Manifest; dropped: number } {
  const items: ManifestItem[] = [];
  for (const it of m.items) {
    const conversations = it.entry.conversations.map((turn) => {
      if (turn.from !== 'human') return turn;
      let value = turn.value;
      for (const k of ['video', 'audio'] as const) if (!keep.includes(k)) value = stripPlaceholder(value, k);
      return { ...turn, value };
    });
    const human = conversations.filter((t) => t.from === 'human').map((t) => t.value).join('\n');
    if (!keep.every((k) => human.includes(PLACEHOLDERS[k].text))) continue;
    items.push({ ...it, entry: { ...it.entry, conversations } });
  }
  return { manifest: { ...m, items }, dropped: m.items.length - items.length };
}

/** The placeholders a stage trains on, less the modalities the run leaves out (`modalities.audio: false` drops `<audio>`). */
const stageKinds = (stage: StageName, rc: RunConfig): PlaceholderKind[] => STAGE_FIELDS[stage].filter((k) => k !== 'audio' || rc.modalities.audio);

/** The feature fields a stage reads (`modalities.face: false`: the `<video>` block is the visual stream alone). */
const stageFields = (stage: StageName, rc: RunConfig): FeatureField[] => stageKinds(stage, rc).flatMap((k) => FIELDS_FOR[k]).filter((f) => f !== 'face_values' || rc.modalities.face);

/** The stages to run: 'all' skips the alignment stage of a modality the run leaves out. */
function runStages(requested: readonly StageName[], rc: RunConfig, all: boolean): StageName[] {
  const off = (st: StageName) => (st === 'audio-align' && !rc.modalities.audio) || (st === 'face-align' && !rc.modalities.face);
  if (!all) for (const st of requested) if (off(st)) throw new UserError(`stage ${st}: the run config leaves ${st === 'audio-align' ? 'audio' : 'the face stream'} out (modalities)`);
  return requested.filter((st) => !off(st));
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, file);
}

const fromSt: Partial<Record<StDType, HostTensor['dtype']>> = { F32: 'f32', F16: 'f16', I32: 'i32', U32: 'u32', BOOL: 'bool' };
const toSt = (t: HostTensor): StDType => (t.dtype === 'f16' ? 'F16' : t.dtype === 'i32' ? 'I32' : t.dtype === 'u32' ? 'U32' : t.dtype === 'bool' ? 'BOOL' : 'F32');

/** The parameters (`param.*`) stored in a training checkpoint. */
export function checkpointParams(file: string): Record<string, HostTensor> {
  const f = openSafetensors(file);
  try {
    const out: Record<string, HostTensor> = {};
    for (const [name, e] of f.tensors) {
      if (!name.startsWith('param.')) continue;
      out[name.slice('param.'.length)] = { shape: e.shape, dtype: fromSt[e.dtype] ?? 'f32', data: f.read(name) as HostTensor['data'] };
    }
    return out;
  } finally {
    f.close();
  }
}

function tokenizerFor(p: PresetName): Tokenizer {
  if (p === 'paper') throw new UserError('train --preset paper: the Qwen2 tokenizer path and pretrained encoder/LLM weights are not wired into the trainer yet (use tiny or small)');
  return new ByteTokenizer();
}

function parsePreset(name: string): PresetName {
  if (!(PRESETS as readonly string[]).includes(name)) throw new UserError(`unknown preset '${name}': expected one of ${PRESETS.join(', ')}`);
  return name as PresetName;
}

function parseStages(name: string): StageName[] {
  if (name === 'all') return [...STAGES];
  if (!(STAGES as readonly string[]).includes(name)) throw new UserError(`unknown stage '${name}': expected one of ${STAGES.join(', ')}, all`);
  return [name as StageName];
}

const time = (s: number) => (!Number.isFinite(s) ? '?' : s < 90 ? `${Math.round(s)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`);

/** The stage's trainable patterns and parameter tree. */
function stageParams(model: OmniConfig, stage: StageName, rc: RunConfig): { params: ParamTree; train: string[] } {
  const base = omniParams(model) as unknown as ParamTree;
  const s = rc.stages[stage];
  const pats = [...STAGE_TRAINABLE[STAGE_NUMBER[stage]]];
  if (stage !== 'instruct') return { params: base, train: s.train_llm ? [...pats, 'llm'] : pats };
  if (s.tuning === 'full') return { params: base, train: pats };
  let params: ParamTree;
  try {
    params = withLora(base, { targets: s.lora.targets, rank: s.lora.rank, alpha: s.lora.alpha, dropout: s.lora.dropout });
  } catch (e) {
    throw new UserError(`stages.instruct.lora.targets: ${(e as Error).message}`);
  }
  return { params, train: [...pats.filter((p) => p !== 'llm'), 'llm.**.lora_A', 'llm.**.lora_B'] };
}

/** Loader batch -> the model's inputs, text right-padded to L; encoded fields replaced by the encoders' outputs. */
function toModelBatch(b: Batch, L: number, padId: number, fields: readonly string[], encoded?: EncodedItems): Record<string, Int32Array | Float32Array> {
  const [B, L0] = b.shapes.input_ids!;
  let ids = b.input_ids;
  let labels = b.labels;
  if (L0 !== L) {
    ids = new Int32Array(B * L).fill(padId);
    labels = new Int32Array(B * L).fill(IGNORE_INDEX);
    for (let r = 0; r < B; r++) {
      ids.set(b.input_ids.subarray(r * L0, (r + 1) * L0), r * L);
      labels.set(b.labels.subarray(r * L0, (r + 1) * L0), r * L);
    }
  }
  const out: Record<string, Int32Array | Float32Array> = { input_ids: ids, labels };
  for (const f of fields) {
    if (encoded) {
      out[ENCODER_OUTPUT[f as FeatureField]] = encoded.batch(b.ids, f as FeatureField);
      continue;
    }
    const v = b[f as 'pixel_values'];
    if (!v) throw new Error(`train: batch ${b.step} has no ${f}`);
    out[f] = v;
  }
  return out;
}

/** Every stage's loss curve, one after the other on a global step axis. */
function lossPoints(out: string): LossPoint[] {
  const points: LossPoint[] = [];
  let offset = 0;
  for (const stage of STAGES) {
    const rows = readLossCsv(join(out, stage, 'loss.csv'));
    for (const r of rows) points.push({ stage, step: r.step, global: offset + r.step, loss: r.loss });
    if (rows.length) offset += rows[rows.length - 1].step;
  }
  return points;
}

/** Keeps the CSV's rows up to `step` (a resumed run rewrites what came after its checkpoint). */
function truncateCsv(file: string, step: number): void {
  if (!existsSync(file)) return;
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const kept = [lines[0], ...lines.slice(1).filter((l) => Number(l.split(',')[0]) <= step)];
  writeFileSync(file, `${kept.join('\n')}\n`);
}

export async function runTraining(args: TrainArgs): Promise<TrainResult> {
  const log = args.log ?? ((l: string) => void process.stderr.write(`${l}\n`));
  const presetName = parsePreset(args.preset);
  const file = args.config !== undefined ? await readRunConfigFile(args.config) : decodeRunConfig(args.runConfig ?? {});
  const rc = resolveRunConfig(presetName, file, { steps: args.steps, batch: args.batch });
  const stages = runStages(parseStages(args.stage), rc, args.stage === 'all');
  const full = await readManifest(args.data);
  const out = resolve(args.out);
  mkdirSync(out, { recursive: true });

  // ---- model config and features
  const overrides: Record<string, unknown> = {};
  if (rc.fusion) overrides.fusion = rc.fusion;
  if (rc.frames) overrides.num_frames = rc.frames;
  if (rc.face_encoder === 'face-api') Object.assign(overrides, FACE_API_FACE);
  const modelJson = presetJson(presetName, overrides);
  const model = presetConfig(presetName, overrides);
  const feat: FeatureOptions = featureOptions(presetName, { ...(rc.frames ? { frames: rc.frames } : {}), faceSize: faceImageSize(model.face_config) });
  const pretrained = bundledPretrainedWeights(model);
  const tokenizer = tokenizerFor(presetName);
  writeJsonAtomic(join(out, 'run.json'), { ...rc, data: resolve(args.data), stagesRequested: stages });

  const trainItems = full.items.filter((i) => i.entry.split === undefined || i.entry.split === 'train');
  if (trainItems.length === 0) throw new UserError(`${args.data}: no train items (every item has split val or test)`);
  const train: Manifest = { ...full, items: trainItems };
  const cacheDir = args.featureCache !== undefined ? resolve(args.featureCache) : join(out, 'cache');
  log(`features: ${trainItems.length} train items of ${full.items.length} -> ${cacheDir}`);
  let lastReport = 0;
  const built = await buildFeatureCache(train, { dir: cacheDir, features: feat, detector: rc.detect_faces ? undefined : null, backend: args.backend }, (p) => {
    const now = performance.now();
    if (p.done === p.total || now - lastReport > 2000) {
      lastReport = now;
      log(`features ${p.done}/${p.total}  (${p.reused} reused, ${p.built} extracted, ${p.failed} failed)  ${p.itemsPerSecond.toFixed(2)} items/s  ETA ${time(p.eta)}`);
    }
  });
  for (const f of built.failed) log(`features: skipped ${f.id} (line ${f.line}): ${f.kind}: ${f.message}`);
  if (built.cache.size === 0) throw new UserError(`${args.data}: no train item could be decoded (see the lines above)`);
  const cache: FeatureCache = built.cache;
  const shapes = featureShapes(feat);

  // ---- stages
  const plotFile = join(out, 'loss.png');
  let plotting: Promise<void> = Promise.resolve();
  const plot = () => {
    plotting = plotting.then(() => writeLossPng(plotFile, lossPoints(out), `Omni-Emotion ${presetName}: training loss`)).catch((e) => log(`loss.png: not written: ${(e as Error).message}`));
    return plotting;
  };

  // the values the next stage starts from: the latest finished stage before the first requested one
  let carried: Record<string, HostTensor> | undefined;
  const firstIdx = STAGES.indexOf(stages[0]);
  for (let i = firstIdx - 1; i >= 0 && !carried; i--) {
    const dir = join(out, STAGES[i]);
    if (existsSync(join(dir, 'done.json')) && existsSync(join(dir, 'checkpoint.safetensors'))) {
      carried = mergeLora(checkpointParams(join(dir, 'checkpoint.safetensors')));
      log(`${stages[0]}: starts from the parameters ${STAGES[i]} ended with (${join(dir, 'checkpoint.safetensors')})`);
    }
  }
  if (!carried && firstIdx > 0) log(`${stages[0]}: no earlier stage in ${out}: starting from the initialisers (seed ${rc.seed})`);
  if (!carried && Object.keys(pretrained).length) carried = pretrained;

  // ---- the frozen encoders' outputs, once per item (their values never change in any stage)
  let encoded: EncodedItems | undefined;
  // the stages train on standardised encoder outputs (their checkpoints hold those parameters);
  // model.safetensors gets the projectors folded back to raw features
  let stats: Partial<Record<FeatureField, ChannelStats>> | undefined;
  if (rc.encoder_cache) {
    const te = performance.now();
    const fields = [...new Set(stages.flatMap((st) => stageFields(st, rc)))];
    const trainIds = new Set(trainItems.map((it) => it.entry.id));
    const ids = cache.ids().filter((id) => trainIds.has(id));
    let lastEnc = 0;
    encoded = await EncodedItems.build({
      model, seed: rc.seed, initial: carried, cache, ids, fields, inputShapes: shapes, backend: args.backend,
      progress: (done, total) => {
        const now = performance.now();
        if (done === total || now - lastEnc > 2000) {
          lastEnc = now;
          log(`encoders ${done}/${total} items (frozen: encoded once, not in every step)`);
        }
      },
    });
    log(`encoders: ${encoded.size} items encoded in ${time((performance.now() - te) / 1000)}`);
    if (rc.standardize_features) stats = encoded.standardize();
  }

  const reports: StageReport[] = [];
  let interrupted = false;
  let finalValues: Record<string, HostTensor> | undefined;
  for (const stage of stages) {
    const dir = join(out, stage);
    const ckpt = join(dir, 'checkpoint.safetensors');
    const csv = join(dir, 'loss.csv');
    const doneFile = join(dir, 'done.json');
    mkdirSync(dir, { recursive: true });
    const { params, train: trainPatterns } = stageParams(model, stage, rc);
    if (existsSync(doneFile) && existsSync(ckpt) && args.resume) {
      const done = JSON.parse(readFileSync(doneFile, 'utf8')) as { steps: number; lastLoss: number };
      log(`${stage}: already finished (${done.steps} steps, loss ${done.lastLoss}): skipped`);
      finalValues = checkpointParams(ckpt);
      carried = mergeLora(finalValues);
      reports.push({ stage, status: 'skipped', steps: done.steps, ran: 0, lastLoss: done.lastLoss, seconds: 0, secondsPerStep: NaN, firstStepSeconds: NaN, trainable: [], trainableCount: 0 });
      continue;
    }
    if (existsSync(ckpt) && !args.resume) throw new UserError(`${ckpt} exists: pass --resume to continue that run, or choose another --out`);

    const kinds = stageKinds(stage, rc);
    const { manifest, dropped } = stageManifest(train, stage, kinds);
    if (manifest.items.length === 0) throw new UserError(`${args.data}: no train item has ${kinds.map((k) => `<${k}>`).join(' and ')} for stage ${stage}`);
    if (dropped) log(`${stage}: ${dropped} item(s) without ${kinds.map((k) => `<${k}>`).join(' and ')} left out`);
    const loader: Loader = createLoader({ manifest, cache, tokenizer, batchSize: rc.batch_size, seed: rc.seed + STAGE_NUMBER[stage], dropLast: true });
    for (const s of loader.dataset.skipped) log(`${stage}: skipped ${s.id} (line ${s.line}): ${s.reason}`);
    const B = rc.batch_size;
    const L = Math.max(...loader.dataset.items.map((it) => it.ids.length));
    const padId = tokenizer.special.pad ?? tokenizer.special.eos ?? 0;
    const used = stageFields(stage, rc);
    const fields = loader.dataset.items[0].fields.filter((f) => used.includes(f as FeatureField));
    const batchSpec: Record<string, ReturnType<typeof spec>> = { input_ids: spec([B, L], 'i32'), labels: spec([B, L], 'i32') };
    for (const f of fields) {
      if (encoded) batchSpec[ENCODER_OUTPUT[f as FeatureField]] = spec(encoded.batchShape(f as FeatureField, B));
      else batchSpec[f] = f === 'input_features' ? spec([B, ...shapes.input_features]) : spec([B * feat.frames, ...shapes[f].slice(1)]);
    }

    const sc = rc.stages[stage];
    const steps = sc.steps ?? sc.epochs * loader.batchesPerEpoch;
    const warmupSteps = Math.round(rc.warmup_ratio * steps);
    log(`${stage}: ${loader.dataset.items.length} items, ${loader.batchesPerEpoch} batches of ${B} an epoch, ${steps} steps, lr ${sc.lr} (cosine, ${warmupSteps} warm-up steps)${stage === 'instruct' ? `, ${sc.tuning === 'lora' ? `LoRA rank ${sc.lora.rank} alpha ${sc.lora.alpha}` : 'full tuning'}` : ''}; sequence ${L} tokens`);

    const t0 = performance.now();
    const trainer = await Trainer.create({
      params,
      loss: omniLoss(model) as never,
      batch: batchSpec as SpecTree,
      optimizer: { kind: 'adamw', weightDecay: rc.weight_decay },
      lr: sc.lr,
      schedule: { kind: 'cosine', warmupSteps, totalSteps: steps },
      train: trainPatterns,
      clipNorm: rc.clip_norm,
      seed: rc.seed,
      backend: args.backend,
      initial: carried,
    });
    const counts = trainer.parameterCount();
    log(`${stage}: ${trainer.trainable.length} trainable tensors (${counts.trainable.toLocaleString('en-US')} of ${counts.total.toLocaleString('en-US')} parameters); trainer ready in ${time((performance.now() - t0) / 1000)} (the first step compiles the shaders)`);
    let resumedFrom: number | undefined;
    if (args.resume && existsSync(ckpt)) {
      await loadCheckpoint(trainer, ckpt);
      resumedFrom = trainer.state.step;
      truncateCsv(csv, resumedFrom);
      const pos = loader.positionOf(resumedFrom);
      log(`${stage}: resumed from ${ckpt} at step ${resumedFrom} (epoch ${pos.epoch}, batch ${pos.index})`);
    }

    const stepTimes: number[] = [];
    let tStep = performance.now();
    let sincePlot = 0;
    let summary: LoopSummary;
    try {
      summary = await trainLoop(trainer, {
        steps,
        data: async (step) => {
          const b = await loader.batchAt(step);
          tStep = performance.now();
          return toModelBatch(b, L, padId, fields, encoded);
        },
        samplesPerStep: B,
        logEvery: Math.min(rc.log_every, Math.max(1, Math.ceil(steps / 10))),
        csv,
        checkpoint: { path: ckpt, every: loader.batchesPerEpoch, config: { stage, preset: presetName, model: modelJson, run: rc } },
        log: (l) => log(`[${stage}] ${l}`),
        onStep: () => {
          stepTimes.push((performance.now() - tStep) / 1000);
          if (++sincePlot >= rc.plot_every) {
            sincePlot = 0;
            // the CSV row of this step is appended after onStep: plot on the next tick
            setImmediate(() => void plot());
          }
        },
      });
    } finally {
      await loader.close();
    }
    const timed = stepTimes.length > 1 ? stepTimes.slice(1) : stepTimes;
    const report: StageReport = {
      stage,
      status: summary.interrupted && summary.steps < steps ? 'interrupted' : 'trained',
      steps: summary.steps,
      ran: stepTimes.length,
      lastLoss: summary.lastLoss,
      seconds: summary.seconds,
      secondsPerStep: timed.reduce((a, b) => a + b, 0) / Math.max(1, timed.length),
      firstStepSeconds: stepTimes[0] ?? NaN,
      trainable: trainer.trainable,
      trainableCount: counts.trainable,
      resumedFrom,
    };
    reports.push(report);
    if (report.status === 'interrupted') {
      trainer.dispose();
      interrupted = true;
      log(`${stage}: interrupted at step ${summary.steps}/${steps}; checkpoint ${ckpt}; continue with --resume`);
      break;
    }
    finalValues = await trainer.readParams();
    carried = mergeLora(finalValues);
    trainer.dispose();
    writeJsonAtomic(doneFile, { steps: summary.steps, lastLoss: summary.lastLoss, seconds: summary.seconds, secondsPerStep: report.secondsPerStep });
    log(`${stage}: done, ${summary.steps} steps, last loss ${summary.lastLoss.toFixed(4)}, ${report.secondsPerStep.toFixed(2)} s/step (first step ${report.firstStepSeconds.toFixed(1)} s)`);
    await plot();
  }
  await plot();
  await cache.close();

  let modelFile: string | undefined;
  if (!interrupted && finalValues) {
    const merged = stats ? foldStandardization(mergeLora(finalValues), stats) : mergeLora(finalValues);
    const names = new Set(paramEntries(omniParams(model) as unknown as ParamTree).map(([p]) => p));
    const tensors: Record<string, TensorToWrite> = {};
    for (const [k, v] of Object.entries(merged)) if (names.has(k)) tensors[k] = { dtype: toSt(v), shape: [...v.shape], data: v.data as TensorToWrite['data'] };
    modelFile = join(out, 'model.safetensors');
    writeSafetensorsAtomic(modelFile, tensors, { format: 'pt', producer: 'omni-emotion train', preset: presetName, stages: stages.join(',') });
    writeJsonAtomic(join(out, 'config.json'), modelJson);
    log(`wrote ${modelFile} and ${join(out, 'config.json')}`);
  }
  return { config: rc, stages: reports, interrupted, model: modelFile, plot: plotFile };
}

