/**
 * Generation with the device-resident KV cache (models/llm/generate.ts) on a tiny random Qwen2:
 * cached greedy decoding equals greedy decoding by re-running the full forward pass every step
 * (same ids, close logits), the inputs_embeds path equals the ids path, top-k = 1 equals greedy,
 * seeded sampling is reproducible and stays inside the top-k / top-p support, stop tokens stop.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeOrThrow } from '../dsl/config';
import { paramEntries, paramSpecs } from '../dsl/params';
import { spec } from '../compiler/trace';
import type { SpecTree } from '../compiler/trace';
import { compile } from '../runtime/compile';
import type { HostTensor } from '../runtime/host';
import { Qwen2Config, qwen2Forward, qwen2Params } from '../models/llm/qwen2';
import type { Qwen2Weights } from '../models/llm/qwen2';
import { argmax, generate, sampleToken, samplingSupport } from '../models/llm/generate';
import type { GenerateOptions, Qwen2Model } from '../models/llm/generate';
import { BACKEND, rng } from './helpers/check';

const config = decodeOrThrow(
  Qwen2Config,
  { vocab_size: 61, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, rope_theta: 10000, eos_token_id: 41, pad_token_id: 0 },
  'tiny qwen2',
);

/** Random weights large enough for peaked logits (HF's N(0, 0.02) would make every step a near-tie). */
function tinyParams(seed: number): Record<string, HostTensor> {
  const r = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const out: Record<string, HostTensor> = {};
  for (const [p, s] of paramEntries(qwen2Params(config))) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const std = p.endsWith('embed_tokens.weight') ? 1 : s.shape.length === 2 ? 1.2 / Math.sqrt(s.shape[1]) : 0.1;
    const mean = p.includes('norm') ? 1 : 0;
    out[p] = { shape: s.shape, dtype: 'f32', data: Float32Array.from({ length: n }, () => mean + std * normal()) };
  }
  return out;
}

const model: Qwen2Model = { config, params: tinyParams(7), backend: BACKEND };
const prompt = [
  [5, 17, 42, 8, 23],
  [31, 2, 9, 55, 14],
];
const N = 12; // new tokens

/** Greedy without a cache: the full forward on the whole (zero-padded) sequence each step; causal, so the padding is never seen. */
async function greedyByFullForward(rows: number[][], maxNew: number) {
  const B = rows.length;
  const T = rows[0].length + maxNew;
  const V = config.vocab_size;
  const exe = await compile(({ params, ids }: { params: Qwen2Weights; ids: any }) => qwen2Forward(config, params, { inputIds: ids }), { params: paramSpecs(qwen2Params(config)), ids: spec([B, T], 'i32') } as SpecTree, { backend: BACKEND });
  const seqs = rows.map((r) => [...r]);
  const logitsPerStep: Float32Array[] = [];
  for (let s = 0; s < maxNew; s++) {
    const ids = Int32Array.from(seqs.flatMap((r) => [...r, ...Array(T - r.length).fill(0)]));
    const { '': out } = await exe.run({ params: model.params, ids });
    const step = new Float32Array(B * V);
    seqs.forEach((r, b) => {
      const at = (b * T + r.length - 1) * V;
      step.set(out.data.subarray(at, at + V), b * V);
      r.push(argmax(step.subarray(b * V, (b + 1) * V)));
    });
    logitsPerStep.push(step);
  }
  return { ids: seqs.map((r, b) => r.slice(rows[b].length)), logits: logitsPerStep };
}

