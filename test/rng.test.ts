import { describe, expect, it } from 'vitest';
import { erf, WGSL_ERF, WGSL_TANH } from '../compiler/numerics';
import {
  keyFromSeed,
  normalAt,
  randomBits,
  splitKey,
  threefry2x32,
  uniformAt,
  uniformFromBits,
  WGSL_RNG,
} from '../kernels/rng';
import { getGpu } from '../runtime/gpu';
import { awaitGpu } from '../runtime/poll';

const hex = (w: [number, number]) => w.map((v) => v.toString(16).padStart(8, '0'));

describe('threefry-2x32-20 in TypeScript', () => {
  it('matches the Random123 known-answer vectors', () => {
    expect(hex(threefry2x32(0, 0, 0, 0))).toEqual(['6b200159', '99ba4efe']);
    expect(hex(threefry2x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff))).toEqual(['1cb996fc', 'bb002be7']);
    expect(hex(threefry2x32(0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3))).toEqual(['c4923a9c', '483df7a0']);
  });

  it('keys and splits like JAX', () => {
    expect(keyFromSeed(0)).toEqual([0, 0]);
    expect(keyFromSeed(42)).toEqual([0, 42]);
    expect(keyFromSeed(2 ** 40 + 7)).toEqual([256, 7]);
    expect(keyFromSeed(-1)).toEqual([0xffffffff, 0xffffffff]);
    // jax.random.split(jax.random.PRNGKey(0))
    expect(splitKey(0, 0, 2)).toEqual([
      [4146024105, 967050713],
      [2718843009, 1272950319],
    ]);
  });

  it('is deterministic and a pure function of (key, counter)', () => {
    const [k0, k1] = keyFromSeed(1234);
    const a = Array.from({ length: 100 }, (_, i) => randomBits(k0, k1, i));
    const b = Array.from({ length: 100 }, (_, i) => randomBits(k0, k1, 99 - i)).reverse();
    expect(a).toEqual(b);
    expect(a.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32)).toBe(true);
    expect(new Set(a).size).toBe(100);
    expect(uniformFromBits(0)).toBe(0);
    expect(uniformFromBits(0xffffffff)).toBe(1 - 2 ** -24);
  });

  it('uniforms have mean 1/2 and variance 1/12', () => {
    const [k0, k1] = keyFromSeed(7);
    const n = 100_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const u = uniformAt(k0, k1, i);
      expect(u >= 0 && u < 1).toBe(true);
      s += u;
      s2 += u * u;
    }
    const mean = s / n;
    // standard errors: 0.29/sqrt(n) = 9e-4 for the mean, 0.075/sqrt(n) = 2.4e-4 for the variance
    expect(Math.abs(mean - 0.5)).toBeLessThan(5e-3);
    expect(Math.abs(s2 / n - mean * mean - 1 / 12)).toBeLessThan(1.5e-3);
  });

  it('normals have mean 0 and standard deviation 1', () => {
    const [k0, k1] = keyFromSeed(8);
    const n = 100_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const z = normalAt(k0, k1, i);
      expect(Number.isFinite(z)).toBe(true);
      s += z;
      s2 += z * z;
    }
    const mean = s / n;
    expect(Math.abs(mean)).toBeLessThan(0.015); // 5 standard errors
    expect(Math.abs(Math.sqrt(s2 / n - mean * mean) - 1)).toBeLessThan(0.012);
  });

  it('split keys give distinct, uncorrelated streams', () => {
    const keys = splitKey(...keyFromSeed(3), 4);
    expect(new Set(keys.map((k) => k.join(','))).size).toBe(4);
    const n = 10_000;
    const streams = keys.map(([k0, k1]) => Array.from({ length: n }, (_, i) => uniformAt(k0, k1, i)));
    for (let a = 0; a < 4; a++) {
      for (let b = a + 1; b < 4; b++) {
        let equal = 0;
        let cov = 0;
        for (let i = 0; i < n; i++) {
          if (streams[a][i] === streams[b][i]) equal++;
          cov += (streams[a][i] - 0.5) * (streams[b][i] - 0.5);
        }
        expect(equal).toBeLessThan(3);
        expect(Math.abs(cov / n / (1 / 12))).toBeLessThan(0.05); // correlation; standard error 0.01
      }
    }
  });
});

