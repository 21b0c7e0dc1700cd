/**
 * What the scheduler materialises (compiler/codegen/schedule.ts): a node read by several kernels
 * gets a buffer, unless it is index arithmetic, or one elementwise op on one buffer and scalars,
 * which each reader recomputes from that buffer.
 */
import { describe, expect, it } from 'vitest';
import { spec, trace } from '../compiler/trace';
import type { SpecTree } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import { makePlan } from '../runtime/plan';
import { PORTABLE_DEVICE } from '../compiler/primitive';
import type { Tensor } from '../dsl/tensor';
import { checkAgainstReference } from './helpers/check';

const kernelLabels = (fn: (a: any) => unknown, specs: Record<string, SpecTree>) => {
  const t = trace(fn, specs);
  const target = { features: new Set<string>(), traits: PORTABLE_DEVICE, maxStorageBuffersPerShaderStage: 8, maxStorageBufferBindingSize: 1 << 27, minStorageBufferOffsetAlignment: 256 };
  return makePlan(target, optimize(t.graph)).kernels.map((k) => k.label);
};

describe('nodes read by several kernels', () => {
  // a gradient scaled once, then read by its norm (a reduction) and by the update (elementwise)
  const scaled = ({ g, s }: { g: Tensor; s: Tensor }) => {
    const h = g.div(s);
    return { norm: h.mul(h).sum(), update: g.sub(h.mul(0.1)) };
  };
  const mixed = ({ g, w }: { g: Tensor; w: Tensor }) => {
    const h = g.mul(w);
    return { norm: h.mul(h).sum(), update: g.sub(h.mul(0.1)) };
  };

  it('are recomputed by each reader when they are one op on one buffer and scalars', () => {
    // the norm's reduction, the scalar it returns, the update: no kernel of its own for g / s
    // (tensors above the size at which small kernels share a dispatch, see test/packing.test.ts)
    const labels = kernelLabels(scaled, { g: spec([96, 64]), s: spec([]) });
    expect(labels.filter((l) => l.startsWith('div#'))).toEqual([]);
    expect(labels).toHaveLength(3);
  });
  it('get a buffer when they combine several buffers', () => {
    const labels = kernelLabels(mixed, { g: spec([96, 64]), w: spec([96, 64]) });
    expect(labels[0]).toMatch(/^mul#/);
    expect(labels).toHaveLength(4);
  });
  it('give the same values either way', async () => {
    await checkAgainstReference(scaled, { g: spec([64, 48]), s: spec([]) }, { gen: { g: (n, r) => Array.from({ length: n }, () => r() - 0.5), s: () => [4] }, rtol: 1e-5, atol: 1e-5 });
    await checkAgainstReference(mixed, { g: spec([64, 48]), w: spec([64, 48]) }, { rtol: 1e-5, atol: 1e-5 });
  });
});
