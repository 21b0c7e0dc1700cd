/**
 * llvmpipe's vector width (runtime/vector-width.ts): OMNI_VECTOR_WIDTH=512 asks for 512-bit
 * vectors (16-lane subgroups, for which the texture kernels are written too) with a shader cache
 * folder of their own, a user's LP_NATIVE_VECTOR_WIDTH wins, and the bench reports each peer at
 * its faster width.
 */
import { describe, expect, it } from 'vitest';
import { bestWidth } from '../bench/widths';
import type { Result } from '../bench/types';
import { getGpu } from '../runtime/gpu';
import { configureVectorWidth, envForWidth, vectorWidth, wantedVectorWidth } from '../runtime/vector-width';

describe('vector width', () => {
  it("OMNI_VECTOR_WIDTH chooses, the user's LP_NATIVE_VECTOR_WIDTH wins, else the driver's default; a bad value names the variable", () => {
    expect(wantedVectorWidth({ OMNI_VECTOR_WIDTH: '256' })).toBe(256);
    expect(wantedVectorWidth({ OMNI_VECTOR_WIDTH: '512' })).toBe(512);
    expect(wantedVectorWidth({ OMNI_VECTOR_WIDTH: '512', LP_NATIVE_VECTOR_WIDTH: '256' })).toBeUndefined();
    expect(wantedVectorWidth({})).toBeUndefined();
    expect(() => wantedVectorWidth({ OMNI_VECTOR_WIDTH: '384' })).toThrow('OMNI_VECTOR_WIDTH=384: expected 256 or 512');
  });

  it('512 bits get a shader cache folder of their own unless the user chose one; a child at 256 bits drops both', () => {
    const env: NodeJS.ProcessEnv = { OMNI_VECTOR_WIDTH: '512', XDG_CACHE_HOME: '/c' };
    configureVectorWidth(env);
    expect(env).toMatchObject({ LP_NATIVE_VECTOR_WIDTH: '512', MESA_SHADER_CACHE_DIR: '/c/mesa_shader_cache_512' });
    expect(vectorWidth(env)).toBe(512);
    const child = envForWidth(256, env);
    expect(child.OMNI_VECTOR_WIDTH).toBe('256');
    expect(child.LP_NATIVE_VECTOR_WIDTH).toBeUndefined();
    expect(child.MESA_SHADER_CACHE_DIR).toBeUndefined();
    configureVectorWidth(child);
    expect(child.LP_NATIVE_VECTOR_WIDTH).toBe('256');
    expect(child.MESA_SHADER_CACHE_DIR).toBeUndefined();
    const own: NodeJS.ProcessEnv = { OMNI_VECTOR_WIDTH: '512', MESA_SHADER_CACHE_DIR: '/mine' };
    configureVectorWidth(own);
    expect(own.MESA_SHADER_CACHE_DIR).toBe('/mine');
    expect(vectorWidth({})).toBe(256);
  });

  it("the device's subgroups are the width's lanes on llvmpipe", async () => {
    const gpu = await getGpu();
    if (!gpu.traits.cpuLike || !gpu.hasSubgroups) return;
    expect(gpu.traits.subgroupSize).toBe(vectorWidth() / 32);
  });

  it('every contestant at its faster width, row by row; the speed-up recomputed, the other figures in the notes, equal only when both passes agree', () => {
    const row = (peer: string, ours: number, theirs: number | null, diff = 0, note?: string): Result => ({
      name: 'matmul f32 1024', ours_ms: ours, ours_gflops: null, peer, peer_ms: theirs, peer_gflops: null, speedup: theirs === null ? null : theirs / ours, max_rel_diff: diff, equal: diff <= 1e-3, runs: 5, warmup: 2, ...(note ? { note } : {}),
    });
    const results = [row('TF.js webgpu', 35, 380), row('jax-js wasm', 35, 85, 0, 'x'), row('jax-js webgpu', 35, null)];
    results[2].error = 'failed at 512';
    bestWidth(results, [row('TF.js webgpu', 42, 280), row('jax-js wasm', 42, 86, 2e-3), row('jax-js webgpu', 42, 270)], 512, 256);
    expect(results[0]).toMatchObject({ ours_ms: 35, peer_ms: 280, speedup: 8, equal: true, note: 'ours at 512 bits (42.0 ms at 256); peer at 256 bits (380 ms at 512)' });
    expect(results[1]).toMatchObject({ peer_ms: 85, max_rel_diff: 2e-3, equal: false, note: 'x; ours at 512 bits (42.0 ms at 256); peer at 512 bits (86.0 ms at 256)' });
    expect(results[1].speedup).toBeCloseTo(85 / 35);
    expect(results[2]).toMatchObject({ peer_ms: 270, note: 'ours at 512 bits (42.0 ms at 256); peer at 256 bits' });
    expect(results[2].error).toBeUndefined();
    // ours faster at the other width: its figure from there
    const softmax = [row('TF.js webgpu', 8.2, 27)];
    bestWidth(softmax, [row('TF.js webgpu', 5.8, 29.4)], 512, 256);
    expect(softmax[0]).toMatchObject({ ours_ms: 5.8, peer_ms: 27, note: 'ours at 256 bits (8.2 ms at 512); peer at 512 bits (29.4 ms at 256)' });
    expect(softmax[0].speedup).toBeCloseTo(27 / 5.8);
  });
});
