/**
 * Text generation with a KV cache that stays on the device.
 *
 * Two executables per (batch, prompt length, cache length):
 * - prefill: the prompt (token ids [B, L] or `inputs_embeds` [B, L, H]) through the decoder
 *   with causal attention; returns the last position's logits [B, V] and writes every layer's
 *   keys and values, zero-padded to the cache length M, into device tensors
 *   `k.i`, `v.i` [B, kv_heads, M, head_dim];
 * - decode: one token [B, 1] at position `pos` (an i32 [1] input, so ONE executable serves every
 *   position): its key/value enter the cache as `where(iota == pos, new, old)`, the query
 *   attends over the whole cache with the mask `key_index <= pos`, and the updated caches are
 *   written back into the same device tensors (`run(..., { into })`).
 * The weights are uploaded once per model and backend and bound as device tensors.
 *
 * Sampling runs on the host from the logits, in Hugging Face's order: temperature, top-k
 * (ties with the k-th value kept, as HF), top-p (the smallest most-probable set whose mass
 * reaches p, the most probable token always kept; tokens tied with the last one kept are kept
 * too), then a draw with a counter-based RNG (Threefry, the
 * project's kernels/rng.ts) seeded by `seed`: the same seed gives the same tokens.
 */
import type { Shape, Tensor } from '../../dsl/tensor';
import { iota, where } from '../../dsl/tensor';
import { attention } from '../../compiler/composites';
import { spec } from '../../compiler/trace';
import type { SpecTree } from '../../compiler/trace';
import { paramEntries, paramSpecs } from '../../dsl/params';
import { readJsonConfig } from '../../dsl/config';
import { keyFromSeed, uniformAt } from '../../kernels/rng';
import { compile } from '../../runtime/compile';
import type { Executable } from '../../runtime/executable';
import type { DeviceTensor } from '../../runtime/device-tensor';
import type { BackendName } from '../../runtime/gpu';
import { defaultBackend } from '../../runtime/gpu';
import type { HostTensor } from '../../runtime/host';
import { loadWeights } from '../weights';
import type { Qwen2Dims, Qwen2Weights } from './qwen2';
import { Qwen2Config, eosTokens, qwen2Architecture, qwen2Decoder, qwen2Dims, qwen2Embed, qwen2Head, qwen2Params } from './qwen2';

/** Anything that turns ids into text (data/tokenizer's tokenizers do). */
export interface Detokenizer {
  decode(ids: readonly number[]): string;
}

export interface Qwen2Model {
  readonly config: Qwen2Config;
  /** every parameter by its HF name (what loadWeights or initParams return) */
  readonly params: Readonly<Record<string, HostTensor>>;
  /** default: the default backend (OMNI_BACKEND, else the platform's GPU backend) */
  readonly backend?: BackendName;
  readonly tokenizer?: Detokenizer;
}

/** Reads a HF config.json and a checkpoint (file, sharded index or folder). */
export async function loadQwen2(configPath: string, weightsPath: string, opts: { backend?: BackendName; tokenizer?: Detokenizer } = {}): Promise<Qwen2Model> {
  const config = await readJsonConfig(Qwen2Config, configPath);
  const params = loadWeights(qwen2Params(config), weightsPath, qwen2Architecture.weights);
  return { config, params, ...opts };
}

export interface SamplingOptions {
  /** sample (true) or take the argmax (false, the default, as HF's do_sample=False) */
  readonly sample?: boolean;
  /** divides the logits before sampling (default 1); 0 means greedy */
  readonly temperature?: number;
  /** keep the k most probable tokens (0 or absent: all) */
  readonly topK?: number;
  /** keep the smallest most-probable set whose probability reaches p (1 or absent: all) */
  readonly topP?: number;
}

export interface GenerateOptions extends SamplingOptions {
  /** default 32 */
  readonly maxNewTokens?: number;
  /** a generated stop token ends its row (it is kept in `ids`, left out of `text`); default: the config's eos_token_id */
  readonly stopTokens?: readonly number[];
  readonly seed?: number;
  /** KV-cache capacity in positions; default: prompt + maxNewTokens rounded up to a multiple of 32 */
  readonly maxLen?: number;
  readonly tokenizer?: Detokenizer;
  /** called after every step with that step's logits [B, V] (row-major) and chosen tokens */
  readonly onStep?: (step: number, logits: Float32Array, tokens: readonly number[]) => void;
}

/** Prompt: token ids (one row or B rows of equal length) or embeddings [B, L, H] (multimodal splicing). */
export type Prompt = readonly number[] | readonly (readonly number[])[] | { readonly inputsEmbeds: HostTensor };

