import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spec } from '../compiler/trace';
import type { Tensor } from '../dsl/tensor';
import { constant } from '../dsl/tensor';
import { param, init } from '../dsl/params';
import { Trainer } from '../runtime/train/trainer';
import { saveCheckpoint, loadCheckpoint } from '../runtime/train/checkpoint';
import { BACKEND, rng } from './helpers/check';
import { mlpParams, mlpLoss, lmParams, lmLoss } from './helpers/tiny-models';
import type { LmConfig } from './helpers/tiny-models';

function mlpData(n: number, inF: number, classes: number, seed = 3) {
  const r = rng(seed);
  return { x: Array.from({ length: n * inF }, () => r() * 2 - 1), y: Array.from({ length: n }, () => Math.floor(r() * classes)) };
}

const LM: LmConfig = { vocab: 16, dim: 32, heads: 4, kvHeads: 2, layers: 2, hidden: 64, seq: 12 };
function lmData(batch: number, seed = 5) {
  const r = rng(seed);
  return { ids: Array.from({ length: batch * (LM.seq + 1) }, () => Math.floor(r() * LM.vocab)) };
}

describe('training on the WebGPU backend', () => {
  it('a tiny MLP memorises its data (AdamW, cosine schedule with warm-up)', async () => {
    const data = mlpData(32, 8, 4);
    const tr = await Trainer.create({
      params: mlpParams(8, 32, 4),
      loss: mlpLoss,
      batch: { x: spec([32, 8]), y: spec([32], 'i32') },
      optimizer: { kind: 'adamw', weightDecay: 1e-4 },
      lr: 3e-2,
      schedule: { kind: 'cosine', warmupSteps: 10, totalSteps: 300, minLrRatio: 0.1 },
      backend: BACKEND,
    });
    let last = Infinity;
    for (let i = 0; i < 300; i++) last = (await tr.step(data)).loss;
    expect(last).toBeLessThan(0.05);
    tr.dispose();
  });

  it('a tiny transformer LM memorises its sequences; resume is bit-exact', async () => {
    const make = () =>
      Trainer.create({
        params: lmParams(LM),
        loss: lmLoss(LM),
        batch: { ids: spec([4, LM.seq + 1], 'i32') },
        optimizer: { kind: 'adamw', weightDecay: 0.01 },
        lr: 1e-2,
        clipNorm: 1,
        seed: 11,
        backend: BACKEND,
      });
    const data = lmData(4);
    const tr = await make();
    const losses: number[] = [];
    for (let i = 0; i < 150; i++) losses.push((await tr.step(data)).loss);
    expect(losses[0]).toBeGreaterThan(2);
    expect(losses[losses.length - 1]).toBeLessThan(0.05);
    const mem = tr.memory();
    expect(mem.intermediateBytes).toBeLessThan(mem.naiveIntermediateBytes * 0.6);

    // exact resume: 6 steps straight == 3 steps, save, load into a new trainer, 3 steps
    const a = await make();
    for (let i = 0; i < 6; i++) await a.step(data);
    const b = await make();
    for (let i = 0; i < 3; i++) await b.step(data);
    const dir = mkdtempSync(join(tmpdir(), 'omni-ckpt-'));
    await saveCheckpoint(b, join(dir, 'ckpt.safetensors'), { note: 'resume test' });
    b.dispose();
    const c = await make();
    const { config } = await loadCheckpoint(c, join(dir, 'ckpt.safetensors'));
    rmSync(dir, { recursive: true, force: true });
    expect(config).toEqual({ note: 'resume test' });
    expect(c.state.step).toBe(3);
    for (let i = 0; i < 3; i++) await c.step(data);
    const [pa, pc] = [await a.readParams(), await c.readParams()];
    for (const k of Object.keys(pa)) expect(Buffer.from(pc[k].data.buffer).equals(Buffer.from(pa[k].data.buffer)), k).toBe(true);
    const [oa, oc] = [await a.readOptState(), await c.readOptState()];
    for (const k of Object.keys(oa)) expect(Buffer.from(oc[k].data.buffer).equals(Buffer.from(oa[k].data.buffer)), k).toBe(true);
    for (const t of [tr, a, c]) t.dispose();
  });

  it('frozen parameters keep their values and get no optimizer state', async () => {
    const data = mlpData(16, 8, 4);
    const tr = await Trainer.create({ params: mlpParams(8, 16, 4), loss: mlpLoss, batch: { x: spec([16, 8]), y: spec([16], 'i32') }, optimizer: { kind: 'adam' }, lr: 1e-2, freeze: ['fc1'], backend: BACKEND });
    const before = await tr.readParams();
    for (let i = 0; i < 3; i++) await tr.step(data);
    const after = await tr.readParams();
    expect(Array.from(after['fc1.weight'].data)).toEqual(Array.from(before['fc1.weight'].data));
    expect(Array.from(after['fc2.weight'].data)).not.toEqual(Array.from(before['fc2.weight'].data));
    expect([...tr.opt.keys()].sort()).toEqual(['m.fc2.bias', 'm.fc2.weight', 'v.fc2.bias', 'v.fc2.weight']);
    expect(tr.parameterCount().trainable).toBe(16 * 4 + 4);
    tr.dispose();
  });
});

