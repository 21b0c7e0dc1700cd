/** Memory-bound row kernels: softmax over 4096 rows of 1024, layer norm over 4096 rows of 1280. */
import { layerNorm, softmax } from '../../compiler/composites';
import type { Tensor } from '../../dsl/tensor';
import { jaxArray, jaxCase } from '../peers/jaxjs';
import type { JaxDevice } from '../peers/jaxjs';
import { tfCase } from '../peers/tfjs';
import { oursCase } from '../ours';
import { uniform } from '../timing';
import type { Row } from '../types';
import { lazy } from './common';

function softmaxRow(rows: number, cols: number, seed: number): Row {
  const x = lazy(() => uniform(rows * cols, seed, -4, 4));
  const jax = (device: JaxDevice) => () =>
    jaxCase(device, (jx) => ({ args: [jaxArray(jx, device, x(), [rows, cols])], fn: jx.jit((a) => jx.nn.softmax(a, -1)) }));
  return {
    name: `softmax ${rows}x${cols}`,
    ours: () => oursCase(({ x: a }: { x: Tensor }) => softmax(a, -1), { x: { shape: [rows, cols], data: x() } }),
    peers: {
      tfjs: () => tfCase((tf) => {
        const a = tf.tensor2d(x(), [rows, cols]);
        return { inputs: [a], fn: () => tf.softmax(a) };
      }),
      'jax-webgpu': jax('webgpu'),
      'jax-wasm': jax('wasm'),
    },
  };
}

function layerNormRow(rows: number, cols: number, seed: number): Row {
  const eps = 1e-5;
  const data = lazy(() => ({ x: uniform(rows * cols, seed, -3, 3), g: uniform(cols, seed + 1, 0.5, 1.5), b: uniform(cols, seed + 2, -0.5, 0.5) }));
  const jax = (device: JaxDevice) => () =>
    jaxCase(device, (jx) => ({
      args: [jaxArray(jx, device, data().x, [rows, cols]), jaxArray(jx, device, data().g, [cols]), jaxArray(jx, device, data().b, [cols])],
      fn: jx.jit((a, g, b) => jx.nn.standardize(a, -1, { epsilon: eps }).mul(g).add(b)),
      note: 'nn.standardize * gamma + beta',
    }));
  return {
    name: `layer norm ${rows}x${cols}`,
    ours: () =>
      oursCase(({ x: a, g, b }: { x: Tensor; g: Tensor; b: Tensor }) => layerNorm(a, g, b, eps), {
        x: { shape: [rows, cols], data: data().x },
        g: { shape: [cols], data: data().g },
        b: { shape: [cols], data: data().b },
      }),
    peers: {
      tfjs: () => tfCase((tf) => {
        const a = tf.tensor2d(data().x, [rows, cols]);
        // batchNorm wants mean, variance, offset and scale of one rank
        const g = tf.tensor2d(data().g, [1, cols]);
        const b = tf.tensor2d(data().b, [1, cols]);
        // tfjs-core has no layer norm: moments, then its fused batchNorm kernel
        return {
          inputs: [a, g, b],
          fn: () => {
            const { mean, variance } = tf.moments(a, -1, true);
            return tf.batchNorm(a, mean, variance, b, g, eps);
          },
          note: 'tf.moments + tf.batchNorm',
        };
      }),
      'jax-webgpu': jax('webgpu'),
      'jax-wasm': jax('wasm'),
    },
  };
}

export const normRows = (): Row[] => [softmaxRow(4096, 1024, 40), layerNormRow(4096, 1280, 42)];
