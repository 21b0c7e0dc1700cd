/**
 * The batch loader: seeded per-epoch shuffling, batching, padding, prefetching, exact resume.
 *
 * Batch layout (what models/omni/model.ts takes):
 *   input_ids       Int32Array [B, L]          pad id after each row's end (right padding)
 *   labels          Int32Array [B, L]          -100 on padding, prompts and placeholders
 *   pixel_values    Float32Array [B*T, 3, S, S]   frame t of sample b at row b*T + t
 *   face_values     Float32Array [B*T, 3, Sf, Sf]
 *   input_features  Float32Array [B, n_mels, frames]
 * A field is present only when the batch's placeholders need it.
 *
 * Placeholder alignment. Every row of a batch has its `<video>` and `<audio>` at the same
 * positions: the loader groups items by their placeholder signature (which placeholders, at which
 * token index) and only batches items of one group. Text is padded on the right only: attention is
 * causal and unmasked, so right padding changes nothing before it, while left padding (or
 * padding inside the prompt) would put pad tokens in front of every real token. With one fixed
 * system message and prompt prefix, as in SynthEmo, EMER and the DFEW/MAFW prompts, all items
 * share one signature and batching is plain shuffled batching; with several prefixes each epoch
 * still covers every item (a group's leftover makes a smaller batch, or is dropped with dropLast).
 *
 * Order. Epoch e is planned from (seed, e) alone: shuffle the items, split them into groups by
 * signature (keeping the shuffled order), cut each group into batches, shuffle the batches. So
 * batch (e, i) is the same in every run, and a run resumed from a checkpoint at (e, i) — or at
 * a global step, step = e * batchesPerEpoch + i — sees exactly the batches the first run would
 * have seen. Without shuffle the order is the dataset's.
 *
 * Prefetching: asking for a batch starts preparing the next `prefetch` batches (cache reads are
 * asynchronous), so they are ready while the training step runs on the device.
 */
import { Rng } from '../synth/rng';
import { IGNORE_INDEX, type Placeholder } from '../tokenizer/chat';
import type { Tokenizer } from '../tokenizer/types';
import type { Manifest } from '../manifest/index';
import type { FeatureCache } from '../features/cache';
import type { FeatureField } from '../features/extract';
import type { ChatOptions } from '../tokenizer/chat';
import { UserError } from '../../cli/errors';
import { createDataset, type Dataset, type DatasetItem } from './dataset';

export interface Position {
  epoch: number;
  /** batch index within the epoch */
  index: number;
}

export interface Batch {
  epoch: number;
  index: number;
  /** epoch * batchesPerEpoch + index */
  step: number;
  ids: string[];
  input_ids: Int32Array;
  labels: Int32Array;
  pixel_values?: Float32Array;
  face_values?: Float32Array;
  input_features?: Float32Array;
  shapes: Partial<Record<'input_ids' | 'labels' | FeatureField, number[]>>;
  /** the placeholders, the same in every row */
  placeholders: Placeholder[];
  /** unpadded length of each row */
  lengths: number[];
}

export interface LoaderOptions {
  manifest: Manifest;
  cache: FeatureCache;
  tokenizer: Tokenizer;
  batchSize: number;
  /** default true */
  shuffle?: boolean;
  /** default 0 */
  seed?: number;
  /** drop each group's last, smaller batch (default false) */
  dropLast?: boolean;
  /** batches prepared ahead (default 2) */
  prefetch?: number;
  /** where iteration starts (default epoch 0, batch 0) */
  start?: Position;
  /** epochs the iterator runs from `start` (default 1; Infinity for an endless stream) */
  epochs?: number;
  /** default: the tokenizer's pad id, else its eos id, else 0 */
  padId?: number;
  chat?: ChatOptions;
  maxLength?: number;
}

export interface Loader extends AsyncIterable<Batch> {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  /** item indices (into dataset.items) of each batch of an epoch */
  plan(epoch: number): number[][];
  /** the batch at a position */
  batch(epoch: number, index: number): Promise<Batch>;
  /** the batch of a global step (what runtime/train/loop.ts `data` asks for), prefetching the next */
  batchAt(step: number): Promise<Batch>;
  positionOf(step: number): Position;
  stepOf(p: Position): number;
  /** the position the iterator yields next (save it with a checkpoint to resume exactly) */
  position(): Position;
  close(): Promise<void>;
}

/** The batches of one epoch (see the file comment). */
export function planEpoch(items: readonly Pick<DatasetItem, 'signature'>[], o: { batchSize: number; shuffle: boolean; seed: number; dropLast: boolean }, epoch: number): number[][] {
  const rng = Rng.derive(o.seed, 0x10ade4, epoch);
  const order = items.map((_, i) => i);
  if (o.shuffle) rng.shuffle(order);
  const groups = new Map<string, number[]>();
  for (const i of order) {
    const g = groups.get(items[i].signature);
    if (g) g.push(i);
    else groups.set(items[i].signature, [i]);
  }
  const batches: number[][] = [];
  for (const g of groups.values()) {
    for (let k = 0; k < g.length; k += o.batchSize) {
      const b = g.slice(k, k + o.batchSize);
      if (b.length < o.batchSize && o.dropLast) break;
      batches.push(b);
    }
  }
  if (o.shuffle) rng.shuffle(batches);
  return batches;
}

function defaultPad(tok: Tokenizer): number {
  return tok.special.pad ?? tok.special.eos ?? 0;
}

