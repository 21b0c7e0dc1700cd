/**
 * Feature standardisation of the encoder cache is a reparametrisation: a first projector layer
 * trained on standardised features, folded, gives the same outputs on the raw features.
 */
import { describe, expect, it } from 'vitest';
import { foldStandardization } from '../models/omni/train/encoder-cache';
import type { HostTensor } from '../runtime/host';
import { rng } from './helpers/check';

describe('foldStandardization', () => {
  it('W (x - m) / s + b == W_fold x + b_fold, for each encoder path; other tensors untouched', () => {
    const r = rng(7);
    const [rows, cols] = [5, 7];
    const t = (shape: number[]): HostTensor => ({ shape, dtype: 'f32', data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1) });
    const values = { 'audio_projector.0.weight': t([rows, cols]), 'audio_projector.0.bias': t([rows]), 'audio_projector.2.weight': t([rows, rows]) };
    const mean = Float64Array.from({ length: cols }, () => r() * 4 - 2);
    const std = Float64Array.from({ length: cols }, () => 0.05 + r());
    const folded = foldStandardization(values, { input_features: { mean, std } });
    expect(folded['audio_projector.2.weight']).toBe(values['audio_projector.2.weight']);
    for (let trial = 0; trial < 3; trial++) {
      const x = Array.from({ length: cols }, () => r() * 6 - 3);
      for (let o = 0; o < rows; o++) {
        let want = values['audio_projector.0.bias'].data[o] as number;
        let got = folded['audio_projector.0.bias'].data[o] as number;
        for (let c = 0; c < cols; c++) {
          want += (values['audio_projector.0.weight'].data[o * cols + c] as number) * ((x[c] - mean[c]) / std[c]);
          got += (folded['audio_projector.0.weight'].data[o * cols + c] as number) * x[c];
        }
        expect(got).toBeCloseTo(want, 4);
      }
    }
    expect(() => foldStandardization(values, { input_features: { mean: new Float64Array(3), std: new Float64Array(3) } })).toThrow(/3 channels/);
  });
});
