import { describe, it, expect } from 'vitest';
import { spec } from '../compiler/trace';
import { Trainer } from '../runtime/train/trainer';
import { BACKEND, rng } from './helpers/check';
import { mlpParams, mlpLoss, lmParams, lmLoss } from './helpers/tiny-models';
import type { LmConfig } from './helpers/tiny-models';
import { getGpu } from '../runtime/gpu';

function mlpData(n: number, seed = 3) {
  const r = rng(seed);
  return { x: Array.from({ length: n * 8 }, () => r() * 2 - 1), y: Array.from({ length: n }, () => Math.floor(r() * 4)) };
}
const mlpTrainer = (extra: object) =>
  Trainer.create({ params: mlpParams(8, 16, 4), loss: mlpLoss, batch: { x: spec([8, 8]), y: spec([8], 'i32') }, optimizer: { kind: 'sgd', momentum: 0.9 }, lr: 0.1, seed: 1, backend: BACKEND, ...extra });

describe('training step features', () => {
  it('gradient accumulation over micro-batches equals one step on the whole batch', async () => {
    const full = mlpData(16);
    const half = (i: number) => ({ x: full.x.slice(i * 64, (i + 1) * 64), y: full.y.slice(i * 8, (i + 1) * 8) });
    const whole = await Trainer.create({ params: mlpParams(8, 16, 4), loss: mlpLoss, batch: { x: spec([16, 8]), y: spec([16], 'i32') }, optimizer: { kind: 'adamw' }, lr: 0.01, seed: 1, backend: BACKEND });
    const acc = await mlpTrainer({ accumulate: 2, optimizer: { kind: 'adamw' }, lr: 0.01 });
    for (let s = 0; s < 3; s++) {
      const a = await whole.step(full);
      const b = await acc.step([half(0), half(1)]);
      expect(b.loss).toBeCloseTo(a.loss, 5);
    }
    const [pw, pa] = [await whole.readParams(), await acc.readParams()];
    for (const k of Object.keys(pw)) Array.from(pw[k].data).forEach((v, i) => expect(pa[k].data[i]).toBeCloseTo(v, 5));
    whole.dispose();
    acc.dispose();
  });

  it('clipping by global norm bounds the update; non-finite steps are skipped and counted', async () => {
    const plain = await mlpTrainer({ optimizer: { kind: 'sgd' } });
    const clipped = await mlpTrainer({ optimizer: { kind: 'sgd' }, clipNorm: 0.01 });
    const data = mlpData(8);
    const before = await plain.readParams();
    const r1 = await plain.step(data);
    const r2 = await clipped.step(data);
    expect(r2.gradNorm).toBeCloseTo(r1.gradNorm, 5);
    expect(r1.gradNorm).toBeGreaterThan(0.01);
    // the clipped update has norm lr * 0.01
    const after = await clipped.readParams();
    let sq = 0;
    for (const k of Object.keys(before)) before[k].data.forEach((v, i) => (sq += (after[k].data[i] - v) ** 2));
    expect(Math.sqrt(sq)).toBeCloseTo(0.1 * 0.01, 5);

    const bad = { ...data, x: data.x.map((v, i) => (i === 5 ? NaN : v)) };
    const p0 = await clipped.readParams();
    const r3 = await clipped.step(bad);
    expect(r3.skipped).toBe(true);
    expect(clipped.state.skipped).toBe(1);
    const p1 = await clipped.readParams();
    for (const k of Object.keys(p0)) expect(Array.from(p1[k].data)).toEqual(Array.from(p0[k].data));
    expect((await clipped.step(data)).skipped).toBe(false);
    plain.dispose();
    clipped.dispose();
  });

  it('mixed precision (f16 compute, f32 master weights, loss scaling) trains the tiny transformer like f32', async () => {
    if (BACKEND === 'cpu' || !(await getGpu()).hasF16) return;
    const c: LmConfig = { vocab: 16, dim: 32, heads: 4, kvHeads: 2, layers: 1, hidden: 64, seq: 12 };
    const r = rng(9);
    const data = { ids: Array.from({ length: 4 * 13 }, () => Math.floor(r() * 16)) };
    const make = (mixedPrecision: boolean) =>
      Trainer.create({ params: lmParams(c), loss: lmLoss(c), batch: { ids: spec([4, 13], 'i32') }, optimizer: { kind: 'adamw' }, lr: 1e-2, seed: 2, mixedPrecision, lossScale: { init: 256, growthInterval: 50 }, backend: BACKEND });
    const [f32, f16] = [await make(false), await make(true)];
    expect(f16.mixed).toBe(true);
    let a = 0;
    let b = 0;
    for (let i = 0; i < 120; i++) {
      a = (await f32.step(data)).loss;
      b = (await f16.step(data)).loss;
    }
    expect(a).toBeLessThan(0.1);
    expect(b).toBeLessThan(0.15);
    expect(Math.abs(a - b)).toBeLessThan(0.1);
    f32.dispose();
    f16.dispose();
  });
});

describe('device failures during a step', () => {
  it('name the step and what to change', async () => {
    const { DeviceError } = await import('../runtime/gpu');
    const tr = await mlpTrainer({ optimizer: { kind: 'sgd' } });
    (tr.exe as { run: unknown }).run = async () => {
      throw new DeviceError('WebGPU GPUOutOfMemoryError: out of memory');
    };
    await expect(tr.step(mlpData(8))).rejects.toThrow(/training step 1: WebGPU GPUOutOfMemoryError: out of memory \(a step plans [\d.]+ MiB on the device; try a smaller batch, gradient accumulation or activation checkpointing; the last checkpoint on disk is untouched\)/);
    expect(tr.state.step).toBe(0);
    tr.dispose();
  });
});
