import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spec } from '../compiler/trace';
import { Trainer } from '../runtime/train/trainer';
import { trainLoop } from '../runtime/train/loop';
import { loadCheckpoint } from '../runtime/train/checkpoint';
import { BACKEND, rng } from './helpers/check';
import { mlpParams, mlpLoss } from './helpers/tiny-models';

describe('training loop', () => {
  it('logs progress, skips non-finite steps, writes a CSV and a checkpoint', async () => {
    const r = rng(2);
    const good = { x: Array.from({ length: 64 }, () => r() - 0.5), y: Array.from({ length: 8 }, () => Math.floor(r() * 4)) };
    const bad = { ...good, x: good.x.map((v, i) => (i === 0 ? Infinity : v)) };
    const tr = await Trainer.create({ params: mlpParams(8, 16, 4), loss: mlpLoss, batch: { x: spec([8, 8]), y: spec([8], 'i32') }, optimizer: { kind: 'adamw' }, lr: 1e-2, backend: BACKEND });
    const dir = mkdtempSync(join(tmpdir(), 'omni-loop-'));
    const lines: string[] = [];
    const s = await trainLoop(tr, { steps: 12, data: (i) => (i === 4 ? bad : good), samplesPerStep: 8, logEvery: 5, csv: join(dir, 'loss.csv'), checkpoint: { path: join(dir, 'ckpt.safetensors'), config: { run: 1 } }, log: (l) => lines.push(l) });
    expect(s.steps).toBe(12);
    expect(s.skipped).toBe(1);
    expect(lines.some((l) => /step 5: loss or gradients not finite.*update skipped \(1 skipped so far\)/.test(l))).toBe(true);
    expect(lines.some((l) => /^step 10\/12  loss \d\.\d{4}  lr 1\.00e-2  [\d.]+ samples\/s  ETA \d+:\d\d$/.test(l))).toBe(true);
    const csv = readFileSync(join(dir, 'loss.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('step,loss,grad_norm,lr,skipped,loss_scale,seconds');
    expect(csv).toHaveLength(13);
    expect(csv[5].split(',')[4]).toBe('1');
    expect(existsSync(join(dir, 'ckpt.safetensors'))).toBe(true);
    const again = await Trainer.create({ params: mlpParams(8, 16, 4), loss: mlpLoss, batch: { x: spec([8, 8]), y: spec([8], 'i32') }, optimizer: { kind: 'adamw' }, lr: 1e-2, backend: BACKEND });
    expect((await loadCheckpoint(again, join(dir, 'ckpt.safetensors'))).config).toEqual({ run: 1 });
    expect(again.state.step).toBe(12);
    expect(again.state.skipped).toBe(1);
    tr.dispose();
    again.dispose();
  });
});