describe('frozen weights as constant inputs', () => {
  it('are packed into their kernel layout once, and again after a checkpoint is loaded into them', async () => {
    // 64 x 128 x 128: the texture matmul, whose packing of the frozen fc1 weight is a constant kernel
    const make = (seed: number) => Trainer.create({ params: mlpParams(128, 128, 4), loss: mlpLoss, batch: { x: spec([64, 128]), y: spec([64], 'i32') }, optimizer: { kind: 'sgd' }, lr: 1e-2, freeze: ['fc1'], seed, backend: BACKEND });
    const data = mlpData(64, 128, 4);
    const [a, b] = [await make(1), await make(2)];
    if (b.exe.plan!.kernels.some((k) => k.label.includes(':mm'))) expect(b.exe.plan!.kernels.some((k) => k.constant)).toBe(true);
    for (let i = 0; i < 2; i++) {
      await a.step(data);
      await b.step(data);
    }
    const dir = mkdtempSync(join(tmpdir(), 'omni-ckpt-'));
    await saveCheckpoint(a, join(dir, 'ckpt.safetensors'));
    await loadCheckpoint(b, join(dir, 'ckpt.safetensors'));
    rmSync(dir, { recursive: true, force: true });
    // b now holds a's frozen weight: its next step is a's
    expect((await b.step(data)).loss).toBe((await a.step(data)).loss);
    a.dispose();
    b.dispose();
  });
});

describe('optimizers match hand-written updates', () => {
  // loss = sum((w - target)^2 * c): gradient 2 c (w - target)
  const target = [0.5, -1, 2, 0.25];
  const coef = [1, 2, 0.5, 3];
  const quad = ({ params }: { params: { w: Tensor } }) => params.w.sub(constant(target, [4])).square().mul(constant(coef, [4])).sum();
  const run = async (optimizer: any, steps: number, groups?: any) => {
    const tr = await Trainer.create({ params: { w: param([4], init.constant(1)) }, loss: quad as never, batch: { dummy: spec([1]) }, optimizer, lr: 0.1, groups, backend: BACKEND });
    for (let i = 0; i < steps; i++) await tr.step({ dummy: [0] });
    const w = Array.from((await tr.readParams()).w.data);
    tr.dispose();
    return w;
  };
  const hand = (kind: string, steps: number, o: any = {}) => {
    const w = [1, 1, 1, 1];
    const m = [0, 0, 0, 0];
    const v = [0, 0, 0, 0];
    for (let t = 1; t <= steps; t++) {
      for (let i = 0; i < 4; i++) {
        let g = 2 * coef[i] * (w[i] - target[i]);
        const lr = 0.1 * (o.lrScale ?? 1);
        if (kind === 'sgd') {
          if (o.weightDecay) g += o.weightDecay * w[i];
          if (o.momentum) {
            m[i] = t === 1 ? g : o.momentum * m[i] + g;
            const d = o.nesterov ? g + o.momentum * m[i] : m[i];
            w[i] -= lr * d;
          } else w[i] -= lr * g;
        } else {
          if (kind === 'adam' && o.weightDecay) g += o.weightDecay * w[i];
          m[i] = 0.9 * m[i] + 0.1 * g;
          v[i] = 0.999 * v[i] + 0.001 * g * g;
          if (kind === 'adamw' && o.weightDecay) w[i] -= lr * o.weightDecay * w[i];
          w[i] -= (lr * (m[i] / (1 - 0.9 ** t))) / (Math.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8);
        }
      }
    }
    return w;
  };
  const close = (a: number[], b: number[]) => a.forEach((x, i) => expect(x).toBeCloseTo(b[i], 5));
  it('SGD, with momentum, Nesterov and weight decay', async () => {
    close(await run({ kind: 'sgd' }, 3), hand('sgd', 3));
    close(await run({ kind: 'sgd', momentum: 0.9 }, 3), hand('sgd', 3, { momentum: 0.9 }));
    close(await run({ kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 0.1 }, 3), hand('sgd', 3, { momentum: 0.9, nesterov: true, weightDecay: 0.1 }));
  });
  it('Adam (L2) and AdamW (decoupled), with a parameter group of its own learning rate', async () => {
    close(await run({ kind: 'adam', weightDecay: 0.1 }, 4), hand('adam', 4, { weightDecay: 0.1 }));
    close(await run({ kind: 'adamw', weightDecay: 0.1 }, 4), hand('adamw', 4, { weightDecay: 0.1 }));
    close(await run({ kind: 'adamw' }, 4, [{ patterns: 'w', lrScale: 0.5, weightDecay: 0.2 }]), hand('adamw', 4, { lrScale: 0.5, weightDecay: 0.2 }));
  });
});
