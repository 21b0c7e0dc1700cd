/**
 * data/features/cache: a manifest's features extracted once into safetensors shards; bad media
 * skipped and listed by id and line; a rebuild reuses valid samples without decoding; a changed
 * file or option rebuilds what it changes; stale shards go; one builder per folder.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND } from './helpers/check';
import { generateSynthEmo, type SynthResult } from '../data/synth/index';
import { readManifest, writeManifest, type ManifestEntry } from '../data/manifest/index';
import { openSafetensors } from '../runtime/safetensors';
import { main } from '../cli/main';
import { FeatureCache, INDEX_NAME, buildFeatureCache, extractFeatures, featureOptions, type CacheProgress, type FaceDetector } from '../data/features/index';

let root = '';
let synth: SynthResult;

/** A detector stub that counts its calls: a reused sample never reaches it. */
function countingDetector(): FaceDetector & { calls: number } {
  const d = {
    name: 'stub',
    calls: 0,
    async detect() {
      d.calls++;
      return [{ box: [70, 60, 80, 100] as [number, number, number, number], score: 0.9 }];
    },
  };
  return d;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'omni-cache-'));
  synth = await generateSynthEmo({ out: join(root, 'synth'), n: 3, seed: 11 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The SynthEmo manifest plus a missing clip and a corrupt one (lines 4 and 5). */
async function manifestWithBadMedia(): Promise<string> {
  writeFileSync(join(root, 'synth', 'clips', 'broken.mp4'), 'this is not a video');
  const turns = synth.entries[0].conversations;
  const entries: ManifestEntry[] = [...synth.entries, { id: 'gone', video: 'clips/gone.mp4', conversations: turns }, { id: 'broken', video: 'clips/broken.mp4', conversations: turns }];
  const file = join(root, 'synth', 'with-bad.jsonl');
  await writeManifest(file, entries);
  return file;
}

describe('feature cache', () => {
  it('extracts every good item once, skips and lists the bad ones, and serves the tensors', async () => {
    const manifest = await manifestWithBadMedia();
    const dir = join(root, 'cache');
    const det = countingDetector();
    const o = featureOptions('tiny');
    const seen: CacheProgress[] = [];
    const r = await buildFeatureCache(manifest, { dir, features: o, detector: det, backend: BACKEND, shardSize: 2 }, (p) => seen.push(p));
    console.log(`feature cache: ${r.built} built in ${r.seconds.toFixed(2)} s`);
    expect([r.total, r.built, r.reused]).toEqual([5, 3, 0]);
    expect(r.failed.map((f) => [f.id, f.line, f.kind])).toEqual([
      ['gone', 4, 'missing'],
      ['broken', 5, 'corrupt'],
    ]);
    expect(r.failed[1].message).toContain('broken.mp4');
    expect(det.calls).toBe(3 * 4);
    expect(seen.map((p) => p.done)).toEqual([1, 2, 3, 4, 5]);
    expect(seen[4]).toMatchObject({ total: 5, built: 3, failed: 2 });
    // 3 samples in shards of 2: two shards; one tensor per sample and field
    const shards = readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
    expect(shards).toHaveLength(2);
    const st = openSafetensors(join(dir, shards.sort()[0]));
    expect([...st.tensors.keys()].sort()).toEqual(
      synth.entries.slice(0, 2).flatMap((e) => ['face_values', 'input_features', 'pixel_values'].map((k) => `${e.id}.${k}`)).sort(),
    );
    st.close();
    // the cache serves what extractFeatures gives, bit for bit
    const cache = r.cache;
    expect(cache.ids().sort()).toEqual(synth.entries.map((e) => e.id).sort());
    expect(cache.has('gone')).toBe(false);
    expect(await cache.get('gone')).toBeUndefined();
    const id = synth.entries[2].id;
    const got = (await cache.get(id))!;
    const direct = await extractFeatures(join(root, 'synth', synth.entries[2].video!), o, { detector: countingDetector(), backend: BACKEND });
    expect(got.shapes).toEqual(direct.shapes);
    expect(got.pixel_values).toEqual(direct.pixel_values);
    expect(got.face_values).toEqual(direct.face_values);
    expect(got.input_features).toEqual(direct.input_features);
    expect(got.meta.faceSources).toEqual(['detected', 'detected', 'detected', 'detected']);
    await cache.close();
    // a reopened cache serves the same
    const again = await FeatureCache.open(dir);
    expect((await again.get(id))!.pixel_values).toEqual(direct.pixel_values);
    expect(again.options).toEqual(o);
    await again.close();
  });

  it('reuses valid samples without decoding, rebuilds a touched file, and an option change rebuilds all', async () => {
    const manifest = await manifestWithBadMedia();
    const dir = join(root, 'cache2');
    const o = featureOptions('tiny');
    await buildFeatureCache(manifest, { dir, features: o, detector: countingDetector(), backend: BACKEND });
    const det = countingDetector();
    const t0 = performance.now();
    const r = await buildFeatureCache(manifest, { dir, features: o, detector: det, backend: BACKEND });
    console.log(`feature cache rebuild with nothing to do: ${(performance.now() - t0).toFixed(0)} ms`);
    expect([r.built, r.reused, r.failed.length, det.calls]).toEqual([0, 3, 2, 0]);
    await r.cache.close();
    // a newer mtime invalidates that clip only
    const clip = join(root, 'synth', synth.entries[1].video!);
    const later = new Date(Date.now() + 5000);
    utimesSync(clip, later, later);
    const r2 = await buildFeatureCache(manifest, { dir, features: o, detector: det, backend: BACKEND });
    expect([r2.built, r2.reused]).toEqual([1, 2]);
    await r2.cache.close();
    const before = readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
    // another margin: every sample is rebuilt and the old shards are deleted
    const r3 = await buildFeatureCache(manifest, { dir, features: featureOptions('tiny', { face: { margin: 0.2 } }), detector: det, backend: BACKEND });
    expect([r3.built, r3.reused]).toEqual([3, 0]);
    const after = readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
    expect(after.some((f) => before.includes(f))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await r3.cache.close();
  });

  it('refuses a folder another live builder holds, takes over a stale lock, and names a missing cache', async () => {
    const manifest = await manifestWithBadMedia();
    const dir = join(root, 'cache3');
    await buildFeatureCache(manifest, { dir, features: featureOptions('tiny'), detector: null, backend: BACKEND }).then((r) => r.cache.close());
    writeFileSync(join(dir, '.lock'), String(process.ppid));
    await expect(buildFeatureCache(manifest, { dir, detector: null, backend: BACKEND })).rejects.toThrow(/another feature-cache build \(pid \d+\)/);
    writeFileSync(join(dir, '.lock'), '999999999');
    const r = await buildFeatureCache(manifest, { dir, features: featureOptions('tiny'), detector: null, backend: BACKEND });
    expect(r.reused).toBe(3);
    await r.cache.close();
    expect(readdirSync(dir)).not.toContain('.lock');
    await expect(FeatureCache.open(join(root, 'nowhere'))).rejects.toThrow(/no feature cache here/);
    // an index from elsewhere (another format) is not trusted: everything is rebuilt
    const idx = JSON.parse(readFileSync(join(dir, INDEX_NAME), 'utf8')) as { version: number };
    writeFileSync(join(dir, INDEX_NAME), JSON.stringify({ ...idx, version: 99 }));
    const r2 = await buildFeatureCache(manifest, { dir, features: featureOptions('tiny'), detector: null, backend: BACKEND });
    expect(r2.built).toBe(3);
    await r2.cache.close();
  });

  it('builds from the CLI and lists the skipped items', async () => {
    const manifest = await manifestWithBadMedia();
    const dir = join(root, 'cache-cli');
    const code = await main(['features', '--manifest', manifest, '--cache', dir, '--no-detect', '--backend', BACKEND]);
    expect(code).toBe(0);
    const cache = await FeatureCache.open(dir);
    expect(cache.size).toBe(3);
    expect(cache.entry(synth.entries[0].id)!.meta).toMatchObject({ detector: 'none', faceFallback: true });
    await cache.close();
    expect(await main(['features', '--manifest', manifest])).toBe(2);
    expect((await readManifest(manifest)).items).toHaveLength(5);
  });
});