describe('WGSL twins on the GPU', () => {
  it('produce the same bits and uniforms, close normals, and accurate erf/tanh', async () => {
    const N = 4096;
    const [k0, k1] = keyFromSeed(20240607);
    // x spans [-10, 10]; the last entries are huge to check that nothing turns into NaN.
    const xs = new Float32Array(N);
    for (let i = 0; i < N; i++) xs[i] = -10 + (20 * i) / (N - 1);
    xs.set([20, -20, 1e4, -1e4, 1e30, -1e30, 3e38, -3e38], N - 8);

    const code = `${WGSL_RNG}${WGSL_ERF}${WGSL_TANH}
@group(0) @binding(0) var<storage, read> xs: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  if (i >= ${N}u) { return; }
  let k0 = ${k0}u;
  let k1 = ${k1}u;
  out[i] = rng_bits(k0, k1, i);
  out[${N}u + i] = bitcast<u32>(rng_uniform(k0, k1, i));
  out[${2 * N}u + i] = bitcast<u32>(rng_normal(k0, k1, i));
  out[${3 * N}u + i] = bitcast<u32>(erf_f32(xs[i]));
  out[${4 * N}u + i] = bitcast<u32>(tanh_safe(xs[i]));
}`;
    const gpu = await getGpu();
    const device = gpu.device;
    const module = device.createShaderModule({ code });
    const info = await module.getCompilationInfo();
    expect(info.messages.filter((m) => m.type === 'error').map((m) => m.message)).toEqual([]);
    const bindGroupLayout = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
        { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
      ],
    });
    const pipeline = device.createComputePipeline({
      layout: device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] }),
      compute: { module, entryPoint: 'main' },
    });
    const xBuf = device.createBuffer({ size: xs.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(xBuf, 0, xs);
    const outBytes = 5 * N * 4;
    const outBuf = device.createBuffer({ size: outBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const readBuf = device.createBuffer({ size: outBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const bindGroup = device.createBindGroup({
      layout: bindGroupLayout,
      entries: [
        { binding: 0, resource: { buffer: xBuf } },
        { binding: 1, resource: { buffer: outBuf } },
      ],
    });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(N / 64);
    pass.end();
    enc.copyBufferToBuffer(outBuf, 0, readBuf, 0, outBytes);
    device.queue.submit([enc.finish()]);
    await awaitGpu(() => readBuf.mapAsync(GPUMapMode.READ));
    const words = new Uint32Array(readBuf.getMappedRange().slice(0));
    readBuf.unmap();
    for (const b of [xBuf, outBuf, readBuf]) b.destroy();
    const gpuError = gpu.takeError();
    if (gpuError) throw gpuError;
    const floats = new Float32Array(words.buffer);

    let bitMismatch = 0;
    let uniformMismatch = 0;
    let normalErr = 0;
    let erfErr = 0;
    let tanhErr = 0;
    let nan = 0;
    for (let i = 0; i < N; i++) {
      if (words[i] !== randomBits(k0, k1, i)) bitMismatch++;
      if (floats[N + i] !== uniformAt(k0, k1, i)) uniformMismatch++;
      normalErr = Math.max(normalErr, Math.abs(floats[2 * N + i] - normalAt(k0, k1, i)));
      const e = floats[3 * N + i];
      const t = floats[4 * N + i];
      if (Number.isNaN(e) || Number.isNaN(t)) nan++;
      erfErr = Math.max(erfErr, Math.abs(e - erf(xs[i])));
      tanhErr = Math.max(tanhErr, Math.abs(t - Math.tanh(xs[i])));
    }
    console.log(
      `GPU vs TS over ${N} counters/inputs: bit mismatches ${bitMismatch}, uniform mismatches ${uniformMismatch}, ` +
        `max |normal diff| ${normalErr.toExponential(2)}, max |erf err| ${erfErr.toExponential(2)}, ` +
        `max |tanh err| ${tanhErr.toExponential(2)}, NaNs ${nan}`,
    );
    expect(bitMismatch).toBe(0);
    expect(uniformMismatch).toBe(0);
    expect(normalErr).toBeLessThan(1e-5);
    expect(nan).toBe(0);
    expect(erfErr).toBeLessThan(3e-7);
    expect(tanhErr).toBeLessThan(2e-7);
  });
});
