/**
 * Omni-Emotion inference: a trained checkpoint (what `omni-emotion train` writes: DIR/config.json
 * and DIR/model.safetensors, LoRA merged; DIR/run.json for the preset and the face-detector
 * setting) describes a clip.
 *
 *   media --extractFeatures (the checkpoint's preset, frames and face rule)--> pixel_values, face_values, input_features
 *   ChatML prompt (SynthEmo's instruction, `<video>` / `<audio>` placeholders) --encodeChat--> ids with -200 / -300
 *   (ids, features) --omniEmbeddings (model.ts: encoders, projectors, fusion, splice), one compiled executable--> inputs_embeds [1, L', H]
 *   inputs_embeds --generate (models/llm/generate.ts: prefill + KV-cache decode, greedy by default)--> answer ids
 *   answer --tokenizer.decode--> text --extractEmotionLabels--> open-vocabulary labels
 *
 * Modalities can be left out (the `--ablate modality` settings V, V+A, V+F, V+A+F): a stream
 * that is off is not given to omniEmbeddings (model.ts builds the `<video>` block from whichever
 * of the visual and face streams it gets), and without audio the `<audio>` placeholder is
 * removed from the prompt (model.ts requires exactly one placeholder per given modality).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../../../cli/errors';
import { spec } from '../../../compiler/trace';
import type { SpecTree } from '../../../compiler/trace';
import type { Tensor } from '../../../dsl/tensor';
import type { ParamTree } from '../../../dsl/params';
import { paramEntries, paramSpecs } from '../../../dsl/params';
import { compile } from '../../../runtime/compile';
import type { DeviceTensor } from '../../../runtime/device-tensor';
import type { Executable } from '../../../runtime/executable';
import type { BackendName } from '../../../runtime/gpu';
import { defaultBackend } from '../../../runtime/gpu';
import type { HostTensor } from '../../../runtime/host';
import { loadWeights } from '../../weights';
import { generate } from '../../llm/generate';
import type { GenerateOptions, Qwen2Model, SamplingOptions } from '../../llm/generate';
import { extractFeatures, featureOptions, featureShapes } from '../../../data/features/index';
import type { FaceDetector, FeatureOptions, Features } from '../../../data/features/index';
import { ByteTokenizer } from '../../../data/tokenizer/bytes';
import { loadTokenizerFile } from '../../../data/tokenizer/load';
import type { Tokenizer } from '../../../data/tokenizer/types';
import { PLACEHOLDERS, encodeChat } from '../../../data/tokenizer/chat';
import { PROMPT } from '../../../data/synth/index';
import { extractEmotionLabels } from '../../../data/metrics/index';
import { PRESETS, PRESET_INPUTS } from '../presets';
import type { PresetName } from '../presets';
import type { OmniConfig } from '../config';
import { faceImageSize, omniConfig } from '../config';
import { omniEmbeddings, omniParams } from '../model';
import type { OmniParams } from '../model';

/** The standard instruction (SynthEmo's), placeholders included. */
export const DESCRIBE_PROMPT = PROMPT;

export interface Modalities {
  /** the general visual stream (SigLIP) */
  readonly visual: boolean;
  /** the face stream */
  readonly face: boolean;
  readonly audio: boolean;
}

export const ALL_MODALITIES: Modalities = { visual: true, face: true, audio: true };

/** The modality-ablation settings (data/metrics MODALITY_SETTINGS' names). */
export const MODALITY_ABLATION: readonly (readonly [string, Modalities])[] = [
  ['V', { visual: true, face: false, audio: false }],
  ['V+A', { visual: true, face: false, audio: true }],
  ['V+F', { visual: true, face: true, audio: false }],
  ['V+A+F', ALL_MODALITIES],
];

export interface OmniCheckpoint {
  readonly dir: string;
  readonly config: OmniConfig;
  /** omniParams' paths -> values */
  readonly params: Readonly<Record<string, HostTensor>>;
  readonly preset: PresetName;
  readonly features: FeatureOptions;
  /** whether training cropped faces with the detector (run.json detect_faces) */
  readonly detectFaces: boolean;
  readonly tokenizer: Tokenizer;
  /** the Qwen2 decoder for generate() (the `llm.*` weights) */
  readonly llm: Qwen2Model;
  readonly backend: BackendName;
}

