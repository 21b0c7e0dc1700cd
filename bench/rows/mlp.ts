/**
 * One SGD training step of a 784-512-10 MLP (tanh, cross-entropy) at batch 64: forward,
 * backward and update, the loss read back each step by every contestant (our Trainer reads its
 * loss, gradient norm and finite flag; TF.js awaits minimize's cost; jax-js awaits its loss).
 * Same initial weights, batch and learning rate for all, so after the same number of steps the
 * weights must agree: those are compared (a contestant given fewer timed calls catches up first).
 */
import { spec } from '../../compiler/trace';
import { Trainer } from '../../runtime/train/trainer';
import { mlpLoss, mlpParams } from '../../test/helpers/tiny-models';
import { awaitGpu } from '../../runtime/poll';
import { jaxSync, loadJax, toF32 } from '../peers/jaxjs';
import type { JaxArray, JaxDevice } from '../peers/jaxjs';
import { loadTfjs } from '../peers/tfjs';
import type { TfScalar } from '../peers/tfjs';
import { integers, uniform } from '../timing';
import type { Case, Row } from '../types';
import { lazy } from './common';

const [IN, HIDDEN, CLASSES, BATCH, LR] = [784, 512, 10, 64, 0.1];
const PATHS = ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'] as const;
const SHAPES: Record<(typeof PATHS)[number], number[]> = { 'fc1.weight': [HIDDEN, IN], 'fc1.bias': [HIDDEN], 'fc2.weight': [CLASSES, HIDDEN], 'fc2.bias': [CLASSES] };

const data = lazy(() => {
  const b1 = 1 / Math.sqrt(IN);
  const b2 = 1 / Math.sqrt(HIDDEN);
  return {
    init: {
      'fc1.weight': uniform(HIDDEN * IN, 70, -b1, b1),
      'fc1.bias': uniform(HIDDEN, 71, -b1, b1),
      'fc2.weight': uniform(CLASSES * HIDDEN, 72, -b2, b2),
      'fc2.bias': uniform(CLASSES, 73, -b2, b2),
    },
    x: uniform(BATCH * IN, 74, 0, 1),
    y: integers(BATCH, 75, CLASSES),
  };
});

const concat = (parts: Float32Array[]) => {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
};

async function ours(): Promise<Case> {
  const d = data();
  const trainer = await Trainer.create({
    params: mlpParams(IN, HIDDEN, CLASSES),
    loss: mlpLoss,
    batch: { x: spec([BATCH, IN]), y: spec([BATCH], 'i32') },
    optimizer: { kind: 'sgd' },
    lr: LR,
    initial: d.init,
  });
  // the batch goes in as host arrays (a 200 KB upload per step): the Trainer compiles only
  // parameters and optimizer state as device-resident inputs
  const batch = { x: d.x, y: d.y };
  return {
    note: 'Trainer (SGD), one compiled step; batch uploaded each step',
    async run() {
      await trainer.step(batch);
    },
    async read() {
      const p = await trainer.readParams();
      return concat(PATHS.map((k) => Float32Array.from(p[k].data as ArrayLike<number>)));
    },
    dispose() {
      trainer.dispose();
    },
  };
}

async function tfjs(): Promise<Case> {
  const peer = await loadTfjs();
  const { tf } = peer;
  const d = data();
  const vars = PATHS.map((k) => tf.variable(tf.tensor(d.init[k], SHAPES[k])));
  const [w1, b1, w2, b2] = vars;
  const x = tf.tensor2d(d.x, [BATCH, IN]);
  const labels = tf.tensor1d(d.y, 'int32');
  const onehot = tf.cast(tf.oneHot(labels, CLASSES), 'float32');
  const opt = tf.train.sgd(LR);
  const loss = () => {
    const h = tf.tanh(tf.add(tf.matMul(x, w1, false, true), b1));
    const logits = tf.add(tf.matMul(h, w2, false, true), b2);
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), onehot), 1))) as TfScalar;
  };
  return {
    note: 'optimizer.minimize (sgd)',
    async run() {
      const cost = opt.minimize(loss, true, vars);
      await awaitGpu(() => cost!.data());
      cost!.dispose();
      await peer.sync();
      const e = peer.takeError();
      if (e) throw e;
    },
    async read() {
      return concat(await Promise.all(vars.map(async (v) => Float32Array.from((await awaitGpu(() => v.data())) as ArrayLike<number>))));
    },
    dispose() {
      for (const t of [...vars, x, labels, onehot]) t.dispose();
      opt.dispose();
    },
  };
}

async function jax(device: JaxDevice): Promise<Case> {
  const jx = await loadJax(device);
  const np = jx.numpy;
  const d = data();
  type Params = { w1: JaxArray; b1: JaxArray; w2: JaxArray; b2: JaxArray };
  const arr = (k: (typeof PATHS)[number]) => np.array(d.init[k], { shape: SHAPES[k], device });
  let params: Params = { w1: arr('fc1.weight'), b1: arr('fc1.bias'), w2: arr('fc2.weight'), b2: arr('fc2.bias') };
  const x = np.array(d.x, { shape: [BATCH, IN], device });
  const onehot = jx.nn.oneHot(np.array(d.y, { shape: [BATCH], dtype: np.int32, device }), CLASSES);
  const loss = (p: Params, xb: JaxArray, t: JaxArray) => {
    const h = np.tanh(np.matmul(xb, p.w1.transpose()).add(p.b1));
    const logits = np.matmul(h, p.w2.transpose()).add(p.b2);
    return jx.nn.logSoftmax(logits, -1).mul(t).sum(-1).mean().neg();
  };
  const step = jx.jit((p: Params, xb: JaxArray, t: JaxArray) => {
    const [l, g] = jx.valueAndGrad(loss)(jx.tree.ref(p), xb, t);
    return [l, jx.tree.map((w: JaxArray, gw: JaxArray) => w.sub(gw.mul(LR)), p, g as Params)] as [JaxArray, Params];
  });
  await jaxSync(jx, device, [params, x, onehot]);
  return {
    note: 'jit(valueAndGrad + manual SGD update)',
    async run() {
      const [l, next] = step(params, x.ref, onehot.ref) as unknown as [JaxArray, Params];
      params = next;
      await awaitGpu(() => l.data());
      await jaxSync(jx, device, params);
    },
    async read() {
      return concat(await Promise.all([params.w1, params.b1, params.w2, params.b2].map((a) => toF32(a))));
    },
    dispose() {
      jx.tree.dispose(params);
      x.dispose();
      onehot.dispose();
      step.dispose();
    },
  };
}

export const mlpRows = (): Row[] => [
  {
    name: 'mlp 784-512-10 train step batch 64',
    flops: 3 * 2 * BATCH * (IN * HIDDEN + HIDDEN * CLASSES),
    ours,
    peers: { tfjs, 'jax-webgpu': () => jax('webgpu'), 'jax-wasm': () => jax('wasm') },
    stateful: true,
  },
];
