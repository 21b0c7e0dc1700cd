/**
 * Whisper log-mel front end on our kernels (models/audio/logmel.ts) against HF's
 * WhisperFeatureExtractor as computed by @huggingface/transformers: committed goldens
 * (test/goldens/logmel, made by scripts/goldens/make_logmel_golden.ts from espeak-ng speech and a
 * sine), plus a live comparison with transformers.js on fresh signals when it can be imported.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { GOLDENS } from './helpers/goldens';
import { BACKEND, rng } from './helpers/check';
import { openSafetensors } from '../runtime/safetensors';
import { trace, spec } from '../compiler/trace';
import type { Tensor } from '../dsl/tensor';
import { computeLogMel, hannWindow, logMelFrames, logMelSpectrogram, melFilterBank, CHUNK_FRAMES } from '../models/audio/logmel';
import { compile } from '../runtime/compile';

const TOL = 1e-3;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Columns [0, n) of a row-major [rows, cols] array. */
function head(data: ArrayLike<number>, rows: number, cols: number, n: number): Float32Array {
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) for (let c = 0; c < n; c++) out[r * n + c] = data[r * cols + c];
  return out;
}

const golden = (name: string) => {
  const f = openSafetensors(join(GOLDENS, 'logmel', `${name}.safetensors`));
  const out: Record<string, { data: Float32Array; shape: readonly number[] }> = {};
  for (const [k, e] of f.tensors) out[k] = { data: f.read(k) as Float32Array, shape: e.shape };
  f.close();
  return out;
};

const diffs: Record<string, number> = {};