export interface LoadOptions {
  readonly backend?: BackendName;
}

function readJson(file: string, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${file}: cannot read the ${what}: ${(e as Error).message}`);
  }
}

function tokenizerFor(dir: string, c: OmniConfig): Tokenizer {
  for (const name of ['tokenizer.json', 'tokenizer.json.gz']) if (existsSync(join(dir, name))) return loadTokenizerFile(join(dir, name));
  const bytes = new ByteTokenizer();
  if (c.text_config.vocab_size === bytes.vocabSize) return bytes;
  throw new UserError(`${dir}: no tokenizer.json, and the vocabulary (${c.text_config.vocab_size}) is not the byte tokenizer's (${bytes.vocabSize})`);
}

/** Reads a checkpoint folder written by `omni-emotion train` (config.json + model.safetensors [+ run.json]). */
export function loadOmniCheckpoint(dir: string, opts: LoadOptions = {}): OmniCheckpoint {
  const d = resolve(dir);
  if (!existsSync(d) || !statSync(d).isDirectory()) throw new UserError(`${dir}: no such checkpoint folder (omni-emotion train --out DIR writes one)`);
  const cfgFile = join(d, 'config.json');
  const weights = join(d, 'model.safetensors');
  if (!existsSync(cfgFile)) throw new UserError(`${dir}: no config.json (not a finished training run?)`);
  if (!existsSync(weights)) throw new UserError(`${dir}: no model.safetensors (not a finished training run?)`);
  const config = omniConfig(readJson(cfgFile, 'model config'), cfgFile);
  const params = loadWeights(omniParams(config) as unknown as ParamTree, weights);
  const run = existsSync(join(d, 'run.json')) ? readJson(join(d, 'run.json'), 'run config') : {};
  const preset = (PRESETS as readonly string[]).includes(run.preset as string) ? (run.preset as PresetName) : 'tiny';
  const features = featureOptions(preset, {
    frames: config.num_frames,
    frameSize: config.vision_config.image_size,
    faceSize: faceImageSize(config.face_config),
    audioSeconds: PRESET_INPUTS[preset].seconds,
  });
  const tokenizer = tokenizerFor(d, config);
  const backend = opts.backend ?? defaultBackend();
  const llmParams: Record<string, HostTensor> = {};
  for (const [k, v] of Object.entries(params)) if (k.startsWith('llm.')) llmParams[k.slice(4)] = v;
  const llm: Qwen2Model = { config: config.text_config, params: llmParams, backend, tokenizer };
  return { dir: d, config, params, preset, features, detectFaces: run.detect_faces !== false, tokenizer, llm, backend };
}

// ------------------------------------------------------------------ prompt

/** `<video>` or `<audio>` (and the newline after it) out of a text. */
export function stripPlaceholder(text: string, kind: 'video' | 'audio'): string {
  const p = PLACEHOLDERS[kind].text;
  return text.split(`${p}\n`).join('').split(p).join('');
}

/** The user turn for the given modalities: placeholders of absent modalities removed, missing ones added in front. */
export function promptFor(instruction: string, m: Modalities): string {
  let text = instruction;
  const video = m.visual || m.face;
  if (!video) text = stripPlaceholder(text, 'video');
  if (!m.audio) text = stripPlaceholder(text, 'audio');
  if (m.audio && !text.includes(PLACEHOLDERS.audio.text)) text = `${PLACEHOLDERS.audio.text}\n${text}`;
  if (video && !text.includes(PLACEHOLDERS.video.text)) text = `${PLACEHOLDERS.video.text}\n${text}`;
  return text;
}

/** Prompt ids (ChatML, generation prompt at the end), with the placeholder ids. */
export function promptIds(ck: OmniCheckpoint, instruction: string, m: Modalities): number[] {
  const { ids } = encodeChat(ck.tokenizer, [{ role: 'user', content: promptFor(instruction, m) }]);
  // the config's placeholder ids may differ from chat.ts's
  return ids.map((id) => (id === PLACEHOLDERS.video.id ? ck.config.video_token_index : id === PLACEHOLDERS.audio.id ? ck.config.audio_token_index : id));
}

