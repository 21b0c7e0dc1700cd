/**
 * Whisper encoder (`whisper-encoder`): PyTorch goldens (forward and every gradient), the
 * whisper-large-v3 preset and its parameter count, the sinusoid table, config and input checks,
 * and the audio path (encoder -> stride-3 average pooling -> projector).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkGolden, goldenCases, GOLDENS } from './helpers/goldens';
import { openSafetensors } from '../runtime/safetensors';
import {
  whisperConfig,
  whisperEncoderParamCount,
  whisperEncoderTreeCount,
  whisperLargeV3Config,
  whisperSinusoids,
  whisperOutputFrames,
  whisperEncoderArchitecture,
  chunkedAttention,
} from '../models/audio/whisper';
import { attention } from '../compiler/composites';
import { checkAgainstReference } from './helpers/check';
import { trace, spec } from '../compiler/trace';
import { compile } from '../runtime/compile';
import { initParams, paramSpecs, paramEntries } from '../dsl/params';
import type { ParamTree } from '../dsl/params';
import type { Tensor } from '../dsl/tensor';
import { BACKEND } from './helpers/check';
import { audioPathParams, audioTokenCount, audioTokens, avgPoolTime, pooledLength } from '../models/audio/projector';
import type { AudioPathConfig } from '../models/audio/projector';

const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));

describe('whisper-encoder goldens (PyTorch, forward + all gradients)', () => {
  for (const c of goldenCases('whisper-encoder')) it(c, () => checkGolden('whisper-encoder', c));
});

describe('whisper-large-v3 preset', () => {
  it('has the real encoder parameter count', () => {
    const c = whisperLargeV3Config;
    expect([c.d_model, c.encoder_layers, c.encoder_attention_heads, c.encoder_ffn_dim, c.num_mel_bins, c.max_source_positions]).toEqual([1280, 32, 20, 5120, 128, 1500]);
    // 636,968,960 including the 1500 x 1280 position table (1,920,000), 635,048,960 without it.
    // Cross-check: the same bookkeeping for the decoder (vocab 51866, 448 positions, 32 layers
    // with cross-attention, tied proj_out) gives 906,521,600, and encoder + decoder =
    // 1,543,490,560, the published "1.55B" of whisper-large-v3; with 4 decoder layers
    // (large-v3-turbo) it gives 808,878,080, the published "809M".
    expect(whisperEncoderParamCount(c)).toBe(636_968_960);
    expect(whisperEncoderTreeCount(c)).toBe(636_968_960);
  });
  it('the formula agrees with the parameter tree on the golden configs', () => {
    for (const cs of goldenCases('whisper-encoder')) {
      const c = whisperConfig(readJson(join(GOLDENS, 'whisper-encoder', cs, 'config.json')));
      const w = openSafetensors(join(GOLDENS, 'whisper-encoder', cs, 'weights.safetensors'));
      let n = 0;
      for (const e of w.tensors.values()) n += e.shape.reduce((a, b) => a * b, 1);
      w.close();
      expect(whisperEncoderParamCount(c), cs).toBe(n);
      expect(whisperEncoderTreeCount(c), cs).toBe(n);
    }
  });
});

describe('whisper helpers and checks', () => {
  it('sinusoids match the golden checkpoint tables', () => {
    for (const cs of goldenCases('whisper-encoder')) {
      const w = openSafetensors(join(GOLDENS, 'whisper-encoder', cs, 'weights.safetensors'));
      const name = [...w.tensors.keys()].find((k) => k.endsWith('embed_positions.weight'))!;
      const [P, d] = w.tensors.get(name)!.shape;
      const want = w.read(name) as Float32Array;
      const got = whisperSinusoids(P, d);
      w.close();
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i] - got[i]));
      expect(worst, cs).toBeLessThan(1e-6);
    }
  });
  it('output frames and input checks', () => {
    expect(whisperOutputFrames(3000)).toBe(1500);
    expect(whisperOutputFrames(21)).toBe(11);
    expect(whisperOutputFrames(1)).toBe(1);
    const c = whisperLargeV3Config;
    const check = whisperEncoderArchitecture.inputs(c)[0].check!;
    expect(check([1, 128, 3000])).toBeUndefined();
    expect(check([2, 128, 200])).toBeUndefined();
    expect(check([1, 80, 3000])).toMatch(/num_mel_bins = 128/);
    expect(check([1, 128, 3002])).toMatch(/max_source_positions 1500/);
  });
  it('attention in chunks (batch rows, then groups of heads) equals one attention', async () => {
    // scores per head: 6 x 6 x 4 = 144 bytes; budgets of 2, 3 and 5 heads' worth split B 3 x H 4 differently
    for (const heads of [2, 3, 5, 8]) {
      const out = await checkAgainstReference(
        ({ q, k, v }: { q: Tensor; k: Tensor; v: Tensor }) => ({ one: attention(q, k, v, { scale: 1 }), chunked: chunkedAttention(q, k, v, heads * 144) }),
        { q: spec([3, 4, 6, 5]), k: spec([3, 4, 6, 5]), v: spec([3, 4, 6, 5]) },
      );
      let d = 0;
      for (let i = 0; i < out.one.data.length; i++) d = Math.max(d, Math.abs(out.one.data[i] - out.chunked.data[i]));
      expect(d, `${heads} heads per chunk`).toBeLessThan(1e-6);
    }
  });
  it('a bad config names the field', () => {
    expect(() => whisperConfig({ ...whisperLargeV3Config, d_model: -3 })).toThrow(/d_model/);
    expect(() => whisperConfig({ ...whisperLargeV3Config, encoder_attention_heads: 7 })).toThrow(/multiple of encoder_attention_heads/);
    expect(() => whisperConfig({ ...whisperLargeV3Config, activation_function: 'relu' })).toThrow(/activation_function/);
  });
});

// ------------------------------------------------------------------ the audio path

/** erf to ~1e-15 (series below 3, continued fraction above). */
function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    let sum = 0;
    let term = a;
    for (let n = 0; n < 200; n++) {
      sum += term / (2 * n + 1);
      term *= (-a * a) / (n + 1);
      if (Math.abs(term) < 1e-18) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let k = 60; k >= 1; k--) f = (k / 2) / (a + f);
  return Math.sign(x) * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f));
}

