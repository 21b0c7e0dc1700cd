/**
 * Inference and evaluation (models/omni/infer/, `omni-emotion infer` and `eval`): a tiny
 * checkpoint trained for a few steps on a SynthEmo corpus describes a clip; `infer --json` prints
 * one JSON object; `eval --task synthemo` gives UAR/WAR and EMER-OV metrics and a Markdown table;
 * `--ablate modality` gives the 4 rows V, V+A, V+F, V+A+F. Bad input is one line.
 */
import { afterAll, beforeAll, describe as suite, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND } from './helpers/check';
import { generateSynthEmo } from '../data/synth/index';
import { runTraining } from '../models/omni/train/driver';
import { describe, loadOmniCheckpoint, promptFor, promptIds, releaseCheckpoint, clipFeatures, ALL_MODALITIES, DESCRIBE_PROMPT } from '../models/omni/infer/describe';
import { omniForward, omniParams } from '../models/omni/model';
import { paramSpecs } from '../dsl/params';
import type { OmniParams } from '../models/omni/model';
import { compile } from '../runtime/compile';
import { spec } from '../compiler/trace';
import type { Tensor } from '../dsl/tensor';
import type { OmniCheckpoint } from '../models/omni/infer/describe';
import { synthEmoClassOf } from '../models/omni/infer/eval';
import { main } from '../cli/main';

let root = '';
let manifest = '';
let ckDir = '';
let clip = '';
const quiet = () => {};