// ------------------------------------------------------------------ embeddings

/** The parameter tree the embedding step reads: the used encoders/projectors and the token table. */
function embedParamTree(c: OmniConfig, m: Modalities): ParamTree {
  const full = omniParams(c) as unknown as Record<string, any>;
  const sub: Record<string, unknown> = { llm: { model: { embed_tokens: full.llm.model.embed_tokens } } };
  const keep = (k: string) => {
    if (full[k] !== undefined) sub[k] = full[k];
  };
  if (m.visual) ['vision_tower', 'mm_projector', 'image_newline'].forEach(keep);
  if (m.face) ['face_encoder', 'face_projector'].forEach(keep);
  if (m.visual && m.face) keep('fusion');
  if (m.audio) ['audio_encoder', 'audio_projector'].forEach(keep);
  return sub;
}

interface EmbedState {
  exes: Map<string, Promise<Executable>>;
  weights: Map<string, DeviceTensor>;
}
const embedStates = new WeakMap<OmniCheckpoint, EmbedState>();

function embedState(ck: OmniCheckpoint): EmbedState {
  let s = embedStates.get(ck);
  if (!s) embedStates.set(ck, (s = { exes: new Map(), weights: new Map() }));
  return s;
}

/** Frees the device copies of a checkpoint's weights held by the embedding step. */
export function releaseCheckpoint(ck: OmniCheckpoint): void {
  const s = embedStates.get(ck);
  if (!s) return;
  for (const t of s.weights.values()) t.dispose();
  embedStates.delete(ck);
}

/** The embedding step as a traceable function: one prompt of L ids and one clip's features -> inputs_embeds [1, L', H]. */
export function embedGraph(c: OmniConfig, features: FeatureOptions, L: number, m: Modalities): { fn: (a: any) => unknown; specs: SpecTree; tree: ParamTree } {
  const shapes = featureShapes(features);
  const T = features.frames;
  const tree = embedParamTree(c, m);
  const fn = (a: { params: OmniParams; input_ids: Tensor; pixel_values?: Tensor; face_values?: Tensor; input_features?: Tensor }) =>
    omniEmbeddings(c, a.params, { input_ids: a.input_ids, pixel_values: a.pixel_values, face_values: a.face_values, input_features: a.input_features }).embeds;
  const specs: Record<string, unknown> = { params: paramSpecs(tree), input_ids: spec([1, L], 'i32') };
  if (m.visual) specs.pixel_values = spec([T, ...shapes.pixel_values.slice(1)]);
  if (m.face) specs.face_values = spec([T, ...shapes.face_values.slice(1)]);
  if (m.audio) specs.input_features = spec([1, ...shapes.input_features]);
  return { fn, specs: specs as SpecTree, tree };
}

/** inputs_embeds [1, L', H] for one prompt and one clip's features (a compiled executable per modality set and L). */
export async function spliceEmbeddings(ck: OmniCheckpoint, ids: readonly number[], f: Features, m: Modalities): Promise<HostTensor> {
  const c = ck.config;
  const L = ids.length;
  const { fn, specs, tree } = embedGraph(c, ck.features, L, m);
  const inputs: Record<string, unknown> = { input_ids: Int32Array.from(ids) };
  const need = (field: 'pixel_values' | 'face_values' | 'input_features') => {
    const data = f[field];
    if (!data) throw new UserError(`the clip has no ${field} (${field === 'input_features' ? 'no audio' : 'no video'}); leave that modality out`);
    return data;
  };
  if (m.visual) inputs.pixel_values = need('pixel_values');
  if (m.face) inputs.face_values = need('face_values');
  if (m.audio) inputs.input_features = need('input_features');
  const s = embedState(ck);
  const key = `${+m.visual}${+m.face}${+m.audio} ${L}`;
  let exeP = s.exes.get(key);
  if (!exeP) {
    exeP = compile(fn, specs, { backend: ck.backend, external: (n) => n.startsWith('params.'), constant: (n) => n.startsWith('params.') });
    exeP.catch(() => s.exes.delete(key));
    s.exes.set(key, exeP);
  }
  const exe = await exeP;
  const weights: Record<string, DeviceTensor> = {};
  for (const [p, sp] of paramEntries(tree)) {
    let t = s.weights.get(p);
    if (!t) {
      const h = ck.params[p];
      if (!h) throw new Error(`describe: the checkpoint has no parameter '${p}'`);
      s.weights.set(p, (t = exe.deviceTensor(sp.shape, sp.dtype, h)));
    }
    weights[p] = t;
  }
  const out = await exe.run({ ...inputs, params: weights });
  const name = Object.keys(out)[0];
  return out[name];
}

