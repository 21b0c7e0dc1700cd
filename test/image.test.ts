import { describe, it, expect } from 'vitest';
import { spec } from '../compiler/trace';
import type { Tensor } from '../dsl/tensor';
import { interpolateBilinear } from '../dsl/image';
import { checkAgainstReference } from './helpers/check';
import { checkGrads } from './helpers/gradcheck';

describe('bilinear interpolation (PyTorch semantics)', () => {
  it('2x2 -> 4x4 upsampling matches torch values', async () => {
    const out = await checkAgainstReference(({ x }: { x: Tensor }) => interpolateBilinear(x, 4, 4), { x: spec([1, 1, 2, 2]) }, { values: { x: [1, 2, 3, 4] } });
    const want = [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4];
    Array.from(out[''].data).forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
  });
  it('downsampling 27 -> 14 (LLaVA-OneVision pooling), align_corners, and gradients', async () => {
    await checkAgainstReference(({ x }: { x: Tensor }) => ({ d: interpolateBilinear(x, 14, 14), a: interpolateBilinear(x, 9, 5, true) }), { x: spec([2, 3, 27, 27]) });
    await checkGrads(({ x }: { x: Tensor }) => interpolateBilinear(x, 5, 3), { x: spec([1, 2, 3, 4]) });
  });
});
