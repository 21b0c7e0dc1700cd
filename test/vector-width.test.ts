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

  it('each peer at its faster width, the speed-up against ours at ours, the other figures in the notes', () => {
    const row = (peer: string, ours: number, theirs: number | null, note?: string): Result => ({
      name: 'matmul f32 1024', ours_ms: ours, ours_gflops: null, peer, peer_ms: theirs, peer_gflops: null, speedup: theirs === null ? null : theirs / ours, max_rel_diff: 0, equal: true, runs: 5, warmup: 2, ...(note ? { note } : {}),
    });
    const results = [row('TF.js webgpu', 35, 380), row('jax-js wasm', 35, 85, 'x'), row('jax-js webgpu', 35, null)];
    results[2].error = 'failed at 512';
    bestWidth(results, [row('TF.js webgpu', 42, 280), row('jax-js wasm', 42, 86), row('jax-js webgpu', 42, 270)], 512, 256);
    expect(results[0]).toMatchObject({ peer_ms: 280, speedup: 8, note: 'peer at 256 bits (380 ms at 512); ours at 256 bits 42.0 ms' });
    expect(results[1]).toMatchObject({ peer_ms: 85, note: 'x; peer at 512 bits (86.0 ms at 256); ours at 256 bits 42.0 ms' });
    expect(results[1].speedup).toBeCloseTo(85 / 35);
    expect(results[2]).toMatchObject({ peer_ms: 270, note: 'peer at 256 bits; ours at 256 bits 42.0 ms' });
    expect(results[2].error).toBeUndefined();
  });
});
