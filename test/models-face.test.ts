/**
 * Face encoder (`face-encoder`: torchvision Swin + FaceXFormer fusion): PyTorch goldens (forward
 * and every gradient), the paper preset and its parameter counts, the Swin constants (relative
 * position index, shift rule, shifted-window mask) against torchvision's own constructions,
 * config checks, and the face-token path (7 x 7 pooling + projector).
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { checkGolden, goldenCases, GOLDENS } from './helpers/goldens';
import { BACKEND, assertClose, rng } from './helpers/check';
import { openSafetensors } from '../runtime/safetensors';
import { spec, trace } from '../compiler/trace';
import { compile } from '../runtime/compile';
import { initParams, paramSpecs } from '../dsl/params';
import type { ParamTree } from '../dsl/params';
import {
  faceEncoder,
  faceEncoderArchitecture,
  faceXFormerConfig,
  faceXFormerPaperConfig,
  faceXFormerParamCount,
  faceXFormerParams,
  faceXFormerTreeCount,
} from '../models/face/facexformer';
import { relativePositionIndex, shiftedWindowMask, stagePlan, stageSides, swinFeaturesParamCount, validityMask, windowGeometry } from '../models/face/swin';
import { adaptiveAvgPool2d, adaptiveBins, faceProjectorParamCount, faceTokens, faceTokensConfig, faceTokensParams, projectFaceMap } from '../models/face/projector';

/** erf(x) = 2/sqrt(pi) * integral_0^x exp(-u^2) du, by the midpoint rule (|x| is small here). */
function erf(x: number): number {
  let s = 0;
  const n = 4000;
  for (let i = 0; i < n; i++) s += Math.exp(-((((i + 0.5) * x) / n) ** 2));
  return ((2 / Math.sqrt(Math.PI)) * s * x) / n;
}

/** Linear(F -> H) - GELU (erf) - Linear(H -> H) by hand, PyTorch weight layout [out, in]. */
function project(v: readonly number[], w1: ArrayLike<number>, b1: ArrayLike<number>, w2: ArrayLike<number>, b2: ArrayLike<number>): number[] {
  const F = v.length;
  const H = b1.length;
  const h = Array.from({ length: H }, (_, o) => {
    let a = b1[o];
    for (let i = 0; i < F; i++) a += w1[o * F + i] * v[i];
    return 0.5 * a * (1 + erf(a / Math.SQRT2));
  });
  return Array.from({ length: H }, (_, o) => {
    let a = b2[o];
    for (let i = 0; i < H; i++) a += w2[o * H + i] * h[i];
    return a;
  });
}

const cfgOf = (cs: string) => faceXFormerConfig(JSON.parse(readFileSync(join(GOLDENS, 'face-encoder', cs, 'config.json'), 'utf8')));

describe('face-encoder goldens (torchvision Swin + FaceXFormer fusion, forward + all gradients)', () => {
  for (const c of goldenCases('face-encoder')) it(c, () => checkGolden('face-encoder', c));
});

describe('FaceXFormer paper preset', () => {
  it('has swin_b features and the exact encoder parameter count', () => {
    const c = faceXFormerPaperConfig;
    expect([c.image_size, c.patch_size, c.embed_dim, c.depths, c.num_heads, c.window_size, c.mlp_ratio, c.layer_norm_eps, c.fusion_hidden_size]).toEqual([224, 4, 128, [2, 2, 18, 2], [4, 8, 16, 32], 7, 4, 1e-5, 256]);
    // torchvision swin_b: 87,768,224 = features 86,741,176 + norm 2,048 + head 1,025,000
    expect(swinFeaturesParamCount(c)).toBe(86_741_176);
    // + final norm 2,048 + linear_c (128/256/512/1024 -> 256: 492,544) + linear_fuse (1024 -> 256: 262,144)
    expect(faceXFormerParamCount(c)).toBe(87_497_912);
    expect(faceXFormerTreeCount(c)).toBe(87_497_912);
  });
  it('maps 224 x 224 to the 256 x 56 x 56 fused map (traced, not run)', () => {
    const c = faceXFormerPaperConfig;
    expect(stageSides(c, 224)).toEqual([56, 28, 14, 7]);
    const tr = trace(({ params, x }: { params: any; x: any }) => faceEncoder(c, params, x), { params: paramSpecs(faceXFormerParams(c) as unknown as ParamTree), x: spec([1, 3, 224, 224]) });
    expect([...tr.graph.outputs[0][1].type.shape]).toEqual([1, 256, 56, 56]);
  });
  it('the formula agrees with the golden checkpoints (buffers excluded)', () => {
    for (const cs of goldenCases('face-encoder')) {
      const c = cfgOf(cs);
      const w = openSafetensors(join(GOLDENS, 'face-encoder', cs, 'weights.safetensors'));
      let n = 0;
      for (const [name, e] of w.tensors) if (!name.endsWith('relative_position_index')) n += e.shape.reduce((a, b) => a * b, 1);
      w.close();
      expect(faceXFormerParamCount(c), cs).toBe(n);
      expect(faceXFormerTreeCount(c), cs).toBe(n);
    }
  });
});

