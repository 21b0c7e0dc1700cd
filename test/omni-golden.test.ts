/**
 * Omni-Emotion (`omni-emotion`): PyTorch parity of the composed model on the golden cases of
 * test/goldens/omni-emotion (scripts/goldens/make_goldens.py: LLaVA-NeXT's visual path and splice,
 * HumanOmni's audio path, the three fusion variants, the tiny face CNN and FaceXFormer, Qwen2).
 * On the WebGPU adapter, for every case:
 *   - `runArchitecture` (what `omni-emotion run omni-emotion --grad` runs; checkGolden's rules): the logits and
 *     d sum(logits * cotangent) / dX for every parameter and every float input;
 *   - the causal-LM loss with labels (omniForward) and d loss / dX for the same X, plus the labels
 *     after the splice;
 * each within 1e-3 of the largest magnitude of the tensor (f32 against PyTorch's float64; the
 * key-projection biases that softmax ignores on the scale of their weight's gradient: KEY_BIAS).
 * One case also goes through the command line (`main(['run', 'omni-emotion', ...])`).
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goldenCases, GOLDENS } from './helpers/goldens';
import { BACKEND } from './helpers/check';
import { main } from '../cli/main';
import { spec } from '../compiler/trace';
import type { SpecTree } from '../compiler/trace';
import { valueAndGrad } from '../dsl/grad';
import { paramEntries, paramSpecs } from '../dsl/params';
import type { ParamTree } from '../dsl/params';
import type { Tensor } from '../dsl/tensor';
import { compile } from '../runtime/compile';
import type { HostTensor } from '../runtime/host';
import { openSafetensors } from '../runtime/safetensors';
import { loadWeights } from '../models/weights';
import { runArchitecture } from '../models/run';
import { omniConfig } from '../models/omni/config';
import type { OmniConfig } from '../models/omni/config';
import type { OmniInputs, OmniParams } from '../models/omni/model';
import { omniArchitecture, omniEmbeddings, omniForward, omniParams } from '../models/omni/model';

const ARCH = 'omni-emotion';
const TOL = 1e-3;
/** Cold, one case compiles a few hundred kernels on a software adapter. */
const TIMEOUT = 600_000;
const FLOAT_INPUTS = ['pixel_values', 'face_values', 'input_features'] as const;

interface ManifestCase {
  arch: string;
  case: string;
  weight_prefix: string;
  loss: { value: number; counted_tokens: number };
}
const manifest = JSON.parse(readFileSync(join(GOLDENS, 'MANIFEST.json'), 'utf8')) as { cases: ManifestCase[] };
const manifestCase = (name: string) => manifest.cases.find((c) => c.arch === ARCH && c.case === name)!;
const configOf = (name: string): OmniConfig => omniConfig(JSON.parse(readFileSync(join(GOLDENS, ARCH, name, 'config.json'), 'utf8')), name);

const maxAbs = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};

/**
 * Gradients that are zero in exact arithmetic: a key bias adds the same q.b to every score of a
 * query, which softmax ignores (SigLIP's attention and the fusion's cross-attention; not Qwen2's,
 * whose keys are rotated by RoPE). PyTorch's float64 leaves rounding noise (~1e-15); our f32 leaves
 * noise of order 1e-6 of the terms that cancel, whose size is that of the key weight's gradient.
 * Such a gradient is compared on the scale of its sibling `k_proj.weight` gradient (and the golden
 * must indeed be noise on that scale).
 */
const KEY_BIAS = /(vision_model\.encoder\.layers\.\d+\.self_attn|fusion\.cross_attn)\.k_proj\.bias$/;

/** Largest |ours - PyTorch| relative to the largest |PyTorch| of the tensor (floored at 1e-6, as checkGolden), or to `scale`. */
function relError(what: string, have: HostTensor, want: ArrayLike<number>, shape: readonly number[], scaleOverride?: number): number {
  expect([...have.shape], `${what}: shape`).toEqual([...shape]);
  const scale = scaleOverride ?? maxAbs(want);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(have.data[i] - want[i]);
    if (!(d <= worst)) [worst, at] = [d, i];
  }
  const rel = worst / Math.max(scale, 1e-6);
  if (!(rel <= TOL)) throw new Error(`${what}: element ${at} is ${have.data[at]}, PyTorch ${want[at]} (|diff| ${worst.toExponential(2)} > ${TOL} x max |value| ${scale.toExponential(2)})`);
  return rel;
}

interface Comparison {
  /** relative error per compared tensor */
  readonly errors: Record<string, number>;
  /** the largest of the gradients' (grad.*) errors and where */
  readonly worstGrad: number;
  readonly at: string;
  readonly count: number;
}

