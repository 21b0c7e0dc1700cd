import { describe, it, expect } from 'vitest';
import { spec } from '../compiler/trace';
import { Trainer } from '../runtime/train/trainer';
import { deviceStats } from '../runtime/stats';
import { BACKEND, rng } from './helpers/check';
import { mlpParams, mlpLoss } from './helpers/tiny-models';

describe('long runs stay flat', () => {
  it('2000 training steps: device buffers, pipelines and host memory do not grow', { timeout: 300_000 }, async () => {
    if (BACKEND === 'cpu') return;
    const r = rng(8);
    const data = { x: Array.from({ length: 64 }, () => r() - 0.5), y: Array.from({ length: 8 }, () => Math.floor(r() * 4)) };
    const tr = await Trainer.create({ params: mlpParams(8, 16, 4), loss: mlpLoss, batch: { x: spec([8, 8]), y: spec([8], 'i32') }, optimizer: { kind: 'adamw' }, lr: 1e-3, backend: BACKEND });
    for (let i = 0; i < 100; i++) await tr.step(data);
    global.gc?.();
    const buffers = deviceStats.liveBuffers;
    const pipelines = deviceStats.pipelines;
    const heap = process.memoryUsage().heapUsed;
    for (let i = 0; i < 2000; i++) await tr.step(data);
    global.gc?.();
    expect(deviceStats.liveBuffers).toBe(buffers);
    expect(deviceStats.pipelines).toBe(pipelines);
    const grown = (process.memoryUsage().heapUsed - heap) / 2 ** 20;
    console.log(`2000 steps: live device buffers ${buffers} -> ${deviceStats.liveBuffers}, JS heap grew ${grown.toFixed(1)} MiB`);
    expect(grown).toBeLessThan(40);
    tr.dispose();
  });
});
