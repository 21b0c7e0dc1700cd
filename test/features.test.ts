/**
 * data/features: the image preprocessing (SigLIP and face path), face tracking and crops, and
 * extractFeatures on real SynthEmo clips: the tensors have the shapes each encoder of each preset
 * expects (checked against the decoded model configs), the face is found where SynthEmo drew it,
 * a clip with no face and no audio falls back and says so, and the CLI writes the three tensors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND } from './helpers/check';
import { generateSynthEmo, faceBox, planSample, type SynthResult } from '../data/synth/index';
import { mediaTools, runTool } from '../data/media/tools';
import { openSafetensors } from '../runtime/safetensors';
import { preset } from '../models/omni/presets';
import { faceImageSize } from '../models/omni/config';
import { main } from '../cli/main';
import {
  IMAGENET_MEAN, IMAGENET_STD, autoDetectorSize, centreBox, cropRegion, cutRegion, extractFeatures, featureOptions, featureShapes, optionsKey,
  resizeRgb, rgbToChw, trackFromDetections, type Box, type Detection, type FaceDetector,
} from '../data/features/index';

const SEED = 3;
let dir = '';
let synth: SynthResult;
const clip = (i: number) => join(dir, synth.entries[i].video!);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'omni-features-'));
  synth = await generateSynthEmo({ out: join(dir, 'synth'), n: 2, seed: SEED });
  dir = join(dir, 'synth');
});
afterAll(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

function range(a: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

const det = (box: Box, score = 0.9): Detection => ({ box, score });

describe('preprocessing', () => {
  it('normalises to CHW with the given mean and std', () => {
    const rgb = Uint8Array.from([0, 128, 255]);
    const out = new Float32Array(3);
    rgbToChw(rgb, 1, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], out);
    expect([...out].map((v) => +v.toFixed(6))).toEqual([-1, +(128 / 255 / 0.5 - 1).toFixed(6), 1]);
    const side2 = new Uint8Array(2 * 2 * 3).map((_, i) => i * 20);
    const chw = new Float32Array(12);
    rgbToChw(side2, 2, IMAGENET_MEAN, IMAGENET_STD, chw);
    // channel c of pixel p sits at c * 4 + p
    for (let p = 0; p < 4; p++) for (let c = 0; c < 3; c++) expect(chw[c * 4 + p]).toBeCloseTo((side2[p * 3 + c] / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c], 6);
  });

  it('resizes with sharp: identity at the same size, a flat image stays flat, aspect not kept', async () => {
    const flat = new Uint8Array(40 * 30 * 3).fill(77);
    expect(await resizeRgb(flat, 40, 30, 40, 30)).toBe(flat);
    const r = await resizeRgb(flat, 40, 30, 16, 16);
    expect(r.length).toBe(16 * 16 * 3);
    expect(new Set(r)).toEqual(new Set([77]));
    // a left/right split keeps its sides after a non-uniform stretch
    const split = new Uint8Array(64 * 32 * 3).map((_, i) => (Math.floor(i / 3) % 64 < 32 ? 0 : 255));
    const s = await resizeRgb(split, 64, 32, 8, 8);
    expect(s[0]).toBe(0);
    expect(s[(8 - 1) * 3]).toBe(255);
  });

  it('grows the face box by the margin, squares it and keeps it inside the frame', () => {
    // FaceXFormer's adjust_bbox: 50% in total, half on each side; clipped, corners truncated
    expect(cropRegion([40, 50, 20, 40], 200, 100, { margin: 0.5, square: false })).toEqual({ x: 35, y: 40, width: 30, height: 60 });
    expect(cropRegion([2, 2, 20, 40], 200, 100, { margin: 0.5, square: false })).toEqual({ x: 0, y: 0, width: 27, height: 52 });
    // square: the longer side after the margin, centred on the box
    expect(cropRegion([40, 50, 20, 40], 200, 200, { margin: 0.5, square: true })).toEqual({ x: 20, y: 40, width: 60, height: 60 });
    // near a border it is shifted inside
    expect(cropRegion([0, 0, 20, 40], 200, 200, { margin: 0.5, square: true })).toEqual({ x: 0, y: 0, width: 60, height: 60 });
    expect(cropRegion([190, 180, 10, 20], 200, 200, { margin: 0, square: true })).toEqual({ x: 180, y: 180, width: 20, height: 20 });
    // larger than the frame: centred, the rest padded
    const big = cropRegion([0, 0, 100, 100], 100, 60, { margin: 0.5, square: true });
    expect(big).toEqual({ x: -25, y: -45, width: 150, height: 150 });
    const rgb = new Uint8Array(100 * 60 * 3).fill(200);
    const cut = cutRegion(rgb, 100, 60, big);
    expect(cut.length).toBe(150 * 150 * 3);
    expect(cut[0]).toBe(0); // padding
    expect(cut[((45 + 10) * 150 + 25 + 10) * 3]).toBe(200); // inside the frame
  });

  it('tracks one face: the overlapping box wins, gaps are interpolated or held, no face falls back', () => {
    const W = 200;
    const H = 100;
    // frame 1 has a stronger face far away: the track keeps the face that overlaps the previous one
    const t = trackFromDetections([[det([10, 10, 40, 40], 0.95)], [det([14, 10, 40, 40], 0.6), det([150, 10, 40, 40], 0.9)], [], [det([30, 10, 40, 40], 0.7)], []], W, H);
    expect(t.fallback).toBe(false);
    expect(t.detected).toBe(3);
    expect(t.sources).toEqual(['detected', 'detected', 'interpolated', 'detected', 'held']);
    expect(t.boxes[1]).toEqual([14, 10, 40, 40]);
    expect(t.boxes[2]).toEqual([22, 10, 40, 40]); // halfway between frames 1 and 3
    expect(t.boxes[4]).toEqual([30, 10, 40, 40]);
    expect(t.scores).toEqual([0.95, 0.6, 0, 0.7, 0]);
    // frames before the first detection hold it
    expect(trackFromDetections([[], [], [det([5, 6, 7, 8])]], W, H).sources).toEqual(['held', 'held', 'detected']);
    // after a cut (no overlap at all) the best box of the frame is taken
    expect(trackFromDetections([[det([0, 0, 20, 20], 0.9)], [det([150, 50, 20, 20], 0.4), det([100, 50, 20, 20], 0.5)]], W, H).boxes[1]).toEqual([100, 50, 20, 20]);
    // no face anywhere: the centred square, reported
    const none = trackFromDetections([[], []], W, H);
    expect(none).toMatchObject({ fallback: true, detected: 0, sources: ['centre', 'centre'] });
    expect(none.boxes[0]).toEqual(centreBox(W, H));
    expect(centreBox(W, H)).toEqual([50, 0, 100, 100]);
    // smoothing pulls a jittery box towards its neighbours
    const s = trackFromDetections([[det([0, 0, 10, 10])], [det([6, 0, 10, 10])], [det([0, 0, 10, 10])]], W, H, { smoothing: 0.5, fallbackScale: 1 });
    expect(s.boxes[1][0]).toBeCloseTo(3, 9);
    expect(autoDetectorSize(224, 224)).toBe(224);
    expect(autoDetectorSize(1920, 1080)).toBe(416);
    expect(autoDetectorSize(30, 20)).toBe(64);
  });

  it('gives the shapes of each preset and keys every option', () => {
    expect(featureShapes(featureOptions('tiny'))).toEqual({ pixel_values: [4, 3, 64, 64], face_values: [4, 3, 48, 48], input_features: [128, 300] });
    expect(featureShapes(featureOptions('small'))).toEqual({ pixel_values: [8, 3, 128, 128], face_values: [8, 3, 64, 64], input_features: [128, 600] });
    expect(featureShapes(featureOptions('paper'))).toEqual({ pixel_values: [8, 3, 384, 384], face_values: [8, 3, 224, 224], input_features: [128, 3000] });
    expect(featureShapes(featureOptions('paper', { frames: 32 })).pixel_values).toEqual([32, 3, 384, 384]);
    const a = optionsKey(featureOptions('tiny'), 'd');
    expect(optionsKey(featureOptions('tiny'), 'd')).toBe(a);
    expect(optionsKey(featureOptions('tiny', { face: { margin: 0.3 } }), 'd')).not.toBe(a);
    expect(optionsKey(featureOptions('tiny'), 'none')).not.toBe(a);
    expect(() => featureOptions('tiny', { frames: 0 })).toThrow(/frames must be a positive integer/);
    expect(() => featureOptions('huge' as 'tiny')).toThrow(/unknown preset 'huge'/);
  });
});

describe('extractFeatures on SynthEmo clips', () => {
  it('gives every preset the shapes its encoders expect, with the face where it was drawn', async () => {
    for (const name of ['tiny', 'small', 'paper'] as const) {
      const cfg = preset(name);
      const o = featureOptions(name);
      for (let i = 0; i < 2; i++) {
        const t0 = performance.now();
        const f = await extractFeatures(clip(i), o, { backend: BACKEND });
        const ms = performance.now() - t0;
        const T = cfg.num_frames;
        // SigLIP: [T, 3, image_size, image_size]; face encoder: its image side; Whisper: num_mel_bins x 2 * max_source_positions
        expect(f.shapes.pixel_values).toEqual([T, 3, cfg.vision_config.image_size, cfg.vision_config.image_size]);
        expect(f.shapes.face_values).toEqual([T, 3, faceImageSize(cfg.face_config), faceImageSize(cfg.face_config)]);
        expect(f.shapes.input_features).toEqual([cfg.audio_config.num_mel_bins, 2 * cfg.audio_config.max_source_positions]);
        expect(f.pixel_values!.length).toBe(T * 3 * o.frameSize ** 2);
        expect(f.face_values!.length).toBe(T * 3 * o.faceSize ** 2);
        expect(f.input_features!.length).toBe(128 * 2 * cfg.audio_config.max_source_positions);
        // value ranges: SigLIP [-1, 1], ImageNet-normalised faces, Whisper's clamp of 8 (log10) = 2 after /4
        const px = range(f.pixel_values!);
        expect(px[0]).toBeGreaterThanOrEqual(-1);
        expect(px[1]).toBeLessThanOrEqual(1);
        const fx = range(f.face_values!);
        expect(fx[0]).toBeGreaterThanOrEqual(-2.2);
        expect(fx[1]).toBeLessThanOrEqual(2.7);
        const [lo, hi] = range(f.input_features!);
        expect(Number.isFinite(lo) && hi - lo <= 2 + 1e-5).toBe(true);
        // meta: 3 s clips at 10 fps, frames sampled as LLaVA does, audio padded to the window
        expect(f.meta).toMatchObject({ preset: name, fps: 10, width: 224, height: 224, audioMissing: false, faceFallback: false, detector: 'tiny-face-detector' });
        expect(f.meta.frameIndices).toHaveLength(T);
        expect(f.meta.audioPadded).toBe(o.audioSeconds > 3);
        // the tracked face lies inside the region SynthEmo drew it in
        const plan = planSample(SEED, i, synth.entries[i].split!);
        const [x0, y0, x1, y1] = faceBox(plan.scene);
        for (const b of f.meta.faceBoxes) {
          const [cx, cy] = [b[0] + b[2] / 2, b[1] + b[3] / 2];
          expect(cx > x0 && cx < x1 && cy > y0 && cy < y1).toBe(true);
        }
        console.log(`features ${name} clip ${i}: ${JSON.stringify(f.shapes)} faces ${f.meta.facesDetected}/${T} in ${ms.toFixed(0)} ms`);
      }
    }
  });

  it('falls back to centre crops and silence for a clip with no face and no audio, and reports it', async () => {
    const file = join(dir, 'grey.mp4');
    const r = await runTool(mediaTools().ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'color=c=gray:s=160x120:d=1:r=10', '-pix_fmt', 'yuv420p', '-y', file]);
    expect(r.code).toBe(0);
    const o = featureOptions('tiny');
    const f = await extractFeatures(file, o, { backend: BACKEND });
    expect(f.meta).toMatchObject({ faceFallback: true, facesDetected: 0, audioMissing: true, audioSamples: 0, audioPadded: true });
    expect(f.meta.faceSources).toEqual(['centre', 'centre', 'centre', 'centre']);
    expect(f.meta.faceCrops[0]).toEqual({ x: 20, y: 0, width: 120, height: 120 });
    expect(f.shapes.input_features).toEqual([128, 300]);
    // silence: log10(1e-10) everywhere -> (-10 + 4) / 4
    expect(new Set(f.input_features)).toEqual(new Set([Math.fround(-1.5)]));
    // a flat grey frame is flat after normalisation (one value per channel at most)
    expect(new Set(f.pixel_values).size).toBeLessThanOrEqual(3);
  });

  it('takes any detector through the FaceDetector interface', async () => {
    let calls = 0;
    const fixed: FaceDetector = {
      name: 'fixed',
      async detect(_rgb, w, h, opts) {
        calls++;
        expect([w, h, opts.inputSize]).toEqual([224, 224, 224]);
        return [{ box: [80, 80, 40, 40], score: 0.8 }];
      },
    };
    const f = await extractFeatures(clip(0), featureOptions('tiny'), { detector: fixed, backend: BACKEND });
    expect(calls).toBe(4);
    expect(f.meta.detector).toBe('fixed');
    expect(f.meta.faceCrops).toEqual(Array(4).fill({ x: 70, y: 70, width: 60, height: 60 }));
    const none = await extractFeatures(clip(0), featureOptions('tiny'), { detector: null, backend: BACKEND });
    expect(none.meta).toMatchObject({ detector: 'none', faceFallback: true });
  });

  it('takes audio alone, or from another file than the video', async () => {
    const o = featureOptions('tiny');
    const both = await extractFeatures(clip(0), o, { detector: null, backend: BACKEND });
    const audio = await extractFeatures({ audio: clip(0) }, o, { backend: BACKEND });
    expect(Object.keys(audio.shapes)).toEqual(['input_features']);
    expect(audio.pixel_values).toBeUndefined();
    expect(audio.input_features).toEqual(both.input_features);
    expect(audio.meta.duration).toBeCloseTo(3, 1);
    const swapped = await extractFeatures({ video: clip(0), audio: clip(1) }, o, { detector: null, backend: BACKEND });
    expect(swapped.pixel_values).toEqual(both.pixel_values);
    expect(swapped.input_features).toEqual((await extractFeatures({ audio: clip(1) }, o, { backend: BACKEND })).input_features);
  });

  it('reports a bad file as a MediaError naming it', async () => {
    await expect(extractFeatures(join(dir, 'nope.mp4'), featureOptions('tiny'))).rejects.toMatchObject({ name: 'MediaError', kind: 'missing', message: expect.stringContaining('nope.mp4') });
  });
});

describe('omni-emotion features', () => {
  it('writes input_features, pixel_values and face_values with the meta', async () => {
    const out = join(dir, 'f.safetensors');
    const code = await main(['features', clip(1), '--out', out, '--preset', 'tiny', '--frames', '6', '--backend', BACKEND]);
    expect(code).toBe(0);
    const st = openSafetensors(out);
    try {
      expect([...st.tensors.keys()].sort()).toEqual(['face_values', 'input_features', 'pixel_values']);
      expect(st.tensors.get('pixel_values')).toMatchObject({ dtype: 'F32', shape: [6, 3, 64, 64] });
      expect(st.tensors.get('face_values')).toMatchObject({ dtype: 'F32', shape: [6, 3, 48, 48] });
      expect(st.tensors.get('input_features')).toMatchObject({ dtype: 'F32', shape: [128, 300] });
      const meta = JSON.parse(st.metadata.meta) as { frameIndices: number[]; faceFallback: boolean };
      expect(meta.frameIndices).toEqual([0, 5, 11, 17, 23, 29]);
      expect(st.metadata.format).toBe('omni-emotion-features');
    } finally {
      st.close();
    }
    expect(await main(['features', clip(1)])).toBe(2); // --out missing
    expect(await main(['features', clip(1), '--out', out, '--preset', 'huge'])).toBe(2);
  });
});
