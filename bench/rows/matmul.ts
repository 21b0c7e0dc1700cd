/**
 * Matrix products: square f32 sizes, the Whisper-large projection shapes (1500 frames x 1280
 * against 1280 and 5120 outputs), f16 storage, and a batched product with a transposed operand
 * (attention scores' Q K^T).
 */
import type { Tensor } from '../../dsl/tensor';
import { jaxArray, jaxCase } from '../peers/jaxjs';
import type { JaxDevice } from '../peers/jaxjs';
import { ortMatmulCase } from '../peers/ort';
import { tfCase } from '../peers/tfjs';
import { oursCase } from '../ours';
import { roundToF16, uniform } from '../timing';
import type { Row } from '../types';
import { lazy } from './common';

function plainMatmul(name: string, m: number, k: number, n: number, seed: number): Row {
  const data = lazy(() => ({ a: uniform(m * k, seed), b: uniform(k * n, seed + 1) }));
  const jax = (device: JaxDevice) => () =>
    jaxCase(device, (jx) => ({
      args: [jaxArray(jx, device, data().a, [m, k]), jaxArray(jx, device, data().b, [k, n])],
      fn: jx.jit((a, b) => jx.numpy.matmul(a, b)),
    }));
  return {
    name,
    flops: 2 * m * k * n,
    ours: () => oursCase(({ a, b }: { a: Tensor; b: Tensor }) => a.matmul(b), { a: { shape: [m, k], data: data().a }, b: { shape: [k, n], data: data().b } }),
    peers: {
      tfjs: () => tfCase((tf) => {
        const a = tf.tensor2d(data().a, [m, k]);
        const b = tf.tensor2d(data().b, [k, n]);
        return { inputs: [a, b], fn: () => tf.matMul(a, b) };
      }),
      'jax-webgpu': jax('webgpu'),
      'jax-wasm': jax('wasm'),
      'ort-cpu': () => ortMatmulCase(data().a, [m, k], data().b, [k, n]),
    },
  };
}

function f16Matmul(n: number, seed: number): Row {
  const data = lazy(() => ({ a: roundToF16(uniform(n * n, seed)), b: roundToF16(uniform(n * n, seed + 1)) }));
  const jax = (device: JaxDevice) => () =>
    jaxCase(device, (jx) => ({
      args: [jaxArray(jx, device, data().a, [n, n], 'float16'), jaxArray(jx, device, data().b, [n, n], 'float16')],
      fn: jx.jit((a, b) => jx.numpy.matmul(a, b)),
    }));
  return {
    name: `matmul f16 storage ${n}`,
    flops: 2 * n * n * n,
    // f16 results (10-bit mantissa) of sums of 1024 products: equal within a few f16 ulps
    tol: 1e-2,
    ours: () =>
      oursCase(({ a, b }: { a: Tensor; b: Tensor }) => a.matmul(b), { a: { shape: [n, n], data: data().a, dtype: 'f16' }, b: { shape: [n, n], data: data().b, dtype: 'f16' } }, 'f16 in and out, f32 accumulation'),
    peers: {
      tfjs: 'TF.js has no float16 dtype',
      'jax-webgpu': jax('webgpu'),
      'jax-wasm': jax('wasm'),
    },
  };
}

function batchedTransposed(b: number, t: number, d: number, seed: number): Row {
  const data = lazy(() => ({ q: uniform(b * t * d, seed), k: uniform(b * t * d, seed + 1) }));
  const jax = (device: JaxDevice) => () =>
    jaxCase(device, (jx) => ({
      args: [jaxArray(jx, device, data().q, [b, t, d]), jaxArray(jx, device, data().k, [b, t, d])],
      fn: jx.jit((q, k) => jx.numpy.matmul(q, k.transpose([0, 2, 1]))),
    }));
  return {
    name: `matmul batched ${b}x${t}x${d} by its transpose`,
    flops: 2 * b * t * t * d,
    ours: () => oursCase(({ q, k }: { q: Tensor; k: Tensor }) => q.matmul(k.transpose()), { q: { shape: [b, t, d], data: data().q }, k: { shape: [b, t, d], data: data().k } }),
    peers: {
      tfjs: () => tfCase((tf) => {
        const q = tf.tensor3d(data().q, [b, t, d]);
        const k = tf.tensor3d(data().k, [b, t, d]);
        return { inputs: [q, k], fn: () => tf.matMul(q, k, false, true) };
      }),
      'jax-webgpu': jax('webgpu'),
      'jax-wasm': jax('wasm'),
    },
  };
}

export const matmulRows = (): Row[] => [
  ...[256, 512, 1024, 2048].map((n, i) => plainMatmul(`matmul f32 ${n}`, n, n, n, 10 + 2 * i)),
  plainMatmul('matmul f32 1500x1280x1280', 1500, 1280, 1280, 20),
  plainMatmul('matmul f32 1500x1280x5120', 1500, 1280, 5120, 22),
  f16Matmul(1024, 24),
  batchedTransposed(16, 1024, 64, 26),
];
