import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// One worker process runs every file: the WebGPU device, its pipeline cache and Mesa's shader
// cache are shared, and two processes would fight over the 2 cores the software adapter uses.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    isolate: false,
    // a test's first call compiles its shaders cold: on the Zen 3 machine (no AVX-512) one golden
    // test took 113 s at 256 bits and a Whisper test passed 120 s at 512 bits (emulated with two
    // 256-bit halves); the suite as a whole is bounded by CI's own limit
    testTimeout: 600_000,
    hookTimeout: 600_000,
    reporters: ['default'],
    // kernels take their fallback choices, whatever the autotuner measured on this machine before
    env: { OMNI_TUNE_DIR: mkdtempSync(join(tmpdir(), 'omni-tune-')) },
  },
});
