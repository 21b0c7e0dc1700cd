/**
 * Qwen2ForCausalLM (`qwen2`): PyTorch parity on every golden case (logits and every parameter
 * gradient, tied/untied, MHA/GQA, padding_idx), the Qwen2-7B preset's parameter count, the
 * parameter names, and config errors that name the field.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkGolden, GOLDENS, goldenCases } from './helpers/goldens';
import { BACKEND } from './helpers/check';
import { runArchitecture } from '../models/run';
import { openSafetensors, writeSafetensorsAtomic } from '../runtime/safetensors';
import { paramEntries } from '../dsl/params';
import { decodeOrThrow } from '../dsl/config';
import { QWEN2_7B_PARAMS, Qwen2Config, qwen2_7b, qwen2ParamCount, qwen2Params } from '../models/llm/qwen2';
import { architecture } from '../models/registry';
import '../models/architectures';

describe('qwen2 goldens (PyTorch)', () => {
  const cases = goldenCases('qwen2');
  it('has golden cases', () => expect(cases.length).toBeGreaterThanOrEqual(4));
  for (const c of cases) it(c, () => checkGolden('qwen2', c));
});

describe('qwen2 model', () => {
  it('is registered', () => expect(architecture('qwen2')?.output).toBe('logits'));

  it('takes I64 input_ids (forward only, no cotangent)', async () => {
    const dir = join(GOLDENS, 'qwen2', 'gqa6x1_tied_b2_l5');
    const tmp = mkdtempSync(join(tmpdir(), 'qwen2-i64-'));
    const src = openSafetensors(join(dir, 'inputs.safetensors'));
    const ids = src.read('input_ids') as Int32Array;
    const shape = [...src.tensors.get('input_ids')!.shape];
    src.close();
    writeSafetensorsAtomic(join(tmp, 'in.safetensors'), { input_ids: { dtype: 'I64', shape, data: ids } });
    const got = await runArchitecture({ arch: 'qwen2', config: join(dir, 'config.json'), weights: join(dir, 'weights.safetensors'), inputs: join(tmp, 'in.safetensors'), out: join(tmp, 'out.safetensors'), backend: BACKEND });
    const want = openSafetensors(join(dir, 'outputs.safetensors'));
    const w = want.read('logits') as Float32Array;
    want.close();
    let worst = 0;
    w.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got.logits.data[i]))));
    rmSync(tmp, { recursive: true, force: true });
    expect(worst).toBeLessThan(1e-4 * Math.max(...w.map(Math.abs)));
  });

  it('Qwen2-7B has 7,615,616,512 parameters', () => {
    expect(qwen2ParamCount(qwen2_7b)).toBe(QWEN2_7B_PARAMS);
    expect(QWEN2_7B_PARAMS).toBe(7_615_616_512);
    // by hand: embed + lm_head, 28 x (attention with q/k/v biases + SwiGLU + 2 norms), final norm
    const [V, H, I, L, kv] = [152064, 3584, 18944, 28, 4 * 128];
    const layer = H * H + H + 2 * (H * kv + kv) + H * H + 3 * H * I + 2 * H;
    expect(2 * V * H + L * layer + H).toBe(QWEN2_7B_PARAMS);
  });

  it('uses the Hugging Face names, with lm_head only when untied', () => {
    const base = { vocab_size: 11, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1 };
    const tied = paramEntries(qwen2Params(decodeOrThrow(Qwen2Config, { ...base, tie_word_embeddings: true }, 'c')) as never).map(([p, s]) => `${p} ${s.shape.join('x')}`);
    expect(tied).toEqual([
      'model.embed_tokens.weight 11x8',
      'model.layers.0.self_attn.q_proj.weight 8x8',
      'model.layers.0.self_attn.q_proj.bias 8',
      'model.layers.0.self_attn.k_proj.weight 4x8',
      'model.layers.0.self_attn.k_proj.bias 4',
      'model.layers.0.self_attn.v_proj.weight 4x8',
      'model.layers.0.self_attn.v_proj.bias 4',
      'model.layers.0.self_attn.o_proj.weight 8x8',
      'model.layers.0.mlp.gate_proj.weight 12x8',
      'model.layers.0.mlp.up_proj.weight 12x8',
      'model.layers.0.mlp.down_proj.weight 8x12',
      'model.layers.0.input_layernorm.weight 8',
      'model.layers.0.post_attention_layernorm.weight 8',
      'model.norm.weight 8',
    ]);
    const untied = paramEntries(qwen2Params(decodeOrThrow(Qwen2Config, base, 'c')) as never).map(([p]) => p);
    expect(untied.at(-1)).toBe('lm_head.weight'); // tie_word_embeddings defaults to false, as in HF
  });

  it('fills HF defaults and names bad fields', () => {
    const base = { vocab_size: 11, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 1, num_attention_heads: 2 };
    const c = decodeOrThrow(Qwen2Config, base, 'c');
    expect([c.rms_norm_eps, c.rope_theta, c.tie_word_embeddings, c.num_key_value_heads]).toEqual([1e-6, 10000, false, undefined]);
    expect(() => decodeOrThrow(Qwen2Config, { ...base, num_key_value_heads: 3 }, 'cfg.json')).toThrow(/num_key_value_heads.*multiple/);
    expect(() => decodeOrThrow(Qwen2Config, { ...base, hidden_size: 9 }, 'cfg.json')).toThrow(/hidden_size/);
    expect(() => decodeOrThrow(Qwen2Config, { ...base, hidden_act: 'gelu' }, 'cfg.json')).toThrow(/hidden_act/);
    expect(() => decodeOrThrow(Qwen2Config, { ...base, rope_scaling: { type: 'yarn', factor: 4 } }, 'cfg.json')).toThrow(/rope_scaling/);
    expect(() => decodeOrThrow(Qwen2Config, { ...base, pad_token_id: 11 }, 'cfg.json')).toThrow(/pad_token_id/);
    expect(() => decodeOrThrow(Qwen2Config, { ...base, vocab_size: 0 }, 'cfg.json')).toThrow(/vocab_size/);
  });
});
