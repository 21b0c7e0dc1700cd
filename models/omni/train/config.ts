/**
 * The run config of `omni-emotion train` (io-ts, strict: an unknown or mistyped field is an
 * error naming the field). `--config FILE` holds a JSON object of these fields; command-line
 * `--steps` / `--batch` win over the file. Defaults (PAPER.md "Decisions where the paper is
 * silent"): AdamW (weight decay 0), cosine schedule with 3% warm-up, lr 1e-3 for the projector-only
 * stages (audio-align, face-align) and 2e-5 for instruct (LLM tuning), LoRA on the LLM's attention
 * projections (q, k, v, o; rank 8, alpha 16) in instruct, 1 epoch per stage, batch 8.
 *
 * The tiny preset starts from random weights everywhere (there are no pretrained tiny encoders or
 * LLM), so its defaults are larger: lr 3e-3 for the projector stages and 1e-3 for instruct, 3
 * epochs per stage, batch 2. (For a random LLM, `"tuning": "full"` in instruct learns far more
 * than LoRA; LoRA stays the default so that every preset runs the paper's recipe.)
 *
 *   {
 *     "seed": 0, "batch_size": 2, "frames": 4, "fusion": "video_concat", "detect_faces": true,
 *     "face_encoder": "preset", "encoder_cache": true, "standardize_features": true,
 *     "modalities": { "face": true, "audio": true },
 *     "warmup_ratio": 0.03, "weight_decay": 0, "clip_norm": 1, "log_every": 10, "plot_every": 50,
 *     "stages": {
 *       "audio-align": { "lr": 1e-3, "epochs": 1, "train_llm": false },
 *       "face-align":  { "lr": 1e-3, "steps": 200 },
 *       "instruct":    { "lr": 2e-5, "tuning": "lora", "lora": { "rank": 8, "alpha": 16 } }
 *     }
 *   }
 */
import * as t from 'io-ts';
import { decodeOrThrow, described, exactStrict, NonNegativeInt, PositiveInt, PositiveNumber, readJsonConfig } from '../../../dsl/config';
import { FUSIONS } from '../config';
import type { PresetName } from '../presets';

export const STAGES = ['audio-align', 'face-align', 'instruct'] as const;
export type StageName = (typeof STAGES)[number];
export const STAGE_NUMBER: Record<StageName, 1 | 2 | 3> = { 'audio-align': 1, 'face-align': 2, instruct: 3 };

const Ratio = described(t.refinement(t.number, (n) => n >= 0 && n < 1, 'Ratio'), 'a number in [0, 1)');
const NonNegative = described(t.refinement(t.number, (n) => Number.isFinite(n) && n >= 0, 'NonNegative'), 'a non-negative number');

export const LoraOptions = exactStrict(
  t.partial({
    rank: PositiveInt,
    alpha: PositiveNumber,
    dropout: described(t.refinement(t.number, (n) => n >= 0 && n < 1, 'Dropout'), 'a number in [0, 1)'),
    /** LoRA targets: linear layers by path pattern (default: the attention projections) */
    targets: t.array(t.string),
  }),
  'LoraOptions',
);

export const StageOptions = exactStrict(
  t.partial({
    lr: PositiveNumber,
    /** optimizer steps of the stage (wins over epochs) */
    steps: PositiveInt,
    epochs: PositiveInt,
    /** instruct only: LoRA (default) or full tuning of the LLM */
    tuning: t.keyof({ lora: null, full: null }),
    /** audio-align / face-align: also tune the whole LLM (a model without a pretrained LLM, like tiny, has none to align to) */
    train_llm: t.boolean,
    lora: LoraOptions,
  }),
  'StageOptions',
);

export const RunConfigFile = exactStrict(
  t.partial({
    seed: NonNegativeInt,
    batch_size: PositiveInt,
    frames: PositiveInt,
    fusion: t.keyof(Object.fromEntries(FUSIONS.map((f) => [f, null])) as Record<(typeof FUSIONS)[number], null>),
    detect_faces: t.boolean,
    /** 'preset': the preset's face encoder; 'face-api': face-api's pretrained expression CNN (112 px crops) */
    face_encoder: t.keyof({ preset: null, 'face-api': null }),
    /** encode each item once with the frozen encoders instead of in every step (default true) */
    encoder_cache: t.boolean,
    /** with encoder_cache: train on per-channel standardised encoder outputs, folded into the projectors at the end (default true) */
    standardize_features: t.boolean,
    /** the streams the model is trained with (the paper's modality ablation trains one model per setting); vision is always on */
    modalities: exactStrict(t.partial({ face: t.boolean, audio: t.boolean }), 'Modalities'),
    warmup_ratio: Ratio,
    weight_decay: NonNegative,
    /** 0: no clipping */
    clip_norm: NonNegative,
    log_every: PositiveInt,
    plot_every: PositiveInt,
    stages: exactStrict(t.partial({ 'audio-align': StageOptions, 'face-align': StageOptions, instruct: StageOptions }), 'Stages'),
  }),
  'RunConfig',
);
export type RunConfigFile = t.TypeOf<typeof RunConfigFile>;
/** The same fields as plain JSON values (what a caller writes; checked by decodeRunConfig). */
export type RunConfigInput = t.OutputOf<typeof RunConfigFile>;