describe('Swin constants', () => {
  it('relative_position_index equals the checkpoint buffers', () => {
    for (const cs of goldenCases('face-encoder')) {
      const ws = cfgOf(cs).window_size;
      const w = openSafetensors(join(GOLDENS, 'face-encoder', cs, 'weights.safetensors'));
      const names = [...w.tensors.keys()].filter((k) => k.endsWith('relative_position_index'));
      expect(names.length, cs).toBe(8);
      for (const name of names) expect([...(w.read(name) as Int32Array)], name).toEqual([...relativePositionIndex(ws)]);
      w.close();
    }
  });
  it('shift is dropped on an axis where window >= padded size', () => {
    expect(windowGeometry(8, 7, 3)).toEqual({ padded: 14, shift: 3 });
    expect(windowGeometry(6, 7, 3)).toEqual({ padded: 7, shift: 0 });
    expect(windowGeometry(24, 3, 1)).toEqual({ padded: 24, shift: 1 });
    expect(windowGeometry(3, 3, 1)).toEqual({ padded: 3, shift: 0 });
    const p = stagePlan({ ...faceXFormerPaperConfig }, 8, 6);
    expect([p.Hp, p.Wp, p.sh, p.sw, p.padded, p.shifted]).toEqual([14, 7, 3, 0, true, true]);
    // the validity mask in the rolled frame: row i holds original row (i + 3) % 14
    const v = validityMask(p, true);
    expect([...Array(14).keys()].map((i) => v[i * 7])).toEqual([...Array(14).keys()].map((i) => ((i + 3) % 14 < 8 ? 1 : 0)));
    expect(v[5]).toBe(1);
    expect(v[6]).toBe(0); // column 6 is padding (W = 6)
  });
  it('the shifted-window mask equals torchvision construction (slices + counter)', () => {
    const torchvisionMask = (Hp: number, Wp: number, ws: number, sh: number, sw: number) => {
      const img = Array.from({ length: Hp }, () => new Array<number>(Wp).fill(0));
      const sl = (P: number, s: number): [number, number][] => [[0, P - ws], [P - ws, P - s], [P - s, P]];
      let count = 0;
      for (const [h0, h1] of sl(Hp, sh))
        for (const [w0, w1] of sl(Wp, sw)) {
          for (let i = h0; i < h1; i++) for (let j = w0; j < w1; j++) img[i][j] = count;
          count++;
        }
      const nh = Hp / ws;
      const nw = Wp / ws;
      const N = ws * ws;
      const out: number[] = [];
      for (let a = 0; a < nh; a++)
        for (let b = 0; b < nw; b++) {
          const lab = Array.from({ length: N }, (_, t) => img[a * ws + Math.floor(t / ws)][b * ws + (t % ws)]);
          for (let p = 0; p < N; p++) for (let q = 0; q < N; q++) out.push(lab[p] === lab[q] ? 0 : -100);
        }
      return out;
    };
    for (const [Hp, Wp, ws, sh, sw] of [[21, 14, 7, 3, 3], [14, 7, 7, 3, 0], [24, 24, 3, 1, 1], [12, 6, 3, 1, 1]]) {
      expect([...shiftedWindowMask(Hp, Wp, ws, sh, sw)], `${Hp}x${Wp} ws${ws} shift (${sh}, ${sw})`).toEqual(torchvisionMask(Hp, Wp, ws, sh, sw));
    }
  });
});