/** Compares every tensor of a golden file (except `skip`) with ours, by the golden's name. */
function compareFile(what: string, file: string, got: Record<string, HostTensor>, skip: readonly string[] = []): Comparison {
  const want = openSafetensors(file);
  try {
    const errors: Record<string, number> = {};
    let [worstGrad, at] = [0, ''];
    for (const [name, e] of want.tensors) {
      if (skip.includes(name)) continue;
      expect(got[name], `${what}: missing '${name}' in our outputs`).toBeDefined();
      const w = want.read(name) as Float32Array;
      let scale: number | undefined;
      if (KEY_BIAS.test(name)) {
        scale = maxAbs(want.read(name.replace(/bias$/, 'weight')) as Float32Array);
        expect(maxAbs(w), `${what}/${name}: PyTorch's value is rounding noise next to the key weight's gradient`).toBeLessThan(1e-9 * scale);
      }
      errors[name] = relError(`${what}/${name}`, got[name], w, e.shape, scale);
      if (name.startsWith('grad.') && errors[name] >= worstGrad) [worstGrad, at] = [errors[name], name];
    }
    return { errors, worstGrad, at, count: Object.keys(errors).length };
  } finally {
    want.close();
  }
}

/** The case's inputs (input_ids and the three float inputs) and its labels, as host tensors. */
function readCaseInputs(dir: string): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  const inputs = openSafetensors(join(dir, 'inputs.safetensors'));
  const loss = openSafetensors(join(dir, 'loss.safetensors'));
  try {
    const e = inputs.tensors.get('input_ids')!;
    out.input_ids = { shape: e.shape, dtype: 'i32', data: inputs.read('input_ids') as Int32Array };
    for (const k of FLOAT_INPUTS) out[k] = { shape: inputs.tensors.get(k)!.shape, dtype: 'f32', data: inputs.read(k) as Float32Array };
    out.labels = { shape: loss.tensors.get('labels')!.shape, dtype: 'i32', data: loss.read('labels') as Int32Array };
  } finally {
    inputs.close();
    loss.close();
  }
  return out;
}

/**
 * The loss path on the device: omniForward with labels, its value and d loss / d (every parameter
 * and float input), and the spliced labels; compared with loss.safetensors.
 */
async function checkLossGolden(name: string): Promise<Comparison & { loss: number }> {
  const dir = join(GOLDENS, ARCH, name);
  const c = configOf(name);
  const tree = omniParams(c) as unknown as ParamTree;
  const weights = loadWeights(tree, join(dir, 'weights.safetensors'), omniArchitecture.weights);
  const values = readCaseInputs(dir);
  const inputSpecs: Record<string, SpecTree> = {};
  for (const [k, v] of Object.entries(values)) inputSpecs[k] = spec(v.shape, v.dtype);
  const lossOf = ({ params, inputs }: { params: OmniParams; inputs: OmniInputs }) => omniForward(c, params, inputs).loss!;
  const fn = ({ params, inputs }: { params: OmniParams; inputs: OmniInputs }) => {
    const r = valueAndGrad(lossOf, { wrt: (p) => p.startsWith('params.') || FLOAT_INPUTS.some((k) => p === `inputs.${k}`) })({ params, inputs });
    // the labels after the splice (the encoders above them are dead code for this output)
    return { loss: r.value, grads: r.grads, spliced: omniEmbeddings(c, params, inputs).labels as Tensor };
  };
  const exe = await compile(fn, { params: paramSpecs(tree), inputs: inputSpecs }, { backend: BACKEND });
  const res = await exe.run({ params: weights, inputs: values });
  // our names -> the golden's: grad.<prefix><param path>, grad.<float input>
  const prefix = manifestCase(name).weight_prefix;
  const got: Record<string, HostTensor> = { loss: res.loss };
  for (const [k, v] of Object.entries(res)) {
    if (k.startsWith('grads.params.')) got[`grad.${prefix}${k.slice('grads.params.'.length)}`] = v;
    else if (k.startsWith('grads.inputs.')) got[`grad.${k.slice('grads.inputs.'.length)}`] = v;
  }
  expect(Object.keys(got).length, 'one gradient per parameter and float input, plus the loss').toBe(paramEntries(tree).length + FLOAT_INPUTS.length + 1);
  // the spliced labels are integers: exactly equal
  const want = openSafetensors(join(dir, 'loss.safetensors'));
  try {
    expect([...res.spliced.shape]).toEqual([...want.tensors.get('spliced_labels')!.shape]);
    expect(Array.from(res.spliced.data)).toEqual(Array.from(want.read('spliced_labels') as Int32Array));
  } finally {
    want.close();
  }
  const r = compareFile(`${ARCH}/${name} loss`, join(dir, 'loss.safetensors'), got, ['labels', 'spliced_labels']);
  expect(r.count).toBe(Object.keys(got).length);
  return { loss: res.loss.data[0], ...r };
}

