import { describe, it, expect } from 'vitest';
import { matcher, trainableSelector } from '../dsl/select';
import { lrFactor } from '../dsl/schedules';

describe('parameter selection by pattern', () => {
  it('segments, wildcards and prefixes', () => {
    const m = matcher(['encoder', 'layers.*.attn.q_proj', '**.lora_A']);
    expect(m('encoder.layers.0.w')).toBe(true);
    expect(m('encoderx.w')).toBe(false);
    expect(m('layers.3.attn.q_proj.weight')).toBe(true);
    expect(m('layers.3.mlp.q_proj.weight')).toBe(false);
    expect(m('a.b.c.lora_A')).toBe(true);
    expect(m('lora_A')).toBe(true);
    expect(m('a.lora_B')).toBe(false);
  });
  it('freeze wins over train', () => {
    const s = trainableSelector(['audio_projector', 'llm'], ['llm.embed']);
    expect(s('audio_projector.fc1.weight')).toBe(true);
    expect(s('llm.embed.weight')).toBe(false);
    expect(s('vision.w')).toBe(false);
  });
});

describe('learning-rate schedules', () => {
  it('warm-up then cosine decay to the floor', () => {
    const s = { kind: 'cosine' as const, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 };
    expect(lrFactor(s, 0)).toBeCloseTo(0.1);
    expect(lrFactor(s, 9)).toBeCloseTo(1);
    expect(lrFactor(s, 10)).toBeCloseTo(1);
    expect(lrFactor(s, 60)).toBeCloseTo(0.55);
    expect(lrFactor(s, 110)).toBeCloseTo(0.1);
    expect(lrFactor({ kind: 'linear', totalSteps: 100 }, 50)).toBeCloseTo(0.5);
    expect(lrFactor({ kind: 'constant', warmupSteps: 4 }, 1)).toBeCloseTo(0.5);
  });
});
