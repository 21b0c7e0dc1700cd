import { describe, it, expect } from 'vitest';
import { spec } from '../compiler/trace';
import { withLora, mergeLora } from '../dsl/lora';
import { paramSpecs } from '../dsl/params';
import { Trainer } from '../runtime/train/trainer';
import { compile } from '../runtime/compile';
import { BACKEND, rng, assertClose } from './helpers/check';
import { lmParams, lmLoss } from './helpers/tiny-models';
import type { LmConfig } from './helpers/tiny-models';

const c: LmConfig = { vocab: 16, dim: 32, heads: 4, kvHeads: 2, layers: 1, hidden: 48, seq: 8 };

describe('LoRA', () => {
  it('trains only the adapters while the base stays frozen, then merges into the base weights', async () => {
    const tree = withLora(lmParams(c), { targets: ['layers.*.attn.q_proj', 'layers.*.attn.v_proj', 'head'], rank: 4, alpha: 8, dropout: 0.1 });
    const r = rng(4);
    const data = { ids: Array.from({ length: 2 * 9 }, () => Math.floor(r() * 16)) };
    const tr = await Trainer.create({ params: tree, loss: lmLoss(c), batch: { ids: spec([2, 9], 'i32') }, optimizer: { kind: 'adamw' }, lr: 2e-2, train: ['**.lora_A', '**.lora_B'], seed: 3, backend: BACKEND });
    expect(tr.trainable.every((p) => /lora_[AB]$/.test(p))).toBe(true);
    expect(tr.trainable.length).toBe(6);
    const before = await tr.readParams();
    let first = 0;
    let last = 0;
    for (let i = 0; i < 60; i++) {
      const s = await tr.step(data);
      if (i === 0) first = s.loss;
      last = s.loss;
    }
    expect(last).toBeLessThan(first * 0.5);
    const after = await tr.readParams();
    for (const k of Object.keys(before)) if (!/lora_[AB]$/.test(k)) expect(Array.from(after[k].data), k).toEqual(Array.from(before[k].data));

    // inference (no key in scope, so no dropout): adapters vs merged weights give the same loss
    const withAdapters = await compile(lmLoss(c) as never, { params: paramSpecs(tree), batch: { ids: spec([2, 9], 'i32') } }, { backend: BACKEND });
    const merged = mergeLora(after);
    expect(Object.keys(merged).some((k) => k.includes('lora'))).toBe(false);
    const plain = await compile(lmLoss(c) as never, { params: paramSpecs(lmParams(c)), batch: { ids: spec([2, 9], 'i32') } }, { backend: BACKEND });
    const a = await withAdapters.run({ params: after, batch: data });
    const b = await plain.run({ params: merged, batch: data });
    assertClose(b[''].data, a[''].data, 1e-5, 1e-5, 'merged loss');
    tr.dispose();
  });
});

describe('LoRA on the Qwen2 decoder', () => {
  it('adapters on q/v projections change the logits once B is non-zero, and merge back exactly', async () => {
    const { decodeOrThrow } = await import('../dsl/config');
    const { Qwen2Config, qwen2Params, qwen2Forward } = await import('../models/llm/qwen2');
    const { initParams } = await import('../dsl/params');
    const cfg = decodeOrThrow(Qwen2Config, { vocab_size: 19, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1 }, 'cfg');
    const tree = withLora(qwen2Params(cfg), { targets: ['model.layers.*.self_attn.q_proj', 'model.layers.*.self_attn.v_proj'], rank: 2, alpha: 4 });
    const values = initParams(tree, 5);
    for (const k of Object.keys(values)) if (k.endsWith('lora_B')) values[k] = { ...values[k], data: values[k].data.map((_, i) => ((i % 5) - 2) * 0.1) as Float32Array };
    const fwd = ({ params, ids }: { params: any; ids: any }) => qwen2Forward(cfg, params, { inputIds: ids });
    const ids = [1, 5, 7, 3, 0, 18];
    const a = await (await compile(fwd, { params: paramSpecs(tree), ids: spec([1, 6], 'i32') }, { backend: BACKEND })).run({ params: values, ids });
    const b = await (await compile(fwd, { params: paramSpecs(qwen2Params(cfg)), ids: spec([1, 6], 'i32') }, { backend: BACKEND })).run({ params: mergeLora(values), ids });
    assertClose(b[''].data, a[''].data, 1e-5, 1e-5, 'merged logits');
    const plain = { ...values };
    for (const k of Object.keys(plain)) if (k.includes('lora')) delete plain[k];
    const c = await (await compile(fwd, { params: paramSpecs(qwen2Params(cfg)), ids: spec([1, 6], 'i32') }, { backend: BACKEND })).run({ params: plain, ids });
    expect(Array.from(c[''].data)).not.toEqual(Array.from(a[''].data));
  });
});
