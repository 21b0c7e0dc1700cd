/**
 * generateSynthEmo: n clips plus their manifest (manifest.jsonl) and a description of the run
 * (synthemo.json) in `out`. Clips are made by a small pool of workers (default: one per core;
 * each clip is espeak-ng, frame rendering in this thread, and one single-threaded ffmpeg).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { mediaTools } from '../media/tools';
import { writeManifest } from '../manifest/write';
import type { ManifestEntry } from '../manifest/schema';
import { CLASSES } from './classes';
import { encodeClip } from './encode';
import { Rng } from './rng';
import { DEFAULT_SHAPE, assignSplits, planSample, type SynthShape } from './sample';
import { mixTrack, speak } from './voice';

export interface SynthProgress {
  done: number;
  total: number;
  /** the clip just finished */
  id: string;
  elapsed: number;
  clipsPerSecond: number;
  /** seconds left at the current speed */
  eta: number;
}

export interface SynthOptions extends Partial<SynthShape> {
  out: string;
  n: number;
  seed?: number;
  /** clips made at once (default: the number of cores) */
  jobs?: number;
  onProgress?: (p: SynthProgress) => void;
}

export interface SynthResult {
  manifest: string;
  entries: ManifestEntry[];
  seconds: number;
  clipsPerSecond: number;
}

export const MANIFEST_NAME = 'manifest.jsonl';

export async function generateSynthEmo(opts: SynthOptions): Promise<SynthResult> {
  const { out, n } = opts;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`generateSynthEmo: n must be a positive integer, got ${n}`);
  const shape: SynthShape = { ...DEFAULT_SHAPE, ...definedOnly(opts) };
  mediaTools(); // fail before any work if ffmpeg is missing
  await mkdir(join(out, 'clips'), { recursive: true });
  const splits = assignSplits(n, seed);
  const entries: ManifestEntry[] = new Array(n);
  const start = performance.now();
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const plan = planSample(seed, i, splits[i], shape);
      const speech = await speak(plan.voice);
      const audio = mixTrack(speech, plan.voice, shape.seconds, Rng.derive(seed, i, 7));
      await encodeClip(join(out, plan.file), plan.scene, plan.frames, audio);
      entries[i] = plan.entry;
      done++;
      const elapsed = (performance.now() - start) / 1000;
      const rate = done / elapsed;
      opts.onProgress?.({ done, total: n, id: plan.id, elapsed, clipsPerSecond: rate, eta: (n - done) / rate });
    }
  };
  const jobs = Math.max(1, Math.min(n, opts.jobs ?? availableParallelism()));
  await Promise.all(Array.from({ length: jobs }, worker));
  const manifest = join(out, MANIFEST_NAME);
  await writeManifest(manifest, entries);
  const seconds = (performance.now() - start) / 1000;
  const about = { generator: 'SynthEmo', version: 1, seed, n, ...shape, manifest: MANIFEST_NAME, classes: CLASSES };
  await writeFile(join(out, 'synthemo.json'), `${JSON.stringify(about, null, 2)}\n`);
  return { manifest, entries, seconds, clipsPerSecond: n / seconds };
}

function definedOnly(o: Partial<SynthShape>): Partial<SynthShape> {
  const keys: (keyof SynthShape)[] = ['width', 'height', 'fps', 'seconds', 'noise'];
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}