/** Runs the CLI, capturing stdout and stderr. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'omni-infer-eval-'));
  const synth = await generateSynthEmo({ out: join(root, 'synth'), n: 8, seed: 1 });
  manifest = synth.manifest;
  clip = join(root, 'synth', synth.entries[0].video!);
  ckDir = join(root, 'run');
  await runTraining({
    preset: 'tiny', data: manifest, stage: 'all', out: ckDir, steps: 2, batch: 2, backend: BACKEND, log: quiet,
    runConfig: { detect_faces: false, log_every: 1, plot_every: 100 },
  });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

suite('omni-emotion inference and evaluation (tiny preset, SynthEmo)', () => {
  it('loads the checkpoint and describes a clip: text, labels, timings', async () => {
    const ck: OmniCheckpoint = loadOmniCheckpoint(ckDir, { backend: BACKEND });
    expect(ck.preset).toBe('tiny');
    expect(ck.detectFaces).toBe(false);
    expect(ck.llm.params['model.embed_tokens.weight'].shape).toEqual([261, 128]);
    const r = await describe(ck, clip, { maxNewTokens: 12 });
    expect(typeof r.text).toBe('string');
    expect(Array.isArray(r.labels)).toBe(true);
    expect(r.timings.tokens).toBeGreaterThan(0);
    expect(r.timings.tokens).toBeLessThanOrEqual(12);
    // the spliced prompt: 4 frames x (4 visual + 9 face) + newline, 50 audio tokens, the text
    expect(r.timings.promptTokens).toBeGreaterThan(4 * 13 + 1 + 50);
    for (const k of ['featuresMs', 'embedMs', 'prefillMs', 'decodeMs', 'totalMs'] as const) expect(r.timings[k]).toBeGreaterThanOrEqual(0);
    // greedy decoding is deterministic
    let first: Float32Array | undefined;
    const again = await describe(ck, clip, { maxNewTokens: 12, onStep: (step, logits) => void (step === 0 && (first = Float32Array.from(logits))) });
    expect(again.text).toBe(r.text);

    // the prefill's logits (spliced embeddings -> KV-cache prefill) are omniForward's at the last prompt position
    const f = await clipFeatures(ck, clip);
    const ids = promptIds(ck, DESCRIBE_PROMPT, ALL_MODALITIES);
    const c = ck.config;
    const exe = await compile(
      (a: { params: OmniParams; input_ids: Tensor; pixel_values: Tensor; face_values: Tensor; input_features: Tensor }) => omniForward(c, a.params, a).logits,
      { params: paramSpecs(omniParams(c) as never), input_ids: spec([1, ids.length], 'i32'), pixel_values: spec(f.shapes.pixel_values!), face_values: spec(f.shapes.face_values!), input_features: spec([1, ...f.shapes.input_features!]) },
      { backend: BACKEND },
    );
    const out = await exe.run({ params: ck.params, input_ids: Int32Array.from(ids), pixel_values: f.pixel_values, face_values: f.face_values, input_features: f.input_features });
    const logits = Object.values(out)[0];
    const [, Lp, V] = logits.shape;
    expect(Lp).toBe(r.timings.promptTokens);
    const last = (logits.data as Float32Array).subarray((Lp - 1) * V, Lp * V);
    expect(first).toBeDefined();
    let maxDiff = 0;
    for (let i = 0; i < V; i++) maxDiff = Math.max(maxDiff, Math.abs(last[i] - first![i]));
    expect(maxDiff).toBeLessThan(1e-3);
    releaseCheckpoint(ck);
  });

  it('builds prompts per modality setting and maps descriptions to SynthEmo classes', () => {
    const p = "<video>\n<audio>\nDescribe the person's emotional state and the clues for it.";
    expect(promptFor(p, ALL_MODALITIES)).toBe(p);
    expect(promptFor(p, { visual: true, face: false, audio: false })).toBe("<video>\nDescribe the person's emotional state and the clues for it.");
    expect(promptFor('Describe.', ALL_MODALITIES)).toBe('<video>\n<audio>\nDescribe.');
    expect(synthEmoClassOf(['joyful'])).toBe('happy');
    expect(synthEmoClassOf(['furious', 'sad'])).toBe('angry');
    expect(synthEmoClassOf([])).toBe('');
  });

  it('infer --json prints one JSON object; errors are one line', async () => {
    const r = await cli(['infer', clip, '--checkpoint', ckDir, '--json', '--max-tokens', '8', '--backend', BACKEND]);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(1);
    const j = JSON.parse(lines[0]);
    expect(typeof j.text).toBe('string');
    expect(Array.isArray(j.labels)).toBe(true);
    expect(j.timings.tokens).toBeGreaterThan(0);

    const plain = await cli(['infer', clip, '--checkpoint', ckDir, '--max-tokens', '8', '--backend', BACKEND]);
    expect(plain.code).toBe(0);
    expect(plain.out).toMatch(/labels: /);

    const missing = await cli(['infer', clip, '--checkpoint', join(root, 'nope'), '--backend', BACKEND]);
    expect(missing.code).toBe(2);
    expect(missing.err.trim().split('\n')).toHaveLength(1);
    expect(missing.err).toMatch(/no such checkpoint folder/);

    const bad = join(root, 'bad.mp4');
    writeFileSync(bad, 'not a video');
    const media = await cli(['infer', bad, '--checkpoint', ckDir, '--backend', BACKEND]);
    expect(media.code).not.toBe(0);
    expect(media.code).not.toBe(70);
    expect(media.err.trim().split('\n')).toHaveLength(1);
    expect(media.err).toMatch(/bad\.mp4/);
  });

  it('eval --task synthemo: UAR/WAR in [0, 1], EMER-OV, a Markdown table and a JSON report', async () => {
    const json = join(root, 'eval.json');
    const r = await cli(['eval', '--task', 'synthemo', '--data', manifest, '--checkpoint', ckDir, '--split', 'all', '--limit', '3', '--max-tokens', '8', '--json', json, '--backend', BACKEND]);
    expect(r.err).toMatch(/item 3\/3 .*ETA/);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\| Setting \| n \| SynthEmo UAR \| SynthEmo WAR \| EMER-OV Acc \| EMER-OV Recall \| EMER-OV Avg \|/);
    expect(r.out).toMatch(/\| V\+A\+F \| 3 \|/);
    expect(existsSync(json)).toBe(true);
    const rep = JSON.parse(readFileSync(json, 'utf8'));
    expect(rep.n).toBe(3);
    for (const k of ['uar', 'war'] as const) {
      expect(rep.metrics[k]).toBeGreaterThanOrEqual(0);
      expect(rep.metrics[k]).toBeLessThanOrEqual(1);
    }
    expect(rep.metrics.emerOv.avg).toBeGreaterThanOrEqual(0);
    expect(rep.metrics.emerOv.avg).toBeLessThanOrEqual(1);
    expect(rep.settings[0].items).toHaveLength(3);
    expect(typeof rep.settings[0].items[0].text).toBe('string');
  });

  it('eval --ablate modality gives the rows V, V+A, V+F, V+A+F', async () => {
    const json = join(root, 'ablate.json');
    const r = await cli(['eval', '--task', 'synthemo', '--data', manifest, '--checkpoint', ckDir, '--split', 'all', '--limit', '1', '--max-tokens', '4', '--ablate', 'modality', '--json', json, '--backend', BACKEND]);
    expect(r.code).toBe(0);
    const rows = r.out.trim().split('\n').slice(2);
    expect(rows.map((l) => l.split('|')[1].trim())).toEqual(['V', 'V+A', 'V+F', 'V+A+F']);
    const rep = JSON.parse(readFileSync(json, 'utf8'));
    expect(rep.rows).toHaveLength(4);
    expect(rep.settings.map((s: { setting: string }) => s.setting)).toEqual(['V', 'V+A', 'V+F', 'V+A+F']);
  });

  it('eval --modalities evaluates one setting (a model trained without some streams)', async () => {
    const r = await cli(['eval', '--task', 'synthemo', '--data', manifest, '--checkpoint', ckDir, '--split', 'all', '--limit', '1', '--max-tokens', '4', '--modalities', 'V+A', '--backend', BACKEND]);
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n').slice(2).map((l) => l.split('|')[1].trim())).toEqual(['V+A']);
    const bad = await cli(['eval', '--task', 'synthemo', '--data', manifest, '--checkpoint', ckDir, '--modalities', 'A']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--modalities A: expected one of V, V\+A, V\+F, V\+A\+F/);
    const both = await cli(['eval', '--task', 'synthemo', '--data', manifest, '--checkpoint', ckDir, '--modalities', 'V', '--ablate', 'modality']);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/--modalities names one setting; leave out --ablate/);
  });

  it('eval reports bad arguments as one line', async () => {
    const r = await cli(['eval', '--task', 'nope', '--data', manifest, '--checkpoint', ckDir]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown task 'nope'/);
    const f = await cli(['eval', '--task', 'synthemo', '--data', manifest, '--checkpoint', ckDir, '--ablate', 'fusion']);
    expect(f.code).toBe(2);
    expect(f.err).toMatch(/one checkpoint per fusion variant/);
  });
});