describe('sampling on the host', () => {
  const logits = Float32Array.from([1.0, 3.0, 2.5, -1, 3.0, 0.2, 2.9]);
  it('greedy is the first argmax; temperature 0 is greedy', () => {
    expect(sampleToken(logits, {}, 0.99)).toBe(1);
    expect(sampleToken(logits, { sample: true, temperature: 0 }, 0.99)).toBe(1);
  });
  it('top-k keeps the k largest (ties with the k-th kept), top-p the smallest set reaching p', () => {
    expect(samplingSupport(logits, { topK: 2 })).toEqual([1, 4]);
    expect(samplingSupport(logits, { topK: 3 })).toEqual([1, 4, 6]);
    expect(samplingSupport(logits, { topK: 1 })).toEqual([1, 4]); // a tie at the top: both kept, as HF
    const p = logits.map((x) => Math.exp(x));
    const z = p.reduce((a, b) => a + b, 0);
    const top2 = (p[1] + p[4]) / z;
    expect(samplingSupport(logits, { topP: top2 - 1e-6 })).toEqual([1, 4]);
    expect(samplingSupport(logits, { topP: top2 + 1e-6 })).toEqual([1, 4, 6]);
    expect(samplingSupport(logits, { topP: 1e-9 })).toEqual([1, 4]); // the most probable (and its tie) is always kept
    expect(samplingSupport(Float32Array.from([0, 2, 1]), { topP: 1e-9 })).toEqual([1]);
    expect(samplingSupport(logits, { topK: 4, topP: 0.999999 })).toEqual([1, 2, 4, 6]);
  });
  it('draws follow the filtered distribution', () => {
    const o = { sample: true, temperature: 0.7, topK: 4 };
    const counts = new Array(logits.length).fill(0);
    const r = rng(3);
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sampleToken(logits, o, r())]++;
    const keep = [1, 2, 4, 6];
    const w = keep.map((i) => Math.exp(logits[i] / 0.7));
    const z = w.reduce((a, b) => a + b, 0);
    keep.forEach((i, j) => expect(Math.abs(counts[i] / n - w[j] / z)).toBeLessThan(0.015));
    expect(counts[0] + counts[3] + counts[5]).toBe(0);
  });
});

