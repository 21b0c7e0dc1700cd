/**
 * Constant inputs (inference weights): the kernels that only repack them into their matmul's
 * layout run on the first call and again only when another buffer is passed; every call still
 * gets the right result.
 */
import { describe, expect, it } from 'vitest';
import { spec } from '../compiler/trace';
import type { Tensor } from '../dsl/tensor';
import { matmul } from '../dsl/tensor';
import { compile } from '../runtime/compile';
import { BACKEND, assertClose, rng, uniform } from './helpers/check';

const [M, K, N] = [64, 128, 256]; // 2M multiply-adds: the texture-fed kernel on a CPU adapter

function reference(x: number[], w: number[]): number[] {
  const out = new Array<number>(M * N).fill(0);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let p = 0; p < K; p++) s += x[i * K + p] * w[j * K + p];
    out[i * N + j] = s;
  }
  return out;
}

describe('constant inputs', () => {
  it('a weight repacked once: right results on later calls, and after another weight buffer is passed', async () => {
    const f = ({ x, w }: { x: Tensor; w: Tensor }) => matmul(x, w.transpose()).tanh();
    const specs = { x: spec([M, K]), w: spec([N, K]) };
    const exe = await compile(f, specs, { backend: BACKEND, external: (n) => n === 'w', constant: (n) => n === 'w' });
    const plain = await compile(f, specs, { backend: BACKEND, external: (n) => n === 'w' });
    const packs = exe.plan!.kernels.filter((k) => k.constant);
    // where the adapter takes the texture kernel, the weight's packing is the constant kernel
    if (exe.plan!.kernels.some((k) => k.label.includes(':pack'))) expect(packs.map((k) => k.label.split(':')[1])).toEqual(['packB']);
    expect(plain.plan!.kernels.some((k) => k.constant)).toBe(false);
    const r = rng(11);
    const w1 = uniform(-1, 1)(N * K, r);
    const w2 = uniform(-1, 1)(N * K, r);
    const t1 = exe.deviceTensor([N, K], 'f32', w1);
    const t2 = exe.deviceTensor([N, K], 'f32', w2);
    for (const [w, t] of [[w1, t1], [w1, t1], [w2, t2], [w2, t2], [w1, t1]] as const) {
      const x = uniform(-1, 1)(M * K, r);
      const got = Object.values(await exe.run({ x, w: t }))[0].data;
      assertClose(got, reference(x, w).map(Math.tanh), 1e-4, 1e-4, 'tanh(x w^T)');
    }
    // new contents in the same buffer (a checkpoint loaded into a frozen weight): packed again
    t1.write(w2);
    const x = uniform(-1, 1)(M * K, r);
    assertClose(Object.values(await exe.run({ x, w: t1 }))[0].data, reference(x, w2).map(Math.tanh), 1e-4, 1e-4, 'after a write into the weight');
    t1.dispose();
    t2.dispose();
  });
});
