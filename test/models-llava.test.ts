import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { spec } from '../compiler/trace';
import type { Tensor } from '../dsl/tensor';
import { compile } from '../runtime/compile';
import { countParams, initParams, paramEntries, paramSpecs } from '../dsl/params';
import type { ParamTree } from '../dsl/params';
import type { HostTensor } from '../runtime/host';
import { openSafetensors } from '../runtime/safetensors';
import { BACKEND, checkAgainstReference, rng } from './helpers/check';
import { GOLDENS } from './helpers/goldens';
import { decodeSiglipConfig } from '../models/vision/siglip';
import type { LlavaVisualConfig, LlavaVisualParams } from '../models/vision/llava';
import { decodeLlavaVisualConfig, llavaOneVision7bVisual, llavaTowerConfig, llavaVisualParams, pool2d, tokensPerFrame, visualTokenCount, visualTokens } from '../models/vision/llava';

const tree = (c: LlavaVisualConfig) => llavaVisualParams(c) as unknown as ParamTree;

// image 56, patch 14: 4x4 patches per frame, pooled to 2x2
const small: LlavaVisualConfig = {
  hidden_size: 16,
  vision_config: { hidden_size: 8, intermediate_size: 12, num_hidden_layers: 3, num_attention_heads: 2, image_size: 56, patch_size: 14, layer_norm_eps: 1e-6, hidden_act: 'gelu_pytorch_tanh' },
  mm_vision_select_layer: -2,
};

/** PyTorch's bilinear source coordinate (align_corners=False), written out independently. */
function torchBilinear1d(inSize: number, outSize: number, o: number): [number, number, number] {
  const src = Math.max(0, (o + 0.5) * (inSize / outSize) - 0.5);
  const i0 = Math.min(Math.floor(src), inSize - 1);
  return [i0, Math.min(i0 + 1, inSize - 1), src - i0];
}
/** x [F, side*side, H] (row-major tokens) -> [F, out*out, H], on plain arrays. */
function poolJs(x: number[], F: number, side: number, H: number, out: number): number[] {
  const y: number[] = [];
  const at = (f: number, r: number, c: number, h: number) => x[((f * side + r) * side + c) * H + h];
  for (let f = 0; f < F; f++)
    for (let oy = 0; oy < out; oy++)
      for (let ox = 0; ox < out; ox++)
        for (let h = 0; h < H; h++) {
          const [y0, y1, wy] = torchBilinear1d(side, out, oy);
          const [x0, x1, wx] = torchBilinear1d(side, out, ox);
          const top = at(f, y0, x0, h) * (1 - wx) + at(f, y0, x1, h) * wx;
          const bot = at(f, y1, x0, h) * (1 - wx) + at(f, y1, x1, h) * wx;
          y.push(top * (1 - wy) + bot * wy);
        }
  return y;
}