describe('face-encoder config and inputs', () => {
  it('fills SwinConfig defaults and names bad fields', () => {
    const c = faceXFormerConfig({ embed_dim: 8, depths: [1, 1], num_heads: [1, 2], window_size: 3, fusion_hidden_size: 4 });
    expect([c.patch_size, c.num_channels, c.mlp_ratio, c.layer_norm_eps]).toEqual([4, 3, 4, 1e-5]);
    const good = { ...faceXFormerPaperConfig };
    expect(() => faceXFormerConfig({ ...good, embed_dim: 0 })).toThrow(/embed_dim/);
    expect(() => faceXFormerConfig({ ...good, num_heads: [4, 8, 16] })).toThrow(/num_heads has 3 entries, depths 4/);
    expect(() => faceXFormerConfig({ ...good, num_heads: [3, 8, 16, 32] })).toThrow(/num_heads\[0\] = 3/);
    expect(() => faceXFormerConfig({ ...good, model_type: 'swin' })).toThrow(/model_type/);
    expect(() => faceXFormerConfig({ ...good, fusion_hidden_size: undefined })).toThrow(/fusion_hidden_size/);
  });
  it('checks pixel_values', () => {
    const check = faceEncoderArchitecture.inputs(faceXFormerPaperConfig)[0].check!;
    expect(check([2, 3, 224, 224])).toBeUndefined();
    expect(check([1, 3, 61, 46])).toBeUndefined();
    expect(check([1, 1, 224, 224])).toMatch(/num_channels = 3/);
    expect(check([1, 3, 3, 224])).toMatch(/at least patch_size/);
  });
});