export function createLoader(opts: LoaderOptions): Loader {
  const batchSize = opts.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`loader: batchSize must be a positive integer, got ${batchSize}`);
  const prefetch = opts.prefetch ?? 2;
  const cfg = { batchSize, shuffle: opts.shuffle ?? true, seed: opts.seed ?? 0, dropLast: opts.dropLast ?? false };
  const dataset = createDataset({ manifest: opts.manifest, cache: opts.cache, tokenizer: opts.tokenizer, chat: opts.chat, maxLength: opts.maxLength });
  const { items } = dataset;
  if (items.length === 0) {
    const why = dataset.skipped.slice(0, 3).map((s) => `${s.id} (line ${s.line}): ${s.reason}`).join('; ');
    throw new UserError(`${opts.manifest.file}: no usable item in the manifest${why ? `: ${why}` : ''}`);
  }
  const batchesPerEpoch = planEpoch(items, cfg, 0).length;
  if (batchesPerEpoch === 0) throw new UserError(`${opts.manifest.file}: ${items.length} usable items make no batch of ${batchSize} with dropLast (each placeholder layout is batched on its own)`);
  const padId = opts.padId ?? defaultPad(opts.tokenizer);

  const plans = new Map<number, number[][]>();
  const plan = (epoch: number) => {
    if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`loader: epoch must be a non-negative integer, got ${epoch}`);
    let p = plans.get(epoch);
    if (!p) {
      if (plans.size > 4) plans.delete(plans.keys().next().value!);
      plans.set(epoch, (p = planEpoch(items, cfg, epoch)));
    }
    return p;
  };
  const stepOf = (p: Position) => p.epoch * batchesPerEpoch + p.index;
  const positionOf = (step: number): Position => {
    if (!Number.isInteger(step) || step < 0) throw new RangeError(`loader: step must be a non-negative integer, got ${step}`);
    return { epoch: Math.floor(step / batchesPerEpoch), index: step % batchesPerEpoch };
  };

  const build = async (epoch: number, index: number): Promise<Batch> => {
    const p = plan(epoch);
    if (!Number.isInteger(index) || index < 0 || index >= p.length) throw new RangeError(`loader: batch index ${index} is outside epoch ${epoch}'s ${p.length} batches`);
    const rows = p[index].map((i) => items[i]);
    const B = rows.length;
    const L = Math.max(...rows.map((r) => r.ids.length));
    const input_ids = new Int32Array(B * L).fill(padId);
    const labels = new Int32Array(B * L).fill(IGNORE_INDEX);
    rows.forEach((r, b) => {
      input_ids.set(r.ids, b * L);
      labels.set(r.labels, b * L);
    });
    const batch: Batch = {
      epoch, index, step: stepOf({ epoch, index }), ids: rows.map((r) => r.id), input_ids, labels,
      shapes: { input_ids: [B, L], labels: [B, L] }, placeholders: rows[0].placeholders, lengths: rows.map((r) => r.ids.length),
    };
    const samples = await Promise.all(rows.map((r) => opts.cache.get(r.id)));
    for (const field of rows[0].fields) {
      let shape: number[] | undefined;
      const parts: Float32Array[] = [];
      samples.forEach((s, b) => {
        const data = s?.[field];
        const sh = s?.shapes[field];
        if (!s || !data || !sh) throw new UserError(`${opts.cache.dir}: sample ${rows[b].id} has no ${field} (the cache changed while loading?)`);
        if (shape && sh.join(',') !== shape.join(',')) throw new UserError(`${opts.cache.dir}: ${field} of ${rows[b].id} is [${sh.join(', ')}] but [${shape.join(', ')}] for ${rows[0].id}: a batch needs one shape`);
        shape = sh;
        parts.push(data);
      });
      const out = new Float32Array(parts.reduce((n, d) => n + d.length, 0));
      let at = 0;
      for (const d of parts) {
        out.set(d, at);
        at += d.length;
      }
      batch[field] = out;
      // per-sample [T, ...] frames stack into [B*T, ...]; [mels, frames] stacks into [B, mels, frames]
      batch.shapes[field] = field === 'input_features' ? [B, ...shape!] : [B * shape![0], ...shape!.slice(1)];
    }
    return batch;
  };

  const ahead = new Map<number, Promise<Batch>>();
  const fetchStep = (step: number): Promise<Batch> => {
    let b = ahead.get(step);
    if (!b) {
      const pos = positionOf(step);
      b = build(pos.epoch, pos.index);
      b.catch(() => {}); // a failed prefetch is reported when (if) that batch is asked for
      ahead.set(step, b);
    }
    return b;
  };
  /** the batch of `step`, and the next `prefetch` ones (below `limit`) started */
  const take = (step: number, limit = Infinity): Promise<Batch> => {
    const b = fetchStep(step);
    for (const k of [...ahead.keys()]) if (k <= step || k > step + prefetch) ahead.delete(k);
    for (let k = step + 1; k <= step + prefetch && k < limit; k++) fetchStep(k);
    return b;
  };

  const start = opts.start ?? { epoch: 0, index: 0 };
  if (start.index < 0 || start.index >= batchesPerEpoch || start.epoch < 0) throw new UserError(`loader: start position (epoch ${start.epoch}, batch ${start.index}) is outside the ${batchesPerEpoch} batches of an epoch`);
  const epochs = opts.epochs ?? 1;
  let cursor = stepOf(start);
  const end = Number.isFinite(epochs) ? (start.epoch + epochs) * batchesPerEpoch : Infinity;

  return {
    dataset,
    batchSize,
    batchesPerEpoch,
    plan: (epoch) => plan(epoch).map((b) => [...b]),
    batch: (epoch, index) => build(epoch, index),
    batchAt: (step) => take(step),
    positionOf,
    stepOf,
    position: () => positionOf(cursor),
    async close() {
      ahead.clear();
    },
    async *[Symbol.asyncIterator]() {
      while (cursor < end) {
        const step = cursor;
        const batch = await take(step, end);
        cursor = step + 1;
        yield batch;
      }
    },
  };
}