describe('LLaVA-OneVision visual tokens', () => {
  it('configs, tower truncation, token counts and parameter counts', () => {
    expect(tokensPerFrame(llavaOneVision7bVisual)).toBe(196);
    expect(visualTokenCount(llavaOneVision7bVisual, 8)).toBe(8 * 196 + 1);
    const tower = llavaTowerConfig(llavaOneVision7bVisual);
    expect([tower.num_hidden_layers, tower.vision_feature_layer, tower.vision_use_head]).toEqual([26, -1, false]);
    const names = paramEntries(tree(llavaOneVision7bVisual)).map(([p]) => p);
    expect(names).toContain('vision_tower.vision_tower.vision_model.encoder.layers.25.mlp.fc2.bias');
    expect(names).not.toContain('vision_tower.vision_tower.vision_model.encoder.layers.26.mlp.fc2.bias');
    expect(names.filter((n) => n.includes('.head.'))).toEqual([]);
    expect(names.filter((n) => !n.startsWith('vision_tower.'))).toEqual(['mm_projector.0.weight', 'mm_projector.0.bias', 'mm_projector.2.weight', 'mm_projector.2.bias', 'image_newline']);
    // tower 397,747,744 (26 layers + post-LN, no head) + projector 16,980,992 + newline 3,584
    expect(countParams(tree(llavaOneVision7bVisual))).toBe(397_747_744 + 16_980_992 + 3_584);
    expect(decodeLlavaVisualConfig({ hidden_size: 16, vision_config: small.vision_config, mm_spatial_pool_mode: 'bilinear' }).hidden_size).toBe(16);
    expect(() => decodeLlavaVisualConfig({ ...small, mm_hidden_size: 9 })).toThrow(/mm_hidden_size 9 differs/);
    expect(() => decodeLlavaVisualConfig({ ...small, mm_vision_select_layer: -4 })).toThrow(/selects the embeddings/);
    expect(() => decodeLlavaVisualConfig({ ...small, mm_projector_type: 'linear' })).toThrow(/mm_projector_type/);
  });

  it('bilinear 2x pooling: 4x4 -> 2x2 is the 2x2 block mean; 5x5 -> 3x3 by hand', async () => {
    // 4 -> 2: source coordinates 0.5 and 2.5, i.e. the mean of each 2x2 block
    const F = 2, H = 3;
    const x4 = Array.from({ length: F * 16 * H }, (_, i) => ((i * 37) % 23) - 11);
    const out4 = await checkAgainstReference(({ x }: { x: Tensor }) => pool2d(x, 4), { x: spec([F, 16, H]) }, { values: { x: x4 } });
    expect(out4[''].shape).toEqual([F, 4, H]);
    const blockMean = (f: number, by: number, bx: number, h: number) =>
      [0, 1].flatMap((dy) => [0, 1].map((dx) => x4[((f * 4 + 2 * by + dy) * 4 + 2 * bx + dx) * H + h])).reduce((a, b) => a + b) / 4;
    for (let f = 0; f < F; f++) for (let t = 0; t < 4; t++) for (let h = 0; h < H; h++)
      expect(out4[''].data[(f * 4 + t) * H + h]).toBeCloseTo(blockMean(f, t >> 1, t & 1, h), 5);
    // 5 -> ceil(5/2) = 3: source rows/cols 1/3, 2, 11/3 -> (0,1; w 1/3), (2; exact), (3,4; w 2/3)
    const x5 = Array.from({ length: 25 }, (_, i) => i * i * 0.1); // one frame, one channel: x[r][c] = (5r+c)^2/10
    const v = (r: number, c: number) => x5[5 * r + c];
    const lerp = (a: number, b: number, w: number) => a + (b - a) * w;
    const taps: [number, number, number][] = [[0, 1, 1 / 3], [2, 2, 0], [3, 4, 2 / 3]];
    const want5 = taps.flatMap(([r0, r1, wr]) => taps.map(([c0, c1, wc]) => lerp(lerp(v(r0, c0), v(r0, c1), wc), lerp(v(r1, c0), v(r1, c1), wc), wr)));
    const out5 = await checkAgainstReference(({ x }: { x: Tensor }) => pool2d(x, 5), { x: spec([1, 25, 1]) }, { values: { x: x5 } });
    Array.from(out5[''].data).forEach((g, i) => expect(g).toBeCloseTo(want5[i], 4));
    // LLaVA-OneVision's 27 -> 14 against PyTorch's formula written out
    const x27 = Array.from({ length: 729 * 2 }, (_, i) => Math.sin(i * 0.37) * 3);
    const out27 = await checkAgainstReference(({ x }: { x: Tensor }) => pool2d(x, 27), { x: spec([1, 729, 2]) }, { values: { x: x27 } });
    expect(out27[''].shape).toEqual([1, 196, 2]);
    const want27 = poolJs(x27, 1, 27, 2, 14);
    Array.from(out27[''].data).forEach((g, i) => expect(Math.abs(g - want27[i])).toBeLessThan(1e-5));
  });

  it('visualTokens shapes at image 56 / patch 14 (2 videos x 3 frames -> [2, 3*4 + 1, H]), GPU vs reference', async () => {
    const frames = 3, B = 2;
    const t = tree(small);
    const out = await checkAgainstReference(
      ({ params, px }: { params: LlavaVisualParams; px: Tensor }) => visualTokens(small, params, px, frames),
      { params: paramSpecs(t), px: spec([B * frames, 3, 56, 56]) },
      { rtol: 1e-3, atol: 1e-4 },
    );
    expect(out[''].shape).toEqual([B, frames * 4 + 1, 16]);
    expect(visualTokenCount(small, frames)).toBe(13);
    // the last token of each video is image_newline
    const init = initParams(t, 5);
    const exe = await compile(({ params, px }: { params: LlavaVisualParams; px: Tensor }) => visualTokens(small, params, px, frames), { params: paramSpecs(t), px: spec([B * frames, 3, 56, 56]) }, { backend: BACKEND });
    const r = rng(9);
    const res = await exe.run({ params: init, px: Float32Array.from({ length: B * frames * 3 * 56 * 56 }, () => r() * 2 - 1) });
    const nl = init['image_newline'].data;
    for (let b = 0; b < B; b++) expect(Array.from(res[''].data.slice((b * 13 + 12) * 16, (b * 13 + 13) * 16))).toEqual(Array.from(nl));
    expect(() => visualTokens(small, {} as LlavaVisualParams, { shape: [5, 3, 56, 56] } as unknown as Tensor, 3)).toThrow(/not a multiple of 3/);
  });

  it('end to end on the PyTorch SigLIP golden: tower (layer -2) -> projector -> pooling -> newline, vs plain JS', async () => {
    // b2_img18_p6_layer-2: 3 layers, output hidden_states[-2]; 18/6 = 3x3 patches -> pooled 2x2
    const dir = join(GOLDENS, 'siglip-vision', 'b2_img18_p6_layer-2');
    const vision = decodeSiglipConfig((await import(join(dir, 'config.json'), { with: { type: 'json' } })).default);
    const cfg: LlavaVisualConfig = { hidden_size: 8, vision_config: { ...vision, vision_feature_layer: undefined }, mm_vision_select_layer: -2 };
    const t = tree(cfg);
    const w = openSafetensors(join(dir, 'weights.safetensors'));
    const inp = openSafetensors(join(dir, 'inputs.safetensors'));
    const outs = openSafetensors(join(dir, 'outputs.safetensors'));
    const params: Record<string, HostTensor> = initParams(t, 11);
    for (const [p, s] of paramEntries(t)) {
      if (!p.startsWith('vision_tower.')) continue;
      const name = p.replace('vision_tower.vision_tower.vision_model.', 'vision_model.');
      params[p] = { shape: [...s.shape], dtype: 'f32', data: w.read(name) as Float32Array };
    }
    const px = inp.read('pixel_values') as Float32Array; // [2, 3, 18, 18]: one video of 2 frames
    const feats = outs.read('last_hidden_state') as Float32Array; // [2, 9, 32], PyTorch
    w.close(); inp.close(); outs.close();
    const exe = await compile(({ params: p, px: x }: { params: LlavaVisualParams; px: Tensor }) => visualTokens(cfg, p, x, 2), { params: paramSpecs(t), px: spec([2, 3, 18, 18]) }, { backend: BACKEND });
    const got = (await exe.run({ params, px }))[''];
    expect(got.shape).toEqual([1, 2 * 4 + 1, 8]);
    // plain JS: Linear(32 -> 8), exact GELU, Linear(8 -> 8), then bilinear 3 -> 2, then the newline
    const erf = (x: number) => { // Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7)
      const s = Math.sign(x), a = Math.abs(x), k = 1 / (1 + 0.3275911 * a);
      return s * (1 - ((((1.061405429 * k - 1.453152027) * k + 1.421413741) * k - 0.284496736) * k + 0.254829592) * k * Math.exp(-a * a));
    };
    const linearJs = (x: number[], n: number, inF: number, outF: number, W: ArrayLike<number>, b: ArrayLike<number>) =>
      Array.from({ length: n * outF }, (_, i) => { const r = Math.floor(i / outF), o = i % outF; let s = b[o]; for (let k = 0; k < inF; k++) s += x[r * inF + k] * W[o * inF + k]; return s; });
    const h1 = linearJs(Array.from(feats), 18, 32, 8, params['mm_projector.0.weight'].data, params['mm_projector.0.bias'].data).map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
    const h2 = linearJs(h1, 18, 8, 8, params['mm_projector.2.weight'].data, params['mm_projector.2.bias'].data);
    const want = [...poolJs(h2, 2, 3, 8, 2), ...Array.from(params['image_newline'].data)];
    let scale = 0;
    for (const v of want) scale = Math.max(scale, Math.abs(v));
    want.forEach((v, i) => expect(Math.abs(got.data[i] - v)).toBeLessThan(1e-4 * scale));
  });
});