// ------------------------------------------------------------------ describe

export interface DescribeOptions extends SamplingOptions {
  /** default 160 (a SynthEmo answer is ~115 byte tokens) */
  readonly maxNewTokens?: number;
  /** the instruction (placeholders optional; default the SynthEmo instruction) */
  readonly prompt?: string;
  readonly modalities?: Modalities;
  /** precomputed features of the clip (eval reuses them across settings) */
  readonly features?: Features;
  /** face detector; default: the checkpoint's training rule (run.json detect_faces: false -> none) */
  readonly detector?: FaceDetector | null;
  readonly seed?: number;
  /** generate()'s per-step hook (step 0 gets the prefill's logits) */
  readonly onStep?: GenerateOptions['onStep'];
}

export interface DescribeTimings {
  readonly featuresMs: number;
  readonly embedMs: number;
  readonly prefillMs: number;
  readonly decodeMs: number;
  readonly decodeSteps: number;
  readonly totalMs: number;
  /** new tokens generated */
  readonly tokens: number;
  /** spliced prompt length L' */
  readonly promptTokens: number;
}

export interface Description {
  readonly text: string;
  readonly labels: string[];
  readonly finish: 'stop' | 'length';
  readonly timings: DescribeTimings;
}

/** One clip's features for a checkpoint (MediaError for a bad file). */
export function clipFeatures(ck: OmniCheckpoint, mediaPath: string | { video?: string; audio?: string }, detector?: FaceDetector | null): Promise<Features> {
  return extractFeatures(mediaPath, ck.features, { detector: detector !== undefined ? detector : ck.detectFaces ? undefined : null, backend: ck.backend });
}

/** Describes the emotional state of the person in a clip: the generated text and its emotion labels. */
export async function describe(ck: OmniCheckpoint, mediaPath: string | { video?: string; audio?: string }, opts: DescribeOptions = {}): Promise<Description> {
  const t0 = performance.now();
  const f = opts.features ?? (await clipFeatures(ck, mediaPath, opts.detector));
  const t1 = performance.now();
  const m = opts.modalities ?? ALL_MODALITIES;
  const ids = promptIds(ck, opts.prompt ?? DESCRIBE_PROMPT, m);
  const embeds = await spliceEmbeddings(ck, ids, f, m);
  const t2 = performance.now();
  const tok = ck.tokenizer;
  const stops = [tok.special.imEnd, tok.special.eos].filter((x): x is number => x !== undefined);
  const g = await generate(ck.llm, { inputsEmbeds: embeds }, { ...opts, maxNewTokens: opts.maxNewTokens ?? 160, stopTokens: stops, tokenizer: tok });
  const ids0 = g.ids[0];
  const text = tok.decode(g.finish[0] === 'stop' ? ids0.slice(0, -1) : ids0, { skipSpecialTokens: true }).trim();
  const t3 = performance.now();
  return {
    text,
    labels: extractEmotionLabels(text),
    finish: g.finish[0],
    timings: {
      featuresMs: opts.features ? 0 : t1 - t0,
      embedMs: t2 - t1,
      prefillMs: g.timings.prefillMs,
      decodeMs: g.timings.decodeMs,
      decodeSteps: g.timings.decodeSteps,
      totalMs: t3 - t0,
      tokens: ids0.length,
      promptTokens: embeds.shape[1],
    },
  };
}