describe('omni-emotion goldens (PyTorch: logits, loss and every gradient)', () => {
  const cases = goldenCases(ARCH);

  it('cover the three fusion variants, both face encoders, batch 1 and 2, and a weight prefix', () => {
    expect(cases.length).toBeGreaterThanOrEqual(4);
    const cfgs = cases.map(configOf);
    expect(new Set(cfgs.map((c) => c.fusion))).toEqual(new Set(['video_concat', 'frame_concat', 'cross_attention']));
    expect(cfgs.filter((c) => c.face_config.model_type === 'tiny_face_cnn').length).toBeGreaterThanOrEqual(2);
    expect(cfgs.some((c) => c.face_config.model_type === 'facexformer')).toBe(true);
    expect(cases.some((n) => manifestCase(n).weight_prefix !== '')).toBe(true);
    for (const n of cases) expect(manifestCase(n).loss.counted_tokens, n).toBeGreaterThan(0);
  });

  for (const name of cases) {
    it(`${name}: logits and d sum(logits * cotangent) / d (every parameter, pixel_values, face_values, input_features)`, { timeout: TIMEOUT }, async () => {
      const dir = join(GOLDENS, ARCH, name);
      const tmp = mkdtempSync(join(tmpdir(), 'omni-golden-'));
      const t0 = performance.now();
      try {
        const got = await runArchitecture({ arch: ARCH, config: join(dir, 'config.json'), weights: join(dir, 'weights.safetensors'), inputs: join(dir, 'inputs.safetensors'), out: join(tmp, 'out.safetensors'), grad: true, backend: BACKEND });
        const r = compareFile(`${ARCH}/${name}`, join(dir, 'outputs.safetensors'), got);
        // and nothing beyond what the golden holds (as checkGolden)
        expect(Object.keys(got).length, 'outputs not in the golden').toBe(r.count);
        console.log(`omni-emotion golden ${name} (${BACKEND}): logits ${r.errors.logits.toExponential(2)} of max |logit|; ${r.count - 1} gradients, worst ${r.worstGrad.toExponential(2)} of its max (${r.at}); ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });

    it(`${name}: causal-LM loss over the answer tokens and d loss / d (every parameter and float input)`, { timeout: TIMEOUT }, async () => {
      const t0 = performance.now();
      const r = await checkLossGolden(name);
      expect(Math.abs(r.loss - manifestCase(name).loss.value)).toBeLessThan(TOL * Math.abs(manifestCase(name).loss.value));
      console.log(`omni-emotion golden ${name} (${BACKEND}): loss ${r.loss.toFixed(5)} (${r.errors.loss.toExponential(2)} relative); ${r.count - 1} loss gradients, worst ${r.worstGrad.toExponential(2)} of its max (${r.at}); ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    });
  }

  it('`omni-emotion run omni-emotion --grad` (the command line) writes the golden outputs', { timeout: TIMEOUT }, async () => {
    const name = cases.find((n) => configOf(n).fusion === 'cross_attention')!;
    const dir = join(GOLDENS, ARCH, name);
    const tmp = mkdtempSync(join(tmpdir(), 'omni-golden-cli-'));
    try {
      const out = join(tmp, 'out.safetensors');
      const code = await main(['run', ARCH, '--config', join(dir, 'config.json'), '--weights', join(dir, 'weights.safetensors'), '--inputs', join(dir, 'inputs.safetensors'), '--out', out, '--grad', '--backend', BACKEND]);
      expect(code).toBe(0);
      const f = openSafetensors(out);
      const got: Record<string, HostTensor> = {};
      try {
        for (const [k, e] of f.tensors) got[k] = { shape: e.shape, dtype: 'f32', data: f.read(k) as Float32Array };
      } finally {
        f.close();
      }
      const want = openSafetensors(join(dir, 'outputs.safetensors'));
      const names = [...want.tensors.keys()].sort();
      want.close();
      expect(Object.keys(got).sort()).toEqual(names);
      const r = compareFile(`${ARCH}/${name} (cli)`, join(dir, 'outputs.safetensors'), got);
      expect(r.count).toBe(names.length);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
