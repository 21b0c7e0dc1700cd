/**
 * Scaled dot-product attention: Whisper-large's encoder (T = 1500, 20 heads of 64, no mask)
 * and a Qwen2-7B-shaped causal layer (T = 1024, 28 query heads sharing 4 key/value heads of 128).
 * Ours and TF.js take [B, heads, T, D]; jax-js's dotProductAttention takes [B, T, heads, D], so
 * it gets the same numbers permuted on the host (untimed) and its output is permuted back.
 */
import { attention } from '../../compiler/composites';
import type { Tensor } from '../../dsl/tensor';
import { jaxArray, jaxCase, toF32 } from '../peers/jaxjs';
import type { JaxArray, JaxDevice } from '../peers/jaxjs';
import { tfCase } from '../peers/tfjs';
import { oursCase } from '../ours';
import { permute, uniform } from '../timing';
import type { Row } from '../types';
import { lazy } from './common';

interface Shape {
  readonly t: number;
  readonly hq: number;
  readonly hkv: number;
  readonly d: number;
  readonly causal: boolean;
}

function attentionRow(name: string, s: Shape, seed: number): Row {
  const { t, hq, hkv, d, causal } = s;
  const qShape = [1, hq, t, d];
  const kvShape = [1, hkv, t, d];
  const data = lazy(() => ({ q: uniform(hq * t * d, seed), k: uniform(hkv * t * d, seed + 1), v: uniform(hkv * t * d, seed + 2) }));
  const toBthd = (x: Float32Array, h: number) => permute(x, [1, h, t, d], [0, 2, 1, 3]);
  const jax = (device: JaxDevice) => () =>
    jaxCase(device, (jx) => ({
      args: [jaxArray(jx, device, toBthd(data().q, hq), [1, t, hq, d]), jaxArray(jx, device, toBthd(data().k, hkv), [1, t, hkv, d]), jaxArray(jx, device, toBthd(data().v, hkv), [1, t, hkv, d])],
      fn: jx.jit((q, k, v) => jx.nn.dotProductAttention(q, k, v, { isCausal: causal })),
      read: async (out) => permute(await toF32(out as JaxArray), [1, t, hq, d], [0, 2, 1, 3]),
      note: 'nn.dotProductAttention on [B, T, H, D]',
    }));
  // QK^T, softmax, PV: 4 T^2 D flops per query head (the causal mask is not subtracted)
  return {
    name,
    flops: 4 * hq * t * t * d,
    ours: () =>
      oursCase(({ q, k, v }: { q: Tensor; k: Tensor; v: Tensor }) => attention(q, k, v, { causal }), {
        q: { shape: qShape, data: data().q },
        k: { shape: kvShape, data: data().k },
        v: { shape: kvShape, data: data().v },
      }),
    peers: {
      tfjs: () => tfCase((tf) => {
        const q = tf.tensor4d(data().q, qShape as [number, number, number, number]);
        const k = tf.tensor4d(data().k, kvShape as [number, number, number, number]);
        const v = tf.tensor4d(data().v, kvShape as [number, number, number, number]);
        const g = hq / hkv;
        // the additive causal mask is made once, as a constant of the model would be
        const maskData = new Float32Array(t * t);
        for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) maskData[i * t + j] = -Infinity;
        const mask = tf.tensor2d(maskData, [t, t]);
        return {
          inputs: [q, k, v, mask],
          // grouped query heads share a key/value head: [1, hkv, g*T, D] x [1, hkv, T, D]^T
          fn: () => {
            let s = tf.mul(tf.matMul(tf.reshape(q, [1, hkv, g * t, d]), k, false, true), 1 / Math.sqrt(d));
            if (causal) s = tf.reshape(tf.add(tf.reshape(s, [1, hkv, g, t, t]), mask), [1, hkv, g * t, t]);
            return tf.reshape(tf.matMul(tf.softmax(s), v), qShape);
          },
          note: 'matMul + softmax + matMul (no fused attention in TF.js)',
        };
      }),
      'jax-webgpu': jax('webgpu'),
      'jax-wasm': jax('wasm'),
    },
  };
}

export const attentionRows = (): Row[] => [
  // Whisper's encoder has 20 heads; their scores (20 x 1500 x 1500 f32 = 180 MB) exceed the
  // 128 MiB storage-binding limit of this adapter: ours computes them in blocks of heads
  // (compiler/passes/split-oversized.ts), the peers cannot bind them; so also 10 heads for all
  attentionRow('attention T=1500 20x64 heads (Whisper)', { t: 1500, hq: 20, hkv: 20, d: 64, causal: false }, 50),
  attentionRow('attention T=1500 10x64 heads (half of Whisper 20)', { t: 1500, hq: 10, hkv: 10, d: 64, causal: false }, 50),
  attentionRow('attention causal T=1024 28q/4kv heads of 128', { t: 1024, hq: 28, hkv: 4, d: 128, causal: true }, 53),
];
