/**
 * data/loader: manifest + feature cache + tokenizer -> padded batches with the media placeholders
 * at the same positions in every row, answer-only labels, the features each placeholder needs;
 * seeded per-epoch shuffling, exact resume from (epoch, batch) or a step, and prefetching.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND } from './helpers/check';
import { generateSynthEmo, PROMPT } from '../data/synth/index';
import { readManifest, writeManifest, type Manifest, type ManifestEntry } from '../data/manifest/index';
import { ByteTokenizer } from '../data/tokenizer/bytes';
import { loadQwen2Tokenizer } from '../data/tokenizer/qwen2';
import { IGNORE_INDEX, PLACEHOLDERS } from '../data/tokenizer/chat';
import { buildFeatureCache, featureOptions, type FeatureCache } from '../data/features/index';
import { createDataset, createLoader, planEpoch, type Batch } from '../data/loader/index';

let root = '';
let manifest: Manifest;
let cache: FeatureCache;
const tok = new ByteTokenizer();
const T = 4;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'omni-loader-'));
  const synth = await generateSynthEmo({ out: join(root, 'synth'), n: 2, seed: 5 });
  const clips = synth.entries.map((e) => e.video!);
  const entries: ManifestEntry[] = [];
  // 7 samples with SynthEmo's prompt, answers of different lengths
  for (let i = 0; i < 7; i++) {
    entries.push({ id: `s${i}`, video: clips[i % 2], conversations: [{ from: 'human', value: PROMPT }, { from: 'gpt', value: `Answer ${i}: ${'calm '.repeat(i)}.` }] });
  }
  // 2 audio-only questions: another placeholder layout
  for (let i = 0; i < 2; i++) {
    entries.push({ id: `a${i}`, video: clips[i], conversations: [{ from: 'human', value: '<audio>\nHow does the voice sound?' }, { from: 'gpt', value: `Voice ${i}.` }] });
  }
  // media that does not exist: not in the cache, skipped by the loader
  entries.push({ id: 'missing', video: 'clips/none.mp4', conversations: [{ from: 'human', value: PROMPT }, { from: 'gpt', value: 'x' }] });
  const file = join(root, 'synth', 'loader.jsonl');
  await writeManifest(file, entries);
  manifest = await readManifest(file);
  const r = await buildFeatureCache(manifest, { dir: join(root, 'cache'), features: featureOptions('tiny'), detector: null, backend: BACKEND });
  expect(r.failed.map((f) => f.id)).toEqual(['missing']);
  cache = r.cache;
});
afterAll(async () => {
  await cache?.close();
  rmSync(root, { recursive: true, force: true });
});

async function collect(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

describe('loader', () => {
  it('pads text, aligns placeholders, trains answers only, and stacks the features', async () => {
    const loader = createLoader({ manifest, cache, tokenizer: tok, batchSize: 3, seed: 1 });
    expect(loader.dataset.skipped.map((s) => [s.id, s.line])).toEqual([['missing', 10]]);
    expect(loader.dataset.skipped[0].reason).toMatch(/no features in the cache/);
    // 7 video+audio items -> 3 batches (3, 3, 1); 2 audio-only -> 1 batch
    expect(loader.batchesPerEpoch).toBe(4);
    const batches = await collect(loader);
    expect(batches.map((b) => b.index)).toEqual([0, 1, 2, 3]);
    expect(batches.flatMap((b) => b.ids).sort()).toEqual(['a0', 'a1', 's0', 's1', 's2', 's3', 's4', 's5', 's6']);
    const pad = tok.special.pad!;
    for (const b of batches) {
      const [B, L] = b.shapes.input_ids!;
      expect(B).toBe(b.ids.length);
      expect(L).toBe(Math.max(...b.lengths));
      const audioOnly = b.ids[0].startsWith('a');
      expect(b.ids.every((id) => id.startsWith('a') === audioOnly)).toBe(true);
      expect(b.placeholders.map((p) => p.kind)).toEqual(audioOnly ? ['audio'] : ['video', 'audio']);
      for (let r = 0; r < B; r++) {
        const ids = b.input_ids.subarray(r * L, (r + 1) * L);
        const labels = b.labels.subarray(r * L, (r + 1) * L);
        // the same placeholder positions in every row
        for (const p of b.placeholders) expect(ids[p.index]).toBe(PLACEHOLDERS[p.kind].id);
        expect([...ids].filter((v) => v < 0)).toHaveLength(b.placeholders.length);
        // right padding: pad ids, ignored labels
        for (let k = b.lengths[r]; k < L; k++) expect([ids[k], labels[k]]).toEqual([pad, IGNORE_INDEX]);
        // labels: the answer and its <|im_end|>, the last tokens of the row
        const trained = [...labels.subarray(0, b.lengths[r])].map((l, k) => (l === IGNORE_INDEX ? -1 : k)).filter((k) => k >= 0);
        const answer = tok.decode([...ids.subarray(trained[0], b.lengths[r])]);
        expect(answer).toMatch(/^(Answer \d|Voice \d).*<\|im_end\|>$/);
        expect(trained[trained.length - 1]).toBe(b.lengths[r] - 1);
        for (const k of trained) expect(labels[k]).toBe(ids[k]);
      }
      // features: only what the placeholders need; frames of sample b at rows b*T..b*T+T-1
      expect(b.shapes.input_features).toEqual([B, 128, 300]);
      if (audioOnly) {
        expect(b.pixel_values).toBeUndefined();
        expect(b.face_values).toBeUndefined();
      } else {
        expect(b.shapes.pixel_values).toEqual([B * T, 3, 64, 64]);
        expect(b.shapes.face_values).toEqual([B * T, 3, 48, 48]);
        const last = (await cache.get(b.ids[B - 1]))!;
        const n = T * 3 * 64 * 64;
        expect(b.pixel_values!.subarray((B - 1) * n, B * n)).toEqual(last.pixel_values);
      }
      const first = (await cache.get(b.ids[0]))!;
      expect(b.input_features!.subarray(0, 128 * 300)).toEqual(first.input_features);
    }
  });

  it('shuffles by (seed, epoch), covers every item once an epoch, and drops short batches on request', () => {
    const a = createLoader({ manifest, cache, tokenizer: tok, batchSize: 3, seed: 7 });
    const b = createLoader({ manifest, cache, tokenizer: tok, batchSize: 3, seed: 7 });
    const c = createLoader({ manifest, cache, tokenizer: tok, batchSize: 3, seed: 8 });
    expect(a.plan(0)).toEqual(b.plan(0));
    expect(a.plan(5)).toEqual(b.plan(5));
    const seqs = [0, 1, 2, 3].map((e) => JSON.stringify(a.plan(e)));
    expect(new Set(seqs).size).toBeGreaterThan(1);
    expect([0, 1, 2].some((e) => JSON.stringify(c.plan(e)) !== JSON.stringify(a.plan(e)))).toBe(true);
    for (let e = 0; e < 4; e++) expect(a.plan(e).flat().sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const ordered = createLoader({ manifest, cache, tokenizer: tok, batchSize: 3, shuffle: false });
    expect(ordered.plan(0)).toEqual([[0, 1, 2], [3, 4, 5], [6], [7, 8]]);
    expect(ordered.plan(3)).toEqual(ordered.plan(0));
    const dropped = createLoader({ manifest, cache, tokenizer: tok, batchSize: 3, dropLast: true, shuffle: false });
    expect(dropped.plan(0)).toEqual([[0, 1, 2], [3, 4, 5]]);
    // planEpoch on its own: groups never mix
    const items = ['x', 'y', 'x', 'x', 'y', 'z'].map((signature) => ({ signature }));
    for (let e = 0; e < 5; e++) for (const batch of planEpoch(items, { batchSize: 2, shuffle: true, seed: 3, dropLast: false }, e)) expect(new Set(batch.map((i) => items[i].signature)).size).toBe(1);
  });

  it('resumes exactly from (epoch, batch) or a global step', async () => {
    const full = await collect(createLoader({ manifest, cache, tokenizer: tok, batchSize: 2, seed: 4, epochs: 2 }));
    const bpe = createLoader({ manifest, cache, tokenizer: tok, batchSize: 2, seed: 4 }).batchesPerEpoch;
    expect(full).toHaveLength(2 * bpe);
    expect(full.map((b) => b.step)).toEqual(full.map((_, i) => i));
    const resumed = createLoader({ manifest, cache, tokenizer: tok, batchSize: 2, seed: 4, start: { epoch: 1, index: 2 } });
    expect(resumed.position()).toEqual({ epoch: 1, index: 2 });
    const rest = await collect(resumed);
    expect(rest.map((b) => b.ids)).toEqual(full.slice(bpe + 2).map((b) => b.ids));
    expect(rest[0].input_ids).toEqual(full[bpe + 2].input_ids);
    expect(rest[0].pixel_values ?? rest[0].input_features).toEqual(full[bpe + 2].pixel_values ?? full[bpe + 2].input_features);
    expect(resumed.position()).toEqual({ epoch: 2, index: 0 });
    // the training loop's view: data(step)
    const byStep = createLoader({ manifest, cache, tokenizer: tok, batchSize: 2, seed: 4 });
    for (const s of [bpe + 3, 1, 2 * bpe - 1]) expect((await byStep.batchAt(s)).ids).toEqual(full[s].ids);
    expect(byStep.positionOf(bpe + 3)).toEqual({ epoch: 1, index: 3 });
    expect(byStep.stepOf({ epoch: 1, index: 3 })).toBe(bpe + 3);
  });

  it('prepares the next batches while the current one is used', async () => {
    const asked: string[] = [];
    const spy = Object.create(cache) as FeatureCache;
    spy.get = (id: string) => {
      asked.push(id);
      return cache.get(id);
    };
    const loader = createLoader({ manifest, cache: spy, tokenizer: tok, batchSize: 2, seed: 9, prefetch: 2 });
    const plan = loader.plan(0).map((b) => b.map((i) => loader.dataset.items[i].id));
    const first = loader.batchAt(0);
    // batches 1 and 2 were started with batch 0, before anything was awaited
    expect(asked).toEqual([...plan[0], ...plan[1], ...plan[2]]);
    expect((await first).ids).toEqual(plan[0]);
    asked.length = 0;
    expect((await loader.batchAt(1)).ids).toEqual(plan[1]);
    // batch 1 came from the prefetch; only batch 3 is new
    expect(asked).toEqual(plan[3]);
    await loader.close();
  });

  it('places the placeholders alike with the Qwen2 tokenizer and pads with its pad id', async () => {
    const qwen = loadQwen2Tokenizer();
    const loader = createLoader({ manifest, cache, tokenizer: qwen, batchSize: 4, shuffle: false });
    const b = await loader.batch(0, 0);
    const [B, L] = b.shapes.input_ids!;
    expect(B).toBe(4);
    for (let r = 0; r < B; r++) for (const p of b.placeholders) expect(b.input_ids[r * L + p.index]).toBe(PLACEHOLDERS[p.kind].id);
    const short = b.lengths.indexOf(Math.min(...b.lengths));
    expect(b.input_ids[short * L + L - 1]).toBe(151643);
  });

  it('reads many small shards at once (more than stay open) and gives the same batches', async () => {
    const r = await buildFeatureCache(manifest, { dir: join(root, 'cache-small-shards'), features: featureOptions('tiny'), detector: null, backend: BACKEND, shardSize: 1 });
    const small = r.cache;
    expect(new Set(small.ids().map((id) => small.entry(id)!.shard)).size).toBe(9);
    const ids = small.ids();
    const all = await Promise.all([...ids, ...ids, ...ids].map((id) => small.get(id)));
    for (const [k, s] of all.entries()) expect(s!.input_features).toEqual((await cache.get(ids[k % ids.length]))!.input_features);
    const a = await collect(createLoader({ manifest, cache: small, tokenizer: tok, batchSize: 9, seed: 2, prefetch: 3, epochs: 2 }));
    const b = await collect(createLoader({ manifest, cache, tokenizer: tok, batchSize: 9, seed: 2, epochs: 2 }));
    expect(a.map((x) => x.pixel_values ?? null)).toEqual(b.map((x) => x.pixel_values ?? null));
    await small.close();
  });

  it('refuses impossible settings by name', () => {
    expect(() => createLoader({ manifest, cache, tokenizer: tok, batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
    expect(() => createLoader({ manifest, cache, tokenizer: tok, batchSize: 2, start: { epoch: 0, index: 99 } })).toThrow(/outside the \d+ batches/);
    expect(() => createLoader({ manifest, cache, tokenizer: tok, batchSize: 8, dropLast: true })).toThrow(/make no batch of 8/);
    // maxLength: items are cut at the end of the answer; a cut through the placeholders skips them
    expect(() => createLoader({ manifest, cache, tokenizer: tok, batchSize: 2, maxLength: 5 })).toThrow(/no usable item .* a media placeholder lies beyond maxLength 5/);
    const full = createDataset({ manifest, cache, tokenizer: tok });
    const shortest = Math.min(...full.items.filter((i) => i.id.startsWith('s')).map((i) => i.ids.length));
    const cut = createDataset({ manifest, cache, tokenizer: tok, maxLength: shortest });
    const s6 = cut.items.find((i) => i.id === 's6')!;
    expect(s6.ids).toHaveLength(shortest);
    expect(s6.ids).toEqual(full.items.find((i) => i.id === 's6')!.ids.subarray(0, shortest));
    expect(s6.labels[shortest - 1]).not.toBe(IGNORE_INDEX);
  });
});
