/**
 * Convolution as an implicit GEMM (conv_windows, kernels/conv-texture.ts): overlapping 1-D and
 * 2-D windows read in place from the padded input's texture. Each case runs the window path and
 * the direct convolution kernel on the device, both checked against the reference, and against
 * each other; the plan must hold the window kernel (and, without subgroups, the expansion).
 */
import { describe, expect, it } from 'vitest';
import { spec, trace } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import type { Tensor } from '../dsl/tensor';
import { conv } from '../dsl/ops';
import type { ConvOptions } from '../dsl/ops';
import { compileTraced } from '../runtime/compile';
import { BACKEND, assertClose, checkAgainstReference, uniform } from './helpers/check';

type XW = { x: Tensor; w: Tensor };

const labels = async (f: (a: XW) => unknown, specs: Record<string, ReturnType<typeof spec>>, portable = false) => {
  const t = trace(f, specs);
  const exe = await compileTraced(optimize(t.graph), t.inputs, BACKEND, undefined, portable);
  return exe.kernels.map((k) => k.label);
};

const CASES: [string, number[], number[], ConvOptions][] = [
  // Whisper's stem shape in small: 3 taps, padding 1; 30 channels padded to 32, 70 outputs (two column tiles)
  ['1-D, k3 p1, 30 -> 70 channels, batch 2', [2, 30, 150], [70, 30, 3], { padding: 1 }],
  // stride 2, dilation 2, padding (2, 1); 5 channels padded to 8; 130 outputs (three column tiles); 3 batches
  ['1-D, k5 s2 d2, padding (2, 1), 5 -> 130 channels, batch 3', [3, 5, 301], [130, 5, 5], { stride: 2, dilation: 2, padding: [[2, 1]] }],
  // 2-D windows: stride (2, 1), dilation (1, 2), padding 1 on rows and (0, 1) on columns
  ['2-D, 3x3, stride (2, 1), dilation (1, 2), 12 -> 67 channels', [1, 12, 20, 30], [67, 12, 3, 3], { stride: [2, 1], dilation: [1, 2], padding: [1, [0, 1]] }],
  // 8302 padded positions per batch: each batch in a texture group of its own
  ['1-D, two batches in two texture groups', [2, 4, 8300], [8, 4, 3], { padding: 1 }],
];

describe('convolution as an implicit GEMM (conv_windows)', () => {
  for (const [name, xs, ws, opts] of CASES) {
    it(name, async () => {
      const f = ({ x, w }: XW) => ({ win: conv(x, w, undefined, opts), direct: conv(x, w, undefined, { ...opts, direct: true }) });
      const specs = { x: spec(xs), w: spec(ws) };
      const ls = await labels(f, specs);
      expect(ls.some((l) => /^conv_windows#\d+:mm/.test(l))).toBe(true);
      const got = await checkAgainstReference(f, specs, { rtol: 1e-4, atol: 1e-5, gen: uniform(-1, 1) });
      assertClose(got.win.data, got.direct.data, 1e-4, 1e-5, 'window path against the direct kernel');
    });
  }

  it('without subgroups (the portable plan) is the expansion: strided slices and a matmul', async () => {
    const [, xs, ws, opts] = CASES[0];
    const f = ({ x, w }: XW) => conv(x, w, undefined, opts);
    const specs = { x: spec(xs), w: spec(ws) };
    const ls = await labels(f, specs, true);
    expect(ls.some((l) => /conv_windows/.test(l))).toBe(false);
    expect(ls.some((l) => /matmul/.test(l))).toBe(true);
    await checkAgainstReference(f, specs, { rtol: 1e-4, atol: 1e-5, portable: true });
  });

  it('small products stay on the expansion', async () => {
    const f = ({ x, w }: XW) => conv(x, w, undefined, { padding: 1 });
    const ls = await labels(f, { x: spec([1, 4, 20]), w: spec([8, 4, 3]) });
    expect(ls.some((l) => /conv_windows/.test(l))).toBe(false);
  });
});
