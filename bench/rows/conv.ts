/**
 * Whisper's convolutional stem on a 30 s window: conv1d 128 -> 1280 (k3 p1) + GELU, then
 * conv1d 1280 -> 1280 (k3 s2 p1) + GELU, T = 3000 log-mel frames in, 1500 out.
 * Ours and jax-js take [B, C, T] with weights [Cout, Cin, K]; TF.js's conv1d takes [B, T, C] with
 * filters [K, Cin, Cout], so it gets the same numbers permuted on the host (untimed) and its
 * output is permuted back. GELU is the exact (erf) form everywhere.
 */
import { gelu } from '../../compiler/composites';
import { conv1d } from '../../dsl/ops';
import type { Tensor } from '../../dsl/tensor';
import { jaxArray, jaxCase } from '../peers/jaxjs';
import type { JaxArray, JaxDevice, JaxModule } from '../peers/jaxjs';
import { tfCase } from '../peers/tfjs';
import type { TF, TfTensor, TfTensor3D } from '../peers/tfjs';
import { oursCase } from '../ours';
import { permute, uniform } from '../timing';
import type { Row } from '../types';
import { lazy } from './common';

function stemRow(t: number, mels: number, width: number, seed: number): Row {
  const tOut = Math.floor((t + 2 - 3) / 2) + 1;
  const data = lazy(() => ({
    x: uniform(mels * t, seed, -1, 1),
    w1: uniform(width * mels * 3, seed + 1, -1 / Math.sqrt(mels * 3), 1 / Math.sqrt(mels * 3)),
    b1: uniform(width, seed + 2, -0.1, 0.1),
    w2: uniform(width * width * 3, seed + 3, -1 / Math.sqrt(width * 3), 1 / Math.sqrt(width * 3)),
    b2: uniform(width, seed + 4, -0.1, 0.1),
  }));
  const jax = (device: JaxDevice) => () =>
    jaxCase(device, (jx: JaxModule) => {
      const d = data();
      const conv = (x: JaxArray, w: JaxArray, b: JaxArray, stride: number) =>
        jx.nn.gelu(jx.lax.convGeneralDilated(x, w, [stride], [[1, 1]]).add(b.reshape([width, 1])), { approximate: false });
      return {
        args: [
          jaxArray(jx, device, d.x, [1, mels, t]),
          jaxArray(jx, device, d.w1, [width, mels, 3]),
          jaxArray(jx, device, d.b1, [width]),
          jaxArray(jx, device, d.w2, [width, width, 3]),
          jaxArray(jx, device, d.b2, [width]),
        ],
        fn: jx.jit((x, w1, b1, w2, b2) => conv(conv(x, w1, b1, 1), w2, b2, 2)),
        note: 'lax.convGeneralDilated + nn.gelu(approximate=false)',
      };
    });
  const tfGelu = (tf: TF, x: TfTensor): TfTensor => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  return {
    name: `whisper conv stem T=${t}`,
    flops: 2 * width * mels * 3 * t + 2 * width * width * 3 * tOut,
    ours: () =>
      oursCase(
        ({ x, w1, b1, w2, b2 }: Record<string, Tensor>) => gelu(conv1d(gelu(conv1d(x, w1, b1, { padding: 1 })), w2, b2, { stride: 2, padding: 1 })),
        {
          x: { shape: [1, mels, t], data: data().x },
          w1: { shape: [width, mels, 3], data: data().w1 },
          b1: { shape: [width], data: data().b1 },
          w2: { shape: [width, width, 3], data: data().w2 },
          b2: { shape: [width], data: data().b2 },
        },
      ),
    peers: {
      tfjs: () => tfCase((tf) => {
        const d = data();
        const x = tf.tensor3d(permute(d.x, [1, mels, t], [0, 2, 1]), [1, t, mels]);
        const w1 = tf.tensor3d(permute(d.w1, [width, mels, 3], [2, 1, 0]), [3, mels, width]);
        const w2 = tf.tensor3d(permute(d.w2, [width, width, 3], [2, 1, 0]), [3, width, width]);
        const b1 = tf.tensor1d(d.b1);
        const b2 = tf.tensor1d(d.b2);
        return {
          inputs: [x, w1, w2, b1, b2],
          fn: () => {
            // k3 'same' at stride 1 is p1; at stride 2 'same' pads (0, 1), so p1 is an explicit pad
            // (a numeric pad fails in tfjs-backend-webgpu 4.22: 'Size(...) must match the product of shape')
            const h = tfGelu(tf, tf.add(tf.conv1d(x, w1, 1, 'same'), b1)) as TfTensor3D;
            return tfGelu(tf, tf.add(tf.conv1d(tf.pad(h, [[0, 0], [1, 1], [0, 0]]), w2, 2, 'valid'), b2));
          },
          read: (out) => permute(out, [1, tOut, width], [0, 2, 1]),
          note: "conv1d on [B, T, C] ('same'; tf.pad + 'valid' for the strided one) + erf GELU",
        };
      }),
      'jax-webgpu': jax('webgpu'),
      'jax-wasm': jax('wasm'),
    },
  };
}

export const convRows = (): Row[] => [stemRow(3000, 128, 1280, 60)];
