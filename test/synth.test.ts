/**
 * SynthEmo end to end: 8 real clips into a temp folder, read back through the manifest reader
 * and the media decoders; determinism by seed; and the design property that the face carries
 * valence only, the voice arousal only, and the class needs both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readManifest, type Manifest } from '../data/manifest/index';
import { decodeAudio, decodeFrames, probeMedia } from '../data/media/index';
import { CLASSES, PROMPT, assignSplits, faceBox, generateSynthEmo, planSample, renderFrame, type SynthResult } from '../data/synth/index';

const N = 8;
const SEED = 7;
let dir = '';
let first: SynthResult;
let manifest: Manifest;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'omni-synth-'));
  const seen: number[] = [];
  first = await generateSynthEmo({ out: join(dir, 'a'), n: N, seed: SEED, onProgress: (p) => seen.push(p.done) });
  expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  console.log(`SynthEmo: ${N} clips in ${first.seconds.toFixed(2)} s = ${first.clipsPerSecond.toFixed(2)} clips/s`);
  manifest = await readManifest(first.manifest);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SynthEmo corpus', () => {
  it('writes a manifest in the instruction format, with deterministic splits', () => {
    expect(manifest.items).toHaveLength(N);
    const names = CLASSES.map((c) => c.name);
    for (const { entry } of manifest.items) {
      expect(entry.conversations[0]).toEqual({ from: 'human', value: PROMPT });
      expect(entry.conversations[1].from).toBe('gpt');
      const l = entry.labels!;
      expect(names).toContain(l.emotion);
      const cls = CLASSES.find((c) => c.name === l.emotion)!;
      // the answer names an open-vocabulary word of its class and every clue
      expect(l.open_vocab!.every((w) => cls.synonyms.includes(w))).toBe(true);
      expect(l.open_vocab!.some((w) => entry.conversations[1].value.toLowerCase().includes(w))).toBe(true);
      for (const clue of l.clues!) expect(entry.conversations[1].value.toLowerCase()).toContain(clue.toLowerCase());
      // continuous values spread around the class's level, never crossing into the next cell
      const level = (v: number) => (v >= 0.55 ? 1 : v <= -0.55 ? -1 : Math.abs(v) <= 0.2 ? 0 : NaN);
      expect([level(l.valence!), level(l.arousal!)]).toEqual([cls.valence, cls.arousal]);
    }
    // 8 of the first 9 samples: one block of the shuffled classes, so no class repeats
    expect(new Set(manifest.items.map((i) => i.entry.labels!.emotion)).size).toBe(N);
    const splits = manifest.items.map((i) => i.entry.split);
    expect(splits).toEqual(assignSplits(N, SEED));
    expect([splits.filter((s) => s === 'train').length, splits.filter((s) => s === 'val').length, splits.filter((s) => s === 'test').length]).toEqual([6, 1, 1]);
  });

  it('writes real h264 + aac clips that decode to the expected frames and audio', async () => {
    const item = manifest.items[0];
    const info = await probeMedia(item.video!);
    expect(info).toMatchObject({ hasVideo: true, hasAudio: true, width: 224, height: 224, fps: 10, frameCount: 30 });
    expect(info.duration).toBeCloseTo(3, 1);
    const frames = await decodeFrames(item.video!, { count: 8, width: 224, height: 224 });
    expect(frames.data.length).toBe(8 * 224 * 224 * 3);
    expect(frames.indices).toEqual([0, 4, 8, 12, 16, 20, 24, 29]);
    const audio = await decodeAudio(item.audio!);
    expect(Math.abs(audio.length - 48000)).toBeLessThan(1024);
  });

  it('the same seed gives the same manifest', async () => {
    const again = await generateSynthEmo({ out: join(dir, 'b'), n: N, seed: SEED, jobs: 1 });
    expect(readFileSync(again.manifest, 'utf8')).toBe(readFileSync(first.manifest, 'utf8'));
    const other = planSample(SEED + 1, 0, 'train').entry;
    expect(other).not.toEqual(manifest.items[0].entry);
  });

  it('louder voices for higher arousal', async () => {
    const rms = async (i: number) => {
      const a = await decodeAudio(manifest.items[i].audio!);
      return Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    };
    const byArousal = (lvl: number) => manifest.items.map((it, i) => [it, i] as const).filter(([it]) => CLASSES.find((c) => c.name === it.entry.labels!.emotion)!.arousal === lvl);
    const hi = await Promise.all(byArousal(1).map(([, i]) => rms(i)));
    const lo = await Promise.all(byArousal(-1).map(([, i]) => rms(i)));
    expect(hi.length).toBeGreaterThan(0);
    expect(lo.length).toBeGreaterThan(0);
    expect(Math.min(...hi)).toBeGreaterThan(Math.max(...lo));
  });
});

describe('SynthEmo design', () => {
  it('one class per cell of the 3 x 3 valence x arousal grid: neither modality alone names it', () => {
    expect(CLASSES.length).toBeGreaterThanOrEqual(7);
    expect(new Set(CLASSES.map((c) => `${c.valence},${c.arousal}`)).size).toBe(CLASSES.length);
    for (const lvl of [-1, 0, 1]) {
      expect(CLASSES.filter((c) => c.valence === lvl).length).toBeGreaterThan(1);
      expect(CLASSES.filter((c) => c.arousal === lvl).length).toBeGreaterThan(1);
    }
  });

  it('valence changes a few pixels of the face and nothing outside it', () => {
    const { scene } = planSample(SEED, 3, 'train');
    const pos = renderFrame({ ...scene, face: { ...scene.face, valence: 0.8 } }, 5);
    const neg = renderFrame({ ...scene, face: { ...scene.face, valence: -0.8 } }, 5);
    const [x0, y0, x1, y1] = faceBox(scene);
    let inside = 0, outside = 0, sum = 0;
    for (let y = 0; y < scene.height; y++) {
      for (let x = 0; x < scene.width; x++) {
        const i = (y * scene.width + x) * 3;
        const d = Math.abs(pos[i] - neg[i]) + Math.abs(pos[i + 1] - neg[i + 1]) + Math.abs(pos[i + 2] - neg[i + 2]);
        if (d === 0) continue;
        if (x >= x0 && x <= x1 && y >= y0 && y <= y1) [inside, sum] = [inside + 1, sum + d];
        else outside++;
      }
    }
    expect(outside).toBe(0);
    expect(inside).toBeGreaterThan(80); // mouth, brows and eyes moved
    expect(inside).toBeLessThan(0.06 * (x1 - x0) * (y1 - y0)); // ...and only they: subtle
    expect(sum / inside).toBeGreaterThan(20);
    // same valence, same frame: identical bytes (the renderer is pure)
    expect(Buffer.from(renderFrame(scene, 5)).equals(Buffer.from(renderFrame(scene, 5)))).toBe(true);
  });
});