describe('audio path: encoder -> avg pool k3 s3 -> mlp2x_gelu projector', () => {
  it('shapes of the whisper-large-v3 path (traced, not run): [1, 128, 3000] -> [1, 500, 3584]', () => {
    const c: AudioPathConfig = { whisper: whisperLargeV3Config, hidden_size: 3584 };
    expect(audioTokenCount(c, 3000)).toBe(500);
    const tree = audioPathParams(c);
    const names = paramEntries(tree as unknown as ParamTree).map(([p]) => p);
    expect(names.filter((n) => n.startsWith('projector.'))).toEqual(['projector.0.weight', 'projector.0.bias', 'projector.2.weight', 'projector.2.bias']);
    const g = trace(({ params, x }: { params: any; x: Tensor }) => audioTokens(c, params, x), { params: paramSpecs(tree as unknown as ParamTree), x: spec([1, 128, 3000]) });
    expect(g.graph.outputs[0][1].type.shape).toEqual([1, 500, 3584]);
    expect(pooledLength(1500)).toBe(500);
    expect(pooledLength(11)).toBe(3); // floor mode drops the remainder
    expect(pooledLength(5)).toBe(1);
  });

  it('matches a hand-composed float64 reference on the golden encoder output', async () => {
    // the b2 golden: B 2, 16 mels, 24 frames -> encoder [2, 12, 32] (PyTorch) -> 4 tokens
    const dir = join(GOLDENS, 'whisper-encoder', 'b2_t24_full');
    const whisper = whisperConfig(readJson(join(dir, 'config.json')));
    const H = 40;
    const c: AudioPathConfig = { whisper, hidden_size: H };
    const tree = audioPathParams(c) as unknown as ParamTree;
    const values = initParams(tree, 3);
    const wf = openSafetensors(join(dir, 'weights.safetensors'));
    for (const [k] of wf.tensors) values[`encoder.${k.replace(/^encoder\./, '')}`] = { shape: wf.tensors.get(k)!.shape, dtype: 'f32', data: wf.read(k) as Float32Array };
    wf.close();
    // larger projector biases and weights than the default init, so GELU's curvature matters
    for (const k of ['projector.0.bias', 'projector.2.bias']) values[k] = { ...values[k], data: (values[k].data as Float32Array).map((v) => v * 5) };
    const inF = openSafetensors(join(dir, 'inputs.safetensors'));
    const x = inF.read('input_features') as Float32Array;
    inF.close();
    const outF = openSafetensors(join(dir, 'outputs.safetensors'));
    const enc = outF.read('last_hidden_state') as Float32Array; // [2, 12, 32]
    outF.close();

    const exe = await compile(({ params, x: xx }: { params: any; x: Tensor }) => audioTokens(c, params, xx), { params: paramSpecs(tree), x: spec([2, 16, 24]) }, { backend: BACKEND });
    const got = (await exe.run({ params: values, x }))[''];
    expect([...got.shape]).toEqual([2, 4, H]);

    // reference: mean of frames 3t..3t+2, then W2 gelu(W0 p + b0) + b2, in float64
    const d = whisper.d_model;
    const w0 = values['projector.0.weight'].data, b0 = values['projector.0.bias'].data;
    const w2 = values['projector.2.weight'].data, b2 = values['projector.2.bias'].data;
    let worst = 0;
    let scale = 0;
    for (let b = 0; b < 2; b++)
      for (let t = 0; t < 4; t++) {
        const pooled = Array.from({ length: d }, (_, j) => (enc[(b * 12 + 3 * t) * d + j] + enc[(b * 12 + 3 * t + 1) * d + j] + enc[(b * 12 + 3 * t + 2) * d + j]) / 3);
        const h = Array.from({ length: H }, (_, i) => {
          let s = b0[i];
          for (let j = 0; j < d; j++) s += w0[i * d + j] * pooled[j];
          return 0.5 * s * (1 + erf(s / Math.SQRT2));
        });
        for (let o = 0; o < H; o++) {
          let s = b2[o];
          for (let i = 0; i < H; i++) s += w2[o * H + i] * h[i];
          scale = Math.max(scale, Math.abs(s));
          worst = Math.max(worst, Math.abs(got.data[(b * 4 + t) * H + o] - s));
        }
      }
    expect(worst).toBeLessThan(1e-4 * Math.max(1, scale));
  });

  it('avgPoolTime drops the remainder (floor mode) and averages exact triples', async () => {
    const exe = await compile(({ x }: { x: Tensor }) => avgPoolTime(x), { x: spec([1, 7, 2]) }, { backend: BACKEND });
    const data = Float32Array.from({ length: 14 }, (_, i) => i);
    const got = (await exe.run({ x: data }))[''];
    expect([...got.shape]).toEqual([1, 2, 2]);
    expect([...got.data]).toEqual([2, 3, 8, 9]);
  });
});