export interface StageConfig {
  readonly lr: number;
  readonly steps?: number;
  readonly epochs: number;
  readonly tuning: 'lora' | 'full';
  readonly train_llm: boolean;
  readonly lora: { readonly rank: number; readonly alpha: number; readonly dropout: number; readonly targets: readonly string[] };
}

/** The resolved run config (every field has its value). */
export interface RunConfig {
  readonly preset: PresetName;
  readonly seed: number;
  readonly batch_size: number;
  /** undefined: the preset's num_frames */
  readonly frames?: number;
  readonly fusion?: (typeof FUSIONS)[number];
  readonly detect_faces: boolean;
  readonly face_encoder: 'preset' | 'face-api';
  readonly encoder_cache: boolean;
  readonly standardize_features: boolean;
  readonly modalities: { readonly face: boolean; readonly audio: boolean };
  readonly warmup_ratio: number;
  readonly weight_decay: number;
  readonly clip_norm: number;
  readonly log_every: number;
  readonly plot_every: number;
  readonly stages: Readonly<Record<StageName, StageConfig>>;
}

export const DEFAULT_LORA_TARGETS = ['llm.model.layers.*.self_attn.q_proj', 'llm.model.layers.*.self_attn.k_proj', 'llm.model.layers.*.self_attn.v_proj', 'llm.model.layers.*.self_attn.o_proj'];

/** PAPER.md's defaults, and the tiny preset's larger ones (see the file comment). */
export function defaultStageLr(preset: PresetName, stage: StageName): number {
  if (preset === 'tiny') return stage === 'instruct' ? 1e-3 : 3e-3;
  return stage === 'instruct' ? 2e-5 : 1e-3;
}

/** Resolves a decoded config file (plus command-line overrides) against the preset's defaults. */
export function resolveRunConfig(preset: PresetName, file: RunConfigFile = {}, cli: { steps?: number; batch?: number } = {}): RunConfig {
  const tiny = preset === 'tiny';
  const stage = (name: StageName): StageConfig => {
    const s = file.stages?.[name] ?? {};
    return {
      lr: s.lr ?? defaultStageLr(preset, name),
      steps: cli.steps ?? s.steps,
      epochs: s.epochs ?? (tiny ? 3 : 1),
      tuning: s.tuning ?? 'lora',
      train_llm: s.train_llm ?? false,
      lora: { rank: s.lora?.rank ?? 8, alpha: s.lora?.alpha ?? 16, dropout: s.lora?.dropout ?? 0, targets: s.lora?.targets ?? DEFAULT_LORA_TARGETS },
    };
  };
  return {
    preset,
    seed: file.seed ?? 0,
    batch_size: cli.batch ?? file.batch_size ?? (tiny ? 2 : 8),
    frames: file.frames,
    fusion: file.fusion,
    detect_faces: file.detect_faces ?? true,
    face_encoder: file.face_encoder ?? 'preset',
    encoder_cache: file.encoder_cache ?? true,
    standardize_features: file.standardize_features ?? true,
    modalities: { face: file.modalities?.face ?? true, audio: file.modalities?.audio ?? true },
    warmup_ratio: file.warmup_ratio ?? 0.03,
    weight_decay: file.weight_decay ?? 0,
    clip_norm: file.clip_norm ?? 1,
    log_every: file.log_every ?? 10,
    plot_every: file.plot_every ?? 50,
    stages: { 'audio-align': stage('audio-align'), 'face-align': stage('face-align'), instruct: stage('instruct') },
  };
}

/** Reads and checks `--config FILE` (ConfigError naming the file and the field). */
export const readRunConfigFile = (path: string): Promise<RunConfigFile> => readJsonConfig(RunConfigFile, path);

/** Checks an in-memory config object (tests, programmatic use). */
export const decodeRunConfig = (value: unknown, label = 'run config'): RunConfigFile => decodeOrThrow(RunConfigFile, value, label);