export interface GenerateResult {
  /** the new tokens of each row (a stop token that ended a row is its last entry) */
  readonly ids: number[][];
  /** each row's new tokens decoded, without the stop token (when a tokenizer is given) */
  readonly text?: string[];
  readonly finish: ('stop' | 'length')[];
  readonly timings: { readonly prefillMs: number; readonly decodeMs: number; readonly decodeSteps: number };
}

// ------------------------------------------------------------------ sampling (host)

/** The tokens sampling may choose from one row of logits (ascending ids), after temperature, top-k and top-p. */
export function samplingSupport(logits: ArrayLike<number>, o: SamplingOptions): number[] {
  return filtered(logits, o).support;
}

function filtered(logits: ArrayLike<number>, o: SamplingOptions): { support: number[]; probs: Float64Array } {
  const V = logits.length;
  const temp = o.temperature ?? 1;
  if (!(temp > 0)) throw new RangeError(`temperature must be positive for sampling, got ${temp}`);
  // typed-array sorts only: a 152064-token vocabulary takes a few milliseconds per row
  const x = new Float64Array(V);
  let max = -Infinity;
  for (let i = 0; i < V; i++) {
    const v = logits[i];
    x[i] = Number.isNaN(v) ? -Infinity : v / temp;
    if (x[i] > max) max = x[i];
  }
  const k = o.topK ?? 0;
  const cutoff = k > 0 && k < V ? Float64Array.from(x).sort()[V - k] : -Infinity;
  const probs = new Float64Array(V);
  let z = 0;
  for (let i = 0; i < V; i++) if (x[i] >= cutoff) z += probs[i] = Math.exp(x[i] - max);
  for (let i = 0; i < V; i++) probs[i] /= z;
  const p = o.topP ?? 1;
  if (p < 1) {
    // the smallest probability in the most-probable set whose mass reaches p (at least one token)
    const sorted = probs.slice().sort();
    let before = 0;
    let threshold = sorted[V - 1];
    for (let j = V - 1; j >= 0 && sorted[j] > 0 && (before < p || j === V - 1); j--) {
      threshold = sorted[j];
      before += sorted[j];
    }
    let s = 0;
    for (let i = 0; i < V; i++) {
      if (probs[i] < threshold) probs[i] = 0;
      s += probs[i];
    }
    for (let i = 0; i < V; i++) probs[i] /= s;
  }
  const support: number[] = [];
  for (let i = 0; i < V; i++) if (probs[i] > 0) support.push(i);
  return { support, probs };
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** One token from one row of logits; `u` is a uniform draw in [0, 1). */
export function sampleToken(logits: ArrayLike<number>, o: SamplingOptions, u: number): number {
  if (!o.sample || o.temperature === 0) return argmax(logits);
  const { support, probs } = filtered(logits, o);
  let acc = 0;
  for (const i of support) {
    acc += probs[i];
    if (u < acc) return i;
  }
  return support[support.length - 1];
}

// ------------------------------------------------------------------ executables

const external = (name: string) => name.startsWith('params.') || name.startsWith('cache.');

interface Session {
  readonly backend: BackendName;
  weights?: Record<string, DeviceTensor>;
  readonly exes: Map<string, Promise<Executable>>;
}
const sessions = new WeakMap<Qwen2Model, Map<BackendName, Session>>();

function sessionOf(model: Qwen2Model): Session {
  const backend = model.backend ?? defaultBackend();
  let byBackend = sessions.get(model);
  if (!byBackend) sessions.set(model, (byBackend = new Map()));
  let s = byBackend.get(backend);
  if (!s) byBackend.set(backend, (s = { backend, exes: new Map() }));
  return s;
}

/** Frees the device copies of a model's weights (the next generate() uploads them again). */
export function releaseModel(model: Qwen2Model): void {
  for (const s of sessions.get(model)?.values() ?? []) for (const t of Object.values(s.weights ?? {})) t.dispose();
  sessions.delete(model);
}

/** Generation needs no padding_idx rule (it only changes gradients). */
const inferenceDims = (c: Qwen2Config): Qwen2Dims => ({ ...qwen2Dims(c), padId: undefined });

function cacheShape(d: Qwen2Dims, B: number, M: number): number[] {
  return [B, d.kvHeads, M, d.headDim];
}

function getExe(s: Session, key: string, fn: (a: any) => unknown, specs: SpecTree): Promise<Executable> {
  let e = s.exes.get(key);
  if (!e) {
    // the weights are uploaded once per session and never written: their repacking runs once
    e = compile(fn, specs, { backend: s.backend, external, constant: (n) => n.startsWith('params.') });
    e.catch(() => s.exes.delete(key));
    s.exes.set(key, e);
  }
  return e;
}

/** The prefill as a traceable function: prompt [B, L] ids or [B, L, H] embeddings -> last logits [B, V] and caches k.i, v.i [B, kv, M, D]. */
export function prefillGraph(c: Qwen2Config, B: number, L: number, M: number, input: 'ids' | 'embeds'): { fn: (a: any) => unknown; specs: SpecTree } {
  const d = inferenceDims(c);
  if (M < L) throw new RangeError(`cache length ${M} is shorter than the prompt (${L})`);
  const fn = ({ params, input: x }: { params: Qwen2Weights; input: Tensor }) => {
    const embeds = input === 'ids' ? qwen2Embed(d, params, x) : x;
    const k: Tensor[] = [];
    const v: Tensor[] = [];
    const grow = (t: Tensor) => (M > L ? t.pad([[0, 0], [0, 0], [0, M - L], [0, 0]]) : t);
    const h = qwen2Decoder(d, params, embeds, iota([L], 0), (i, q, ki, vi) => {
      k[i] = grow(ki);
      v[i] = grow(vi);
      return attention(q, ki, vi, { causal: true });
    });
    const last = h.slice([null, [L - 1, L]]).reshape([B, d.hidden]);
    return { logits: qwen2Head(d, params, last), k, v };
  };
  const specs = { params: paramSpecs(qwen2Params(c)), input: input === 'ids' ? spec([B, L], 'i32') : spec([B, L, d.hidden]) } as SpecTree;
  return { fn, specs };
}

/** Prefill: prompt [B, L] ids or [B, L, H] embeddings -> last logits [B, V] and caches k.i, v.i [B, kv, M, D]. */
export function prefillExecutable(model: Qwen2Model, B: number, L: number, M: number, input: 'ids' | 'embeds'): Promise<Executable> {
  const { fn, specs } = prefillGraph(model.config, B, L, M, input);
  return getExe(sessionOf(model), `prefill ${input} ${B} ${L} ${M}`, fn, specs);
}

/** The decode step as a traceable function: token ids [B, 1] at position pos (i32 [1]) with caches cache.k.i / cache.v.i -> logits [B, V], updated k.i, v.i. */
export function decodeGraph(c: Qwen2Config, B: number, M: number): { fn: (a: any) => unknown; specs: SpecTree } {
  const d = inferenceDims(c);
  const fn = ({ params, ids, pos, cache }: { params: Qwen2Weights; ids: Tensor; pos: Tensor<Shape, 'i32'>; cache: { k: Tensor[]; v: Tensor[] } }) => {
    const here = iota([1, 1, M, 1], 2).eq(pos);
    const visible = iota([1, M], 1).le(pos);
    const k: Tensor[] = [];
    const v: Tensor[] = [];
    const h = qwen2Decoder(d, params, qwen2Embed(d, params, ids), pos, (i, q, ki, vi) => {
      k[i] = where(here, ki, cache.k[i]);
      v[i] = where(here, vi, cache.v[i]);
      return attention(q, k[i], v[i], { mask: visible });
    });
    return { logits: qwen2Head(d, params, h.reshape([B, d.hidden])), k, v };
  };
  const caches = () => Array.from({ length: d.layers }, () => spec(cacheShape(d, B, M)));
  const specs = { params: paramSpecs(qwen2Params(c)), ids: spec([B, 1], 'i32'), pos: spec([1], 'i32'), cache: { k: caches(), v: caches() } } as SpecTree;
  return { fn, specs };
}

/** Decode: token ids [B, 1] at position pos (i32 [1]) with caches cache.k.i / cache.v.i -> logits [B, V], updated k.i, v.i. */
export function decodeExecutable(model: Qwen2Model, B: number, M: number): Promise<Executable> {
  const { fn, specs } = decodeGraph(model.config, B, M);
  return getExe(sessionOf(model), `decode ${B} ${M}`, fn, specs);
}

function uploadWeights(s: Session, model: Qwen2Model, exe: Executable): Record<string, DeviceTensor> {
  if (!s.weights) {
    const w: Record<string, DeviceTensor> = {};
    for (const [p, sp] of paramEntries(qwen2Params(model.config))) {
      const h = model.params[p];
      if (!h) throw new Error(`generate: the model has no parameter '${p}'`);
      w[p] = exe.deviceTensor(sp.shape, sp.dtype, h);
    }
    s.weights = w;
  }
  return s.weights;
}

// ------------------------------------------------------------------ generate

function promptShape(prompt: Prompt, H: number): { B: number; L: number; ids?: Int32Array; embeds?: HostTensor } {
  if (!Array.isArray(prompt)) {
    const e = (prompt as { inputsEmbeds: HostTensor }).inputsEmbeds;
    if (e.shape.length !== 3 || e.shape[2] !== H) throw new RangeError(`generate: inputs_embeds must be [B, L, ${H}], got [${e.shape.join(', ')}]`);
    if (e.shape[0] < 1 || e.shape[1] < 1) throw new RangeError('generate: inputs_embeds is empty');
    return { B: e.shape[0], L: e.shape[1], embeds: { shape: e.shape, dtype: 'f32', data: e.data } };
  }
  const rows = (prompt.length > 0 && Array.isArray(prompt[0]) ? prompt : [prompt]) as readonly (readonly number[])[];
  const L = rows[0]?.length ?? 0;
  if (rows.length === 0 || L === 0) throw new RangeError('generate: the prompt is empty');
  if (rows.some((r) => r.length !== L)) throw new RangeError(`generate: prompt rows differ in length (${rows.map((r) => r.length).join(', ')}); padding is not supported`);
  return { B: rows.length, L, ids: Int32Array.from(rows.flat()) };
}

/**
 * Generates up to `maxNewTokens` tokens after the prompt, with a KV cache on the device.
 * Rows stop independently at a stop token; the loop ends when every row has stopped.
 */
export async function generate(model: Qwen2Model, prompt: Prompt, opts: GenerateOptions = {}): Promise<GenerateResult> {
  const c = model.config;
  const d = inferenceDims(c);
  const maxNew = opts.maxNewTokens ?? 32;
  if (!(Number.isInteger(maxNew) && maxNew >= 0)) throw new RangeError(`maxNewTokens must be a non-negative integer, got ${maxNew}`);
  const { B, L, ids, embeds } = promptShape(prompt, d.hidden);
  if (ids) for (const t of ids) if (t < 0 || t >= d.vocab) throw new RangeError(`generate: token id ${t} is outside the vocabulary (0..${d.vocab - 1})`);
  const M = opts.maxLen ?? Math.max(32, Math.ceil((L + maxNew) / 32) * 32);
  if (M < L + Math.max(maxNew - 1, 0)) throw new RangeError(`maxLen ${M} cannot hold the prompt (${L}) and ${maxNew} new tokens`);
  const stops = new Set(opts.stopTokens ?? eosTokens(c));
  const [k0, k1] = keyFromSeed(opts.seed ?? 0);
  const out: number[][] = Array.from({ length: B }, () => []);
  const finish: ('stop' | 'length')[] = Array(B).fill('length');
  const done = Array(B).fill(false);
  const timings = { prefillMs: 0, decodeMs: 0, decodeSteps: 0 };
  if (maxNew === 0) return { ids: out, finish, timings };

  const s = sessionOf(model);
  const [pre, dec] = await Promise.all([prefillExecutable(model, B, L, M, ids ? 'ids' : 'embeds'), decodeExecutable(model, B, M)]);
  const weights = uploadWeights(s, model, pre);
  const cache = {
    k: Array.from({ length: d.layers }, () => pre.deviceTensor(cacheShape(d, B, M), 'f32')),
    v: Array.from({ length: d.layers }, () => pre.deviceTensor(cacheShape(d, B, M), 'f32')),
  };
  const into: Record<string, DeviceTensor> = {};
  cache.k.forEach((t, i) => (into[`k.${i}`] = t));
  cache.v.forEach((t, i) => (into[`v.${i}`] = t));
  try {
    let t0 = performance.now();
    let logits = (await pre.run({ params: weights, input: ids ?? embeds! }, { into, outputs: ['logits'] })).logits.data as Float32Array;
    timings.prefillMs = performance.now() - t0;
    const V = d.vocab;
    const next = new Int32Array(B);
    for (let step = 0; step < maxNew; step++) {
      for (let b = 0; b < B; b++) {
        if (done[b]) continue; // a finished row keeps feeding its last token; its output is frozen
        const tok = sampleToken(logits.subarray(b * V, (b + 1) * V), opts, uniformAt(k0, k1, step * B + b));
        next[b] = tok;
        out[b].push(tok);
        if (stops.has(tok)) {
          done[b] = true;
          finish[b] = 'stop';
        }
      }
      opts.onStep?.(step, logits, Array.from(next));
      if (done.every(Boolean) || step === maxNew - 1) break;
      t0 = performance.now();
      logits = (await dec.run({ params: weights, ids: next, pos: Int32Array.of(L + step), cache }, { into, outputs: ['logits'] })).logits.data as Float32Array;
      timings.decodeMs += performance.now() - t0;
      timings.decodeSteps++;
    }
  } finally {
    for (const t of [...cache.k, ...cache.v]) t.dispose();
  }
  const tok = opts.tokenizer ?? model.tokenizer;
  const text = tok ? out.map((r, b) => tok.decode(finish[b] === 'stop' ? r.slice(0, -1) : r)) : undefined;
  return { ids: out, ...(text ? { text } : {}), finish, timings };
}