describe('log-mel vs HF WhisperFeatureExtractor (transformers.js goldens)', () => {
  it('speech (espeak-ng), 128 and 80 mels, without the 30 s padding', async () => {
    const g = golden('speech');
    const audio = g.audio.data;
    const F = logMelFrames(audio.length);
    for (const n of [128, 80]) {
      const got = await computeLogMel(audio, { nMels: n, backend: BACKEND });
      expect([...got.shape]).toEqual([1, n, F]);
      expect([...g[`mel${n}`].shape]).toEqual([n, F]);
      const d = maxDiff(got.data, g[`mel${n}`].data);
      diffs[`speech mel${n}`] = d;
      expect(d, `mel${n}`).toBeLessThan(TOL);
    }
  });

  it('speech, padded to 30 s (3000 frames)', async () => {
    const g = golden('speech');
    const got = await computeLogMel(g.audio.data, { nMels: 128, pad30s: true, backend: BACKEND });
    expect([...got.shape]).toEqual([1, 128, CHUNK_FRAMES]);
    const H = g.mel128_30s_head.shape[1];
    const dHead = maxDiff(head(got.data, 128, CHUNK_FRAMES, H), g.mel128_30s_head.data);
    let dTail = 0;
    for (let r = 0; r < 128; r++) for (let c = H; c < CHUNK_FRAMES; c++) dTail = Math.max(dTail, Math.abs(got.data[r * CHUNK_FRAMES + c] - g.mel128_30s_tail.data[r]));
    diffs['speech 30 s'] = Math.max(dHead, dTail);
    expect(dHead).toBeLessThan(TOL);
    expect(dTail).toBeLessThan(TOL);
  });

  it('sine', async () => {
    const g = golden('sine');
    const got = await computeLogMel(g.audio.data, { nMels: 128, backend: BACKEND });
    const d = maxDiff(got.data, g.mel128.data);
    diffs.sine = d;
    expect(d).toBeLessThan(TOL);
    console.log(`log-mel max |ours - transformers.js|: ${Object.entries(diffs).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
  });
});

describe('log-mel semantics', () => {
  it('the max is per utterance: a quieter copy in the same batch is the same features - 0.5', async () => {
    const g = golden('speech');
    const a = g.audio.data;
    const N = a.length;
    const both = new Float32Array(2 * N);
    both.set(a);
    for (let i = 0; i < N; i++) both[N + i] = a[i] * 0.1; // power x 0.01: log10 - 2, normalised - 0.5
    const exe = await compile(({ audio }: { audio: Tensor }) => logMelSpectrogram(audio), { audio: spec([2, N]) }, { backend: BACKEND });
    const out = (await exe.run({ audio: both }))[''];
    const F = logMelFrames(N);
    expect([...out.shape]).toEqual([2, 128, F]);
    const n = 128 * F;
    let d = 0;
    for (let i = 0; i < n; i++) d = Math.max(d, Math.abs(out.data[n + i] - (out.data[i] - 0.5)));
    expect(d).toBeLessThan(1e-3);
    // and row 0 alone is the golden
    expect(maxDiff(out.data.subarray(0, n), g.mel128.data)).toBeLessThan(TOL);
  });

  it('shapes: 30 s pad and trim, frame counts, 1-d input, too-short audio', () => {
    const shapeOf = (n: number, pad30s: boolean, rank1 = false) =>
      trace(({ audio }: { audio: Tensor }) => logMelSpectrogram(audio, { pad30s, nMels: 80 }), { audio: spec(rank1 ? [n] : [3, n]) }).graph.outputs[0][1].type.shape;
    expect(shapeOf(16000, true)).toEqual([3, 80, 3000]);
    expect(shapeOf(600000, true)).toEqual([3, 80, 3000]); // trimmed
    expect(shapeOf(16000, false)).toEqual([3, 80, 100]);
    expect(shapeOf(16159, false, true)).toEqual([1, 80, 100]);
    expect(shapeOf(16160, false)).toEqual([3, 80, 101]);
    expect(logMelFrames(480000)).toBe(3000);
    expect(logMelFrames(1234, true)).toBe(3000);
    expect(() => shapeOf(200, false)).toThrow(/reflect padding needs more than 200 samples/);
    expect(shapeOf(200, true)).toEqual([3, 80, 3000]);
  });

  it('constants: periodic Hann, Slaney filterbank properties', () => {
    const w = hannWindow(400);
    expect(w[0]).toBe(0);
    expect(w[200]).toBeCloseTo(1, 15);
    expect(w[100]).toBeCloseTo(0.5, 15); // periodic: sin^2(pi n / 400)
    for (const nMels of [80, 128]) {
      const fb = melFilterBank(nMels);
      expect(fb.length).toBe(201 * nMels);
      // every filter is non-empty and non-negative; the last bin (8 kHz) is the upper edge of the last filter
      for (let m = 0; m < nMels; m++) {
        let s = 0;
        for (let f = 0; f < 201; f++) {
          expect(fb[f * nMels + m]).toBeGreaterThanOrEqual(0);
          s += fb[f * nMels + m];
        }
        expect(s, `filter ${m}`).toBeGreaterThan(0);
      }
      for (let m = 0; m < nMels; m++) expect(fb[200 * nMels + m]).toBe(0);
    }
    // 0 Hz is the lower edge of the first filter, so bin 0 is in no filter
    expect(melFilterBank(128)[0]).toBe(0);
  });
});

// transformers.js (a devDependency) as a live oracle: fast (~0.2 s per call) and offline.
let transformers: typeof import('@huggingface/transformers') | undefined;
try {
  transformers = await import('@huggingface/transformers');
} catch {
  transformers = undefined;
}

describe.skipIf(!transformers)('log-mel vs transformers.js, live', () => {
  const extractor = (n: number) =>
    new transformers!.WhisperFeatureExtractor({ feature_size: n, sampling_rate: 16000, hop_length: 160, n_fft: 400, chunk_length: 30, n_samples: 480000, nb_max_frames: 3000 });

  it('the filterbank equals transformers.js mel_filter_bank (slaney, slaney)', () => {
    for (const n of [80, 128]) {
      const theirs = extractor(n).config.mel_filters as number[][]; // [n_mels][201]
      const ours = melFilterBank(n);
      let d = 0;
      for (let m = 0; m < n; m++) for (let f = 0; f < 201; f++) d = Math.max(d, Math.abs(theirs[m][f] - ours[f * n + m]));
      expect(d, `${n} mels`).toBeLessThan(1e-12);
    }
  });

  it('noise bursts and a chirp', async () => {
    const r = rng(7);
    const N = 12345;
    const x = new Float32Array(N);
    for (let i = 0; i < N; i++) {
      const t = i / 16000;
      const burst = Math.floor(i / 2000) % 2 === 0 ? 0.3 * (r() * 2 - 1) : 0;
      x[i] = burst + 0.2 * Math.sin(2 * Math.PI * (100 + 3000 * t) * t);
    }
    const theirs = (await extractor(128)(x, { max_length: N })).input_features;
    const ours = await computeLogMel(x, { nMels: 128, backend: BACKEND });
    expect([...ours.shape]).toEqual(theirs.dims);
    expect(maxDiff(ours.data, theirs.data as Float32Array)).toBeLessThan(TOL);
  });
});
