/**
 * Read textures as read-only storage textures (compiler/codegen/texture-reads.ts): the rewrite
 * itself, and the texture kernels (matmul, convolution, softmax and layer norm rows, fused attention forward and backward)
 * both ways against the reference: bound as storage textures where the device loads them (this
 * adapter), and as sampled textures, which every adapter has.
 */
import { describe, expect, it } from 'vitest';
import { spec, trace } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import { storageTextureReads } from '../compiler/codegen/texture-reads';
import { attention, layerNorm, logSoftmax, softmax } from '../compiler/composites';
import { grad } from '../dsl/grad';
import { conv } from '../dsl/ops';
import { Tensor, matmul } from '../dsl/tensor';
import { compileGraph } from '../runtime/executable';
import { getGpu } from '../runtime/gpu';
import type { GpuBackendName } from '../runtime/gpu';
import { BACKEND, checkAgainstReference, uniform } from './helpers/check';

describe('storage-texture reads: the rewrite', () => {
  it('declares each sampled texture as a read-only storage texture and routes its loads through a helper without the level', () => {
    const wgsl = [
      '@group(0) @binding(1) var ta: texture_2d<f32>;',
      '@group(0) @binding(2) var tb: texture_2d<f32>;',
      '@group(0) @binding(3) var dst: texture_storage_2d<rgba32float, write>;',
      'fn main() { let a = textureLoad(ta, vec2<i32>(i32(x), y + 8), 0); let b = textureLoad(tb, vec2<i32>(0, 1), 0); textureStore(dst, vec2<i32>(0, 0), a + b); }',
    ].join('\n');
    const out = storageTextureReads(wgsl);
    expect(out).toContain('var ta: texture_storage_2d<rgba32float, read>;');
    expect(out).toContain('var tb: texture_storage_2d<rgba32float, read>;');
    expect(out).not.toContain('texture_2d<f32>');
    expect(out).toContain('let a = texel_ta(vec2<i32>(i32(x), y + 8), 0);');
    expect(out).toContain('fn texel_tb(xy: vec2<i32>, level: i32) -> vec4<f32> { return textureLoad(tb, xy); }');
    // write-only storage textures and their stores are left alone; a shader without sampled textures is unchanged
    expect(out).toContain('textureStore(dst, vec2<i32>(0, 0), a + b);');
    expect(storageTextureReads('fn main() {}')).toBe('fn main() {}');
  });
});

type QKV = { q: Tensor; k: Tensor; v: Tensor };
const qkv = (b: number, h: number, t: number, d: number) => ({ q: spec([b, h, t, d]), k: spec([b, h, t, d]), v: spec([b, h, t, d]) });

const CASES: [string, (a: any) => unknown, Record<string, ReturnType<typeof spec>>, number][] = [
  // batched, rows and columns off the tiles, over a million multiply-adds (the texture kernel)
  ['matmul 3 x 40 x 128 by 3 x 128 x 70', ({ a, b }: { a: Tensor; b: Tensor }) => matmul(a, b), { a: spec([3, 40, 128]), b: spec([3, 128, 70]) }, 2e-5],
  ['matmul by a transpose, 100 x 96 by (130 x 96)^T', ({ a, b }: { a: Tensor; b: Tensor }) => a.matmul(b.transpose()), { a: spec([100, 96]), b: spec([130, 96]) }, 2e-5],
  ['convolution 1-D, k3 p1, 30 -> 70 channels', ({ x, w }: { x: Tensor; w: Tensor }) => conv(x, w, undefined, { padding: 1 }), { x: spec([2, 30, 150]), w: spec([70, 30, 3]) }, 1e-4],
  // softmax rows through a texture (compiler/primitives/rows.ts): 37 rows over 4 looping workgroups; log-softmax with batch axes
  ['softmax, 37 rows of 256', ({ x }: { x: Tensor }) => softmax(x, -1), { x: spec([37, 256]) }, 1e-5],
  ['log-softmax, 2 x 3 rows of 1280', ({ x }: { x: Tensor }) => logSoftmax(x, -1), { x: spec([2, 3, 1280]) }, 1e-5],
  // layer norm rows through a texture: with weight and bias over batch axes, and without affine parameters; rows far
  // from zero (x + 40 is rounded to f32 steps of 4e-6 on the device, the reference adds in f64: errors of ~1e-5 are the input's)
  ['layer norm, 2 x 19 rows of 1280 around 40, weight and bias', ({ x, g, b }: { x: Tensor; g: Tensor; b: Tensor }) => layerNorm(x.add(40), g, b, 1e-5), { x: spec([2, 19, 1280]), g: spec([1280]), b: spec([1280]) }, 5e-4],
  ['layer norm, 5 rows of 256, no affine parameters', ({ x }: { x: Tensor }) => layerNorm(x, undefined, undefined, 1e-3), { x: spec([5, 256]) }, 1e-4],
  ['fused attention, causal, 3 key blocks', ({ q, k, v }: QKV) => attention(q, k, v, { causal: true }), qkv(1, 2, 150, 16), 1e-4],
  [
    'fused attention backward (dq, dk, dv)',
    ({ q, k, v, c }: QKV & { c: Tensor }) => grad(({ q: qq, k: kk, v: vv }: QKV) => attention(qq, kk, vv, { causal: true }).mul(c).sum())({ q, k, v }),
    { ...qkv(1, 2, 70, 16), c: spec([1, 2, 70, 16]) },
    2e-4,
  ],
];

describe('texture kernels, read textures bound both ways', () => {
  for (const [name, f, specs, tol] of CASES) {
    it(name, async () => {
      const gpu = await getGpu(BACKEND as GpuBackendName);
      const t = trace(f, specs);
      const access = async (sampledTextures: boolean) =>
        (await compileGraph(gpu, optimize(t.graph), t.inputs, { sampledTextures })).plan!.kernels.flatMap((k) => k.bindings).flatMap((b) => (b.kind === 'texture' ? [b.access] : []));
      // every read texture is sampled when asked; loaded as a storage texture where the device can
      expect(await access(true)).toContain('read');
      expect(await access(true)).not.toContain('load');
      const loads = await access(false);
      if (gpu.traits.storageTextureLoads) expect(loads).toContain('load');
      expect(loads).not.toContain(gpu.traits.storageTextureLoads ? 'read' : 'load');
      for (const sampledTextures of [false, true]) await checkAgainstReference(f, specs, { rtol: tol, atol: tol / 10, gen: uniform(-1, 1), sampledTextures });
    });
  }
});
