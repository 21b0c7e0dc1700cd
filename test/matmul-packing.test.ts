/**
 * How operands reach the texture matmul (kernels/matmul-texture.ts): packed in panels (a tile's K
 * loop one run of texels) into a scratch buffer and copied, or by texture stores when that scratch
 * buffer would exceed a binding; the row-layout textures of the convolution and attention are
 * copied straight from an operand already in their layout. Each path against the reference,
 * batched with padded rows, transposed, f16 and through a row block of a split weight.
 */
import { describe, expect, it } from 'vitest';
import { spec, trace } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import { makePlan } from '../runtime/plan';
import type { PlanTarget } from '../runtime/plan';
import { Tensor, matmul } from '../dsl/tensor';
import { checkAgainstReference } from './helpers/check';
import { packOperand, panelsFor } from '../kernels/matmul-texture';

const LLVMPIPE: PlanTarget = {
  features: new Set(['subgroups', 'shader-f16']),
  traits: { cpuLike: true, subgroupSize: 8, maxTextureDimension2D: 8192 },
  maxStorageBuffersPerShaderStage: 8,
  maxStorageBufferBindingSize: 1 << 27,
  minStorageBufferOffsetAlignment: 256,
};

const steps = (fn: (a: any) => unknown, specs: Record<string, ReturnType<typeof spec>>, maxBinding = 1 << 27) => {
  const t = trace(fn, specs);
  return makePlan({ ...LLVMPIPE, maxStorageBufferBindingSize: maxBinding }, optimize(t.graph)).kernels.filter((k) => /:(pack|copy)/.test(k.label));
};

// 3 x 40 x 128 by 3 x 128 x 70: over a million multiply-adds, so the texture kernel takes it
const batched = ({ a, b }: { a: Tensor; b: Tensor }) => matmul(a, b);
const batchedSpecs = () => ({ a: spec([3, 40, 128]), b: spec([3, 128, 70]) });