describe('generate with a KV cache (tiny Qwen2, GQA 4/2, batch 2)', () => {
  let greedy: Awaited<ReturnType<typeof generate>>;
  const cachedLogits: Float32Array[] = [];
  beforeAll(async () => {
    greedy = await generate(model, prompt, { maxNewTokens: N, stopTokens: [], onStep: (_s, l) => cachedLogits.push(l.slice()) });
  });

  it('greedy with the cache equals greedy by re-running the full forward', async () => {
    const ref = await greedyByFullForward(prompt, N);
    expect(greedy.ids).toEqual(ref.ids);
    expect(greedy.finish).toEqual(['length', 'length']);
    let worst = 0;
    let scale = 0;
    ref.logits.forEach((l, s) => l.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - cachedLogits[s][i]));
      scale = Math.max(scale, Math.abs(v));
    }));
    expect(worst).toBeLessThan(1e-4 * scale);
    const { prefillMs, decodeMs, decodeSteps } = greedy.timings;
    // the first call includes compiling both executables; time a second run for the per-token cost
    const again = await generate(model, prompt, { maxNewTokens: N, stopTokens: [] });
    expect(again.ids).toEqual(greedy.ids);
    console.log(
      `tiny qwen2 (B=2, L=5, cache 32): first call prefill ${prefillMs.toFixed(1)} ms, decode ${(decodeMs / decodeSteps).toFixed(2)} ms/token; ` +
        `warm: prefill ${again.timings.prefillMs.toFixed(1)} ms, decode ${(again.timings.decodeMs / again.timings.decodeSteps).toFixed(2)} ms/token over ${again.timings.decodeSteps} steps`,
    );
  });

  it('the inputs_embeds path equals the ids path', async () => {
    const E = model.params['model.embed_tokens.weight'].data;
    const H = config.hidden_size;
    const data = Float32Array.from(prompt.flat().flatMap((t) => Array.from(E.subarray(t * H, (t + 1) * H))));
    const r = await generate(model, { inputsEmbeds: { shape: [2, 5, H], dtype: 'f32', data } }, { maxNewTokens: N, stopTokens: [] });
    expect(r.ids).toEqual(greedy.ids);
  });

  it('a single row and a larger cache give the same tokens', async () => {
    const r = await generate(model, prompt[1], { maxNewTokens: N, stopTokens: [], maxLen: 40 });
    expect(r.ids).toEqual([greedy.ids[1]]);
  });

  it('the cpu backend (reference interpreter, host-side cache) gives the same tokens', async () => {
    const r = await generate({ ...model, backend: 'cpu' }, prompt, { maxNewTokens: N, stopTokens: [] });
    expect(r.ids).toEqual(greedy.ids);
  });

  it('top-k = 1 sampling equals greedy', async () => {
    const r = await generate(model, prompt, { maxNewTokens: N, stopTokens: [], sample: true, topK: 1, temperature: 1.3, seed: 11 });
    expect(r.ids).toEqual(greedy.ids);
  });

  const sampled = async (o: GenerateOptions) => {
    const steps: { logits: Float32Array; tokens: readonly number[] }[] = [];
    const r = await generate(model, prompt, { maxNewTokens: N, stopTokens: [], sample: true, ...o, onStep: (_s, logits, tokens) => steps.push({ logits: logits.slice(), tokens }) });
    return { r, steps };
  };

  it('seeded sampling is reproducible and stays in the top-k / top-p support', async () => {
    const V = config.vocab_size;
    for (const o of [{ temperature: 1.5, topK: 3 }, { temperature: 2, topP: 0.6 }, { temperature: 1.2, topK: 5, topP: 0.8 }] as GenerateOptions[]) {
      const a = await sampled({ ...o, seed: 1 });
      const b = await sampled({ ...o, seed: 1 });
      const c = await sampled({ ...o, seed: 2 });
      expect(b.r.ids).toEqual(a.r.ids);
      expect(c.r.ids).not.toEqual(a.r.ids);
      for (const { steps } of [a, c])
        for (const { logits, tokens } of steps)
          tokens.forEach((tok, row) => {
            const support = samplingSupport(logits.subarray(row * V, (row + 1) * V), o);
            expect(support).toContain(tok);
            if (o.topK) expect(support.length).toBeLessThanOrEqual(o.topK);
          });
    }
    // a flat enough distribution really samples: not every step is the argmax
    const hot = await sampled({ temperature: 3, seed: 5 });
    expect(hot.r.ids).not.toEqual(greedy.ids);
  });

  it('stop tokens end their row (kept in ids, left out of text); the config eos is the default', async () => {
    const stopA = greedy.ids[0][3];
    const stopB = greedy.ids[1][6];
    const r = await generate(model, prompt, { maxNewTokens: N, stopTokens: [stopA, stopB], tokenizer: { decode: (ids) => ids.join(' ') } });
    const cut = (row: number[], t: number) => row.slice(0, row.indexOf(t) + 1);
    const want = [greedy.ids[0], greedy.ids[1]].map((row) => {
      const i = row.findIndex((t) => t === stopA || t === stopB);
      return i < 0 ? row : row.slice(0, i + 1);
    });
    expect(r.ids).toEqual(want);
    expect(r.ids[0].length).toBeLessThanOrEqual(cut(greedy.ids[0], stopA).length);
    expect(r.finish).toEqual(['stop', 'stop']);
    expect(r.text).toEqual(r.ids.map((row) => row.slice(0, -1).join(' ')));
    // the decode loop ran only until the longer row stopped
    expect(r.timings.decodeSteps).toBe(Math.max(...r.ids.map((x) => x.length)) - 1);
    // default stop = the config's eos_token_id (41, which these weights do produce)
    const d = await generate(model, prompt, { maxNewTokens: N });
    expect(d.finish).toContain('stop');
    d.ids.forEach((row, b) => {
      const i = greedy.ids[b].indexOf(41);
      expect(row).toEqual(i < 0 ? greedy.ids[b] : greedy.ids[b].slice(0, i + 1));
    });
  });

  it('checks its arguments', async () => {
    await expect(generate(model, [[1, 2], [3]])).rejects.toThrow(/differ in length/);
    await expect(generate(model, [1, 99])).rejects.toThrow(/outside the vocabulary/);
    await expect(generate(model, [1, 2], { maxNewTokens: 10, maxLen: 8 })).rejects.toThrow(/maxLen/);
    expect((await generate(model, [1, 2], { maxNewTokens: 0 })).ids).toEqual([[]]);
  });
});
