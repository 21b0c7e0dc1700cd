/**
 * The vector width of Mesa's software rasteriser (llvmpipe, under lavapipe). llvmpipe runs a
 * shader on vectors of its native width, which is also the subgroup size: 256 bits (8 lanes) by
 * default, even on CPUs with AVX-512. With LP_NATIVE_VECTOR_WIDTH=512 it runs 16 lanes, and the
 * texture matmul written for 16 lanes ran the 1024^2 product in 32 ms against 40 at 8 lanes (64
 * rows a tile; 30 ms with 128) on this machine's Zen 4: twice the registers and half the
 * instructions for the same arithmetic. But every shader compiles ~3x slower at 512 bits (the
 * tiny Omni step's 158 kernels: 101 s cold against 32), so the default stays the driver's and
 * OMNI_VECTOR_WIDTH=512 is for long runs (and the benchmark, which measures steady state).
 * TF.js's and jax-js's kernels, written for other subgroups, ran slower at 512 bits (matmul 1024
 * 380 vs 280 ms), which is why the benchmark measures every contestant at both widths.
 *
 * Mesa reads the variable once, when the Vulkan instance is created, so it is set before that.
 * Its on-disk shader cache does not key compiled texture functions by the width (a cache filled
 * at 256 bits returned wrong texels at 512), so each width gets its own cache folder.
 * OMNI_VECTOR_WIDTH=256|512 chooses; LP_NATIVE_VECTOR_WIDTH set by the user wins over both.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type VectorWidth = 256 | 512;

/** Whether this CPU has AVX-512 (where 512-bit vectors are native). */
export function cpuHasAvx512(): boolean {
  try {
    return /^flags\s*:.*\bavx512f\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

/** The width this process asks llvmpipe for (undefined: the driver's default, left alone). */
export function wantedVectorWidth(env: NodeJS.ProcessEnv = process.env): VectorWidth | undefined {
  if (env.LP_NATIVE_VECTOR_WIDTH) return undefined;
  const asked = env.OMNI_VECTOR_WIDTH;
  if (asked === '256' || asked === '512') return Number(asked) as VectorWidth;
  if (asked !== undefined && asked !== '') throw new Error(`OMNI_VECTOR_WIDTH=${asked}: expected 256 or 512`);
  return undefined;
}

/** Sets llvmpipe's width (and a shader cache folder of its own) before the first Vulkan instance. */
export function configureVectorWidth(env: NodeJS.ProcessEnv = process.env): void {
  const width = wantedVectorWidth(env);
  if (width === undefined) return;
  env.LP_NATIVE_VECTOR_WIDTH = String(width);
  if (width !== 256 && !env.MESA_SHADER_CACHE_DIR) {
    env.MESA_SHADER_CACHE_DIR = join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), `mesa_shader_cache_${width}`);
  }
}

/** The width llvmpipe runs at in this process once configured: the variable's, else its default. */
export const vectorWidth = (env: NodeJS.ProcessEnv = process.env): number => Number(env.LP_NATIVE_VECTOR_WIDTH) || 256;

/** The environment of a child process that runs llvmpipe at `width` (its own shader cache folder as above). */
export function envForWidth(width: VectorWidth, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const child: NodeJS.ProcessEnv = { ...env, OMNI_VECTOR_WIDTH: String(width) };
  delete child.LP_NATIVE_VECTOR_WIDTH;
  if (/mesa_shader_cache_\d+$/.test(child.MESA_SHADER_CACHE_DIR ?? '')) delete child.MESA_SHADER_CACHE_DIR;
  return child;
}