describe('face tokens (7 x 7 pooling + face projector)', () => {
  it('adaptive bins follow PyTorch (56 -> 7 is 8 x 8 blocks)', () => {
    expect(adaptiveBins(56, 7)).toEqual(Array.from({ length: 7 }, (_, i) => [8 * i, 8 * i + 8]));
    expect(adaptiveBins(10, 3)).toEqual([[0, 4], [3, 7], [6, 10]]);
  });
  it('pooling equals a hand computation (divisible and overlapping bins)', async () => {
    const hand = (x: Float32Array, [N, C, h, w]: number[], oh: number, ow: number) => {
      const out: number[] = [];
      const bh = adaptiveBins(h, oh);
      const bw = adaptiveBins(w, ow);
      for (let n = 0; n < N; n++)
        for (let c = 0; c < C; c++)
          for (const [a, b] of bh)
            for (const [d, e] of bw) {
              let s = 0;
              for (let i = a; i < b; i++) for (let j = d; j < e; j++) s += x[((n * C + c) * h + i) * w + j];
              out.push(s / ((b - a) * (e - d)));
            }
      return out;
    };
    const r = rng(7);
    for (const [shape, oh, ow] of [[[2, 3, 56, 56], 7, 7], [[1, 2, 10, 9], 3, 4]] as [number[], number, number][]) {
      const x = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * 4 - 2);
      const exe = await compile(({ x: t }: { x: any }) => adaptiveAvgPool2d(t, oh, ow), { x: spec(shape) }, { backend: BACKEND });
      const got = (await exe.run({ x }))[''];
      expect([...got.shape]).toEqual([shape[0], shape[1], oh, ow]);
      assertClose(got.data, hand(x, shape, oh, ow), 1e-5, 1e-6, `pool ${shape} -> ${oh}x${ow}`);
    }
  });
  it('the projector parameter count at the paper widths', () => {
    // Linear(256 -> 3584) + Linear(3584 -> 3584)
    expect(faceProjectorParamCount(256, 3584)).toBe(256 * 3584 + 3584 + 3584 * 3584 + 3584);
    expect(faceProjectorParamCount(256, 3584)).toBe(13_769_728);
  });
  it('paper preset: 8 frames of 224 x 224 give 8 * 49 tokens of width H (traced)', () => {
    const c = faceTokensConfig({ face: faceXFormerPaperConfig, hidden_size: 3584 });
    const tr = trace(({ params, x }: { params: any; x: any }) => faceTokens(c, params, x, 8), { params: paramSpecs(faceTokensParams(c) as unknown as ParamTree), x: spec([16, 3, 224, 224]) });
    expect([...tr.graph.outputs[0][1].type.shape]).toEqual([2, 392, 3584]);
  });
  it('small config: shapes, and faceTokens = pooled + projected encoder map (reference interpreter)', async () => {
    // image 56 -> map 14 x 14 -> 7 x 7 (2 x 2 blocks); B = 2 samples of T = 2 frames. The encoder
    // on the adapter is covered by the goldens: this checks the composition, on the interpreter.
    const face = { model_type: 'facexformer', image_size: 56, patch_size: 4, num_channels: 3, embed_dim: 4, depths: [1, 1, 1, 1], num_heads: [1, 1, 2, 2], window_size: 7, mlp_ratio: 2, layer_norm_eps: 1e-5, fusion_hidden_size: 8 };
    const c = faceTokensConfig({ face, hidden_size: 12 });
    const tree = faceTokensParams(c) as unknown as ParamTree;
    const params = initParams(tree, 5);
    const r = rng(11);
    const x = Float32Array.from({ length: 4 * 3 * 56 * 56 }, () => r() * 2 - 1);
    const specs = { params: paramSpecs(tree), x: spec([4, 3, 56, 56]) };
    const tokens = (await (await compile(({ params: p, x: v }: { params: any; x: any }) => faceTokens(c, p, v, 2), specs, { backend: 'cpu' })).run({ params, x }))[''];
    const map = (await (await compile(({ params: p, x: v }: { params: any; x: any }) => faceEncoder(c.face, p.face_encoder, v), specs, { backend: 'cpu' })).run({ params, x }))[''];
    expect([...map.shape]).toEqual([4, 8, 14, 14]);
    expect([...tokens.shape]).toEqual([2, 98, 12]);
    // by hand: 2 x 2 means, row-major tokens, projector, frames of a sample in order
    const [w1, b1, w2, b2] = ['0.weight', '0.bias', '2.weight', '2.bias'].map((k) => params[`face_projector.${k}`].data);
    for (const [n, tok] of [[0, 0], [1, 48], [2, 10], [3, 30]]) {
      const [ty, tx] = [Math.floor(tok / 7), tok % 7];
      const v = Array.from({ length: 8 }, (_, ch) => {
        let s = 0;
        for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) s += map.data[((n * 8 + ch) * 14 + 2 * ty + i) * 14 + 2 * tx + j];
        return s / 4;
      });
      const want = project(v, w1, b1, w2, b2);
      const [b, t] = [Math.floor(n / 2), n % 2];
      const at = (b * 98 + t * 49 + tok) * 12;
      assertClose(tokens.data.slice(at, at + 12), want, 1e-5, 1e-6, `crop ${n} token ${tok}`);
    }
  });
  it('projectFaceMap on the adapter: frame order and the projector (GELU erf)', async () => {
    const face = { embed_dim: 4, depths: [1], num_heads: [1], window_size: 7, fusion_hidden_size: 8 };
    const c = faceTokensConfig({ face, hidden_size: 12 });
    const tree = faceTokensParams(c) as unknown as ParamTree;
    const params = initParams(tree, 3);
    // the map of crop b*T + t is the constant b*T + t, so every token of frame t of sample b is
    // the projection of that constant vector
    const exe = await compile(({ params: p, m }: { params: any; m: any }) => projectFaceMap(c, p.face_projector, m, 2), { params: paramSpecs(tree), m: spec([4, 8, 14, 14]) }, { backend: BACKEND });
    const m = Float32Array.from({ length: 4 * 8 * 14 * 14 }, (_, i) => Math.floor(i / (8 * 14 * 14)));
    const got = (await exe.run({ params, m }))[''];
    expect([...got.shape]).toEqual([2, 98, 12]);
    const [w1, b1, w2, b2] = ['0.weight', '0.bias', '2.weight', '2.bias'].map((k) => params[`face_projector.${k}`].data);
    for (let b = 0; b < 2; b++)
      for (let t = 0; t < 2; t++) {
        const want = project(new Array(8).fill(b * 2 + t), w1, b1, w2, b2);
        for (const j of [0, 17, 48]) assertClose(got.data.slice((b * 98 + t * 49 + j) * 12, (b * 98 + t * 49 + j + 1) * 12), want, 1e-4, 1e-5, `sample ${b} frame ${t} token ${j}`);
      }
    expect(() => trace(({ params: p, m: mm }: { params: any; m: any }) => projectFaceMap(c, p.face_projector, mm, 3), { params: paramSpecs(tree), m: spec([4, 8, 14, 14]) })).toThrow(/whole number of samples of 3 frames/);
  });
});