describe('operands of the texture matmul', () => {
  it('are packed in panels through scratch, by texture stores when scratch would not fit', () => {
    const [a, b] = steps(batched, batchedSpecs());
    // A (rows of K contiguous) and B (read transposed) alike: a kernel packs into scratch, then one copy
    for (const x of [a, b]) {
      expect(x.copy?.from).toBe('scratch');
      expect(x.wgsl).toContain('p.pshift');
    }
    // A: 3 batches of 40 rows padded to 64 (panels of 64 rows at 16 lanes, 2 x 32 at 8), 32 texels of K: 6144 texels
    // in the narrowest power-of-two width whose height fits the texture limit
    expect(a.copy).toMatchObject({ width: 32, regions: [{ offset: 0, y: 0, rows: 192 }] });
    // with bindings of at most 150 kB, B's scratch would not fit: texture stores instead
    const [, small] = steps(batched, batchedSpecs(), 150_000);
    expect(small.copy).toBeUndefined();
    expect(small.bindings.some((x) => x.kind === 'texture' && x.access === 'write')).toBe(true);
  });

  it('panels: the narrowest power-of-two texture within the limit; row-layout operands already in layout are copied straight', () => {
    expect(panelsFor(1024, 32, 256, 8192)).toEqual({ rows: 32, width: 32, height: 8192 });
    expect(panelsFor(1536, 64, 1280, 8192)).toEqual({ rows: 64, width: 256, height: 7680 });
    expect(panelsFor(8192, 128, 8192, 8192)).toEqual({ rows: 128, width: 8192, height: 8192 });
    // a texture in rows (the convolution's, attention's): rows of 128 f32 = 512 bytes, a multiple of 256, one copy per batch
    const rows = packOperand({ input: 0, key: 'A', label: 'A', rows: 40, rowsPad: 64, k: 128, str: [128, 1, 40 * 128], dt: 'f32', b0: 0, batches: 3, height: 192, maxScratchBytes: 1 << 27 });
    expect(rows.wgsl).toBe('');
    expect(rows.copy).toMatchObject({ from: 'in', bytesPerRow: 512, regions: [{ offset: 0, y: 0, rows: 40 }, { offset: 40 * 128 * 4, y: 64, rows: 40 }, { offset: 2 * 40 * 128 * 4, y: 128, rows: 40 }] });
  });

  it('copied, scratch-packed and store-packed operands all give the product', async () => {
    await checkAgainstReference(batched, batchedSpecs(), { rtol: 1e-4, atol: 1e-4 });
    await checkAgainstReference(batched, batchedSpecs(), { rtol: 1e-4, atol: 1e-4, maxBindingBytes: 150_000 });
  });

  it('transposed operands, f16 storage and rows that are not a multiple of 64', async () => {
    await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => ({ at: matmul(a.permute([1, 0]), b), bt: matmul(b.permute([1, 0]), a).permute([1, 0]) }), { a: spec([96, 130]), b: spec([96, 120]) }, { rtol: 1e-4, atol: 1e-4 });
    await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => matmul(a.cast('f16'), b.cast('f16')).cast('f32'), { a: spec([64, 256]), b: spec([256, 72]) }, { rtol: 2e-2, atol: 2e-2 });
  });

  it('rows of K contiguous values are packed with vec4 or vec2 loads when K allows; four contiguous rows with vec4 loads transposed', async () => {
    const f = ({ a, b }: { a: Tensor; b: Tensor }) => matmul(a, b);
    for (const [k, width] of [[100, 'vec4'], [362, 'vec2'], [101, 'f32']] as const) {
      // 200 columns: wide enough that A goes through its texture (narrower products read A from its buffer)
      const specs = () => ({ a: spec([3, 50, k]), b: spec([3, k, 200]) });
      const [packA, packB] = steps(f, specs());
      const src = (k: { wgsl: string }) => k.wgsl.split('\n').find((l) => l.includes('var<storage, read> src'));
      expect(src(packA)).toContain(width === 'f32' ? 'array<f32>' : `array<${width}<f32>>`);
      // B [k, 200]: rows (columns of B) contiguous, 200 of them: four per invocation whatever K is
      expect(src(packB)).toContain('array<vec4<f32>>');
      // an infinity opens row 1 of A: the last texel of row 0 must not read it (inf * a zero pad is
      // NaN); one opens batch 1 of B: batch 0's last texels must not read it
      const gen = {
        a: (n: number, r: () => number) => Array.from({ length: n }, (_, i) => (i === k ? Infinity : r() - 0.5)),
        b: (n: number, r: () => number) => Array.from({ length: n }, (_, i) => (i === k * 200 ? Infinity : r() - 0.5)),
      };
      await checkAgainstReference(f, specs(), { rtol: 1e-4, atol: 1e-4, gen });
    }
  });

  it('batches whose rows outgrow a texture are multiplied in groups that share the textures', async () => {
    // 17 batches of 1000 rows: 17 x 1024 padded rows exceed a texture of 8192 (groups of 8, 8, 1)
    // or of 16384 (llvmpipe's: 16 and 1)
    const f = ({ a, b }: { a: Tensor; b: Tensor }) => matmul(a, b);
    // 200 columns: A packed into its texture per group; 72: A read from its buffer at each group's offset
    for (const [n, labels] of [
      [200, ['packA@0', 'packB@0', 'packA@8', 'packB@8', 'packA@16', 'packB@16']],
      [72, ['packB@0', 'packB@8', 'packB@16']],
    ] as const) {
      const specs = () => ({ a: spec([17, 1000, 16]), b: spec([17, 16, n]) });
      expect(steps(f, specs()).map((k) => k.label.split(':')[1])).toEqual(labels);
      await checkAgainstReference(f, specs(), { rtol: 1e-4, atol: 1e-4 });
      // a computed operand and a product that is not an output: the product, written by each group's
      // kernel, must not share a buffer with the operand the later groups still read
      await checkAgainstReference(({ a, b }: { a: Tensor; b: Tensor }) => matmul(a.mul(0.5), b).exp(), specs(), { rtol: 1e-4, atol: 1e-4 });
    }
  });

  it('narrow products read A from its buffer when A would need packing: vec4 loads, or scalar loads masked past K', async () => {
    const f = ({ a, b }: { a: Tensor; b: Tensor }) => matmul(a, b);
    for (const [k, load] of [
      [100, 'vec4'],
      [101, 'f32'],
    ] as const) {
      const specs = () => ({ a: spec([3, 50, k]), b: spec([3, k, 72]) });
      const mm = makePlan(LLVMPIPE, optimize(trace(f, specs()).graph)).kernels.filter((x) => /:(pack|copy|mm)/.test(x.label));
      expect(mm.map((x) => x.label.split(':')[1])).toEqual(['packB', 'mm']);
      expect(mm[1].wgsl).toContain(`var<storage, read> srcA: array<${load === 'vec4' ? 'vec4<f32>' : 'f32'}>`);
      // infinities open row 1: row 0's last loads (K values past its end) must not read them
      const gen = { a: (n: number, r: () => number) => Array.from({ length: n }, (_, i) => (i >= k && i < k + 3 ? Infinity : r() - 0.5)) };
      await checkAgainstReference(f, specs(), { rtol: 1e-4, atol: 1e-4, gen });
    }
  });

  it('a weight split into row blocks is packed from its offset into the buffer', async () => {
    // w: 320 x 256 f32 = 320 kB; with 128 kB bindings it is read in row blocks bound at offsets
    const f = ({ x, w }: { x: Tensor; w: Tensor }) => matmul(x, w.permute([1, 0]));
    const specs = () => ({ x: spec([64, 256]), w: spec([320, 256]) });
    const got = steps(f, specs(), 131072);
    expect(got.filter((k) => k.label.endsWith(':packB')).length).toBeGreaterThan(2);
    await checkAgainstReference(f, specs(), { rtol: 1e-4, atol: 1e-4, maxBindingBytes: 131072 });
  });
});
