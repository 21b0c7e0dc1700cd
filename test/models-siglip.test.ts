import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkGolden, goldenCases } from './helpers/goldens';
import { countParams, initParams, paramEntries } from '../dsl/params';
import type { ParamTree } from '../dsl/params';
import { loadWeights, saveWeights } from '../models/weights';
import { architecture } from '../models/registry';
import { checkPixels, decodeSiglipConfig, siglipParams, siglipSo400mPatch14_384 } from '../models/vision/siglip';
import '../models/architectures';

describe('siglip-vision: PyTorch goldens (output and every gradient)', () => {
  for (const c of goldenCases('siglip-vision')) it(c, () => checkGolden('siglip-vision', c));
});

describe('siglip-vision: parameters and configs', () => {
  it('is registered', () => {
    expect(architecture('siglip-vision')?.output).toBe('last_hidden_state');
  });

  it('so400m-patch14-384 parameter counts', () => {
    const full = countParams(siglipParams(siglipSo400mPatch14_384) as unknown as ParamTree);
    const noHead = countParams(siglipParams({ ...siglipSo400mPatch14_384, vision_use_head: false }) as unknown as ParamTree);
    const llava = countParams(siglipParams({ ...siglipSo400mPatch14_384, num_hidden_layers: 26, vision_use_head: false }) as unknown as ParamTree);
    // embeddings 677,376 + 1,152 + 729 * 1,152 = 1,518,336; layer 15,239,504; post-LN 2,304; head 15,238,352
    expect(full).toBe(428_225_600);
    expect(noHead).toBe(412_987_248);
    expect(llava).toBe(397_747_744); // LLaVA: last layer and head deleted (post_layernorm kept, unused)
    expect(full - noHead).toBe(15_238_352);
  });

  it('names follow HF (without vision_model.)', () => {
    const names = paramEntries(siglipParams({ ...siglipSo400mPatch14_384, num_hidden_layers: 1 }) as unknown as ParamTree).map(([p, s]) => `${p} ${s.shape.join('x')}`);
    expect(names).toContain('embeddings.patch_embedding.weight 1152x3x14x14');
    expect(names).toContain('embeddings.position_embedding.weight 729x1152');
    expect(names).toContain('encoder.layers.0.self_attn.out_proj.bias 1152');
    expect(names).toContain('encoder.layers.0.mlp.fc1.weight 4304x1152');
    expect(names).toContain('head.attention.in_proj_weight 3456x1152');
    expect(names).toContain('head.probe 1x1x1152');
  });

  it('checks configs and pixel shapes with readable errors', () => {
    const base = { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, image_size: 16, patch_size: 4 };
    expect(decodeSiglipConfig(base).num_hidden_layers).toBe(2);
    expect(() => decodeSiglipConfig({ ...base, hidden_size: 33 })).toThrow(/multiple of num_attention_heads/);
    expect(() => decodeSiglipConfig({ ...base, vision_feature_layer: -4 })).toThrow(/vision_feature_layer -4 is out of range/);
    expect(() => decodeSiglipConfig({ ...base, patch_size: 0 })).toThrow(/patch_size/);
    expect(() => decodeSiglipConfig({ ...base, hidden_act: 'swish' })).toThrow(/hidden_act/);
    expect(checkPixels(siglipSo400mPatch14_384, [2, 3, 384, 384])).toBeUndefined();
    expect(checkPixels(siglipSo400mPatch14_384, [2, 3, 378, 391])).toBeUndefined();
    expect(checkPixels(siglipSo400mPatch14_384, [2, 3, 336, 336])).toMatch(/24x24 = 576 patches of 14 px, but the position embedding has 27x27 = 729/);
    expect(checkPixels(siglipSo400mPatch14_384, [2, 1, 384, 384])).toMatch(/3 channels/);
  });

  it('loads a LLaVA-OneVision-style checkpoint (prefixed tower, no head, LLM tensors beside it)', () => {
    const cfg = { hidden_size: 8, intermediate_size: 16, num_hidden_layers: 2, num_attention_heads: 2, image_size: 8, patch_size: 4 };
    const tower = siglipParams({ ...cfg, vision_use_head: false }) as unknown as ParamTree;
    const dir = mkdtempSync(join(tmpdir(), 'siglip-llava-'));
    const file = join(dir, 'w.safetensors');
    const values = initParams(tower, 3);
    const extra = initParams({ 'model.layers.0.mlp.up_proj.weight': siglipParams(cfg).post_layernorm.weight, 'model.mm_projector.0.weight': siglipParams(cfg).post_layernorm.weight, 'lm_head.weight': siglipParams(cfg).post_layernorm.weight } as unknown as ParamTree, 1);
    saveWeights(file, { ...Object.fromEntries(Object.entries(values).map(([k, v]) => [`model.vision_tower.vision_tower.vision_model.${k}`, v])), ...extra });
    const arch = architecture('siglip-vision')!;
    // the config says vision_use_head (default true): the head is optional, so its absence is fine
    const loaded = loadWeights(arch.params(cfg), file, arch.weights);
    rmSync(dir, { recursive: true, force: true });
    expect(Object.keys(loaded).sort()).toEqual(Object.keys(values).sort());
    expect(Array.from(loaded['encoder.layers.1.mlp.fc2.weight'].data)).toEqual(Array.from(values['encoder.layers.1.mlp.fc2.weight'].data));
  });
});
