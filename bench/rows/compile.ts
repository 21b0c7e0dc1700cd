/**
 * Time to the first result of a function never run before: softmax(c * x) on x [256, N] with a
 * new N and a new constant c on every call (the same seeded sequence for every contestant), so
 * each call is trace + compile + pipeline + the driver's shader compile + the run + the wait.
 * Ours and jax-js specialise kernels on shapes and constants: every call compiles. TF.js's
 * shaders take shapes as uniforms: only its first call compiles, later ones reuse them (the
 * notes give each contestant's first call). The row runs first, before any other row has
 * compiled a softmax; Mesa's on-disk shader cache is off for the whole process when this row is
 * selected (see run.ts), so nothing compiled by an earlier process is reused either.
 */
import { softmax } from '../../compiler/composites';
import { spec } from '../../compiler/trace';
import type { Tensor } from '../../dsl/tensor';
import type { DeviceTensor } from '../../runtime/device-tensor';
import { gpuTensor } from '../../runtime/device-tensor';
import type { Executable } from '../../runtime/executable';
import { getGpu } from '../../runtime/gpu';
import { awaitGpu } from '../../runtime/poll';
import { jaxSync, loadJax, toF32 } from '../peers/jaxjs';
import type { JaxArray, JaxDevice } from '../peers/jaxjs';
import { loadTfjs } from '../peers/tfjs';
import type { TfTensor } from '../peers/tfjs';
import { compileFresh } from '../ours';
import { uniform } from '../timing';
import type { Case, Row } from '../types';

const ROWS = 256;

/** The i-th call's problem: the same for every contestant. */
function problem(i: number) {
  const [r1, r2] = uniform(2, 900 + i, 0, 1);
  const n = 1000 + Math.floor(r1 * 1000);
  return { n, c: 0.5 + r2, x: uniform(ROWS * n, 1000 + i, -2, 2) };
}

/** Counts calls and keeps the first call's time for the note. */
function tracker(label: string) {
  let calls = 0;
  let first: number | undefined;
  return {
    next: () => problem(calls++),
    async timeFirst<T>(work: () => Promise<T>): Promise<T> {
      const t0 = performance.now();
      const r = await work();
      first ??= performance.now() - t0;
      return r;
    },
    get note() {
      return first === undefined ? undefined : `${label}; first call ${first.toFixed(0)} ms`;
    },
  };
}

async function ours(): Promise<Case> {
  const gpu = await getGpu();
  const t = tracker('compile + run');
  let p = problem(0);
  let x: DeviceTensor | undefined;
  let exe: Executable | undefined;
  let out: DeviceTensor | undefined;
  const release = () => {
    out?.dispose();
    exe?.dispose();
  };
  return {
    get note() {
      return t.note;
    },
    prepare() {
      p = t.next();
      x?.dispose();
      x = gpuTensor(gpu, [ROWS, p.n], 'f32', p.x);
    },
    async run() {
      release();
      const c = p.c;
      await t.timeFirst(async () => {
        exe = await compileFresh(({ x: a }: { x: Tensor }) => softmax(a.mul(c), -1), { x: spec([ROWS, p.n]) });
        out = exe.deviceTensor([ROWS, p.n], 'f32');
        await exe.run({ x: x! }, { into: { '': out } });
      });
    },
    async read() {
      return Float32Array.from((await out!.read()).data as ArrayLike<number>);
    },
    dispose() {
      release();
      x?.dispose();
    },
  };
}

async function tfjs(): Promise<Case> {
  const peer = await loadTfjs();
  const { tf } = peer;
  const t = tracker('tf.softmax(tf.mul)');
  let p = problem(0);
  let x: TfTensor | undefined;
  let out: TfTensor | undefined;
  return {
    get note() {
      return t.note;
    },
    async prepare() {
      p = t.next();
      x?.dispose();
      x = tf.tensor2d(p.x, [ROWS, p.n]);
      peer.upload(x);
      await peer.sync();
    },
    async run() {
      out?.dispose();
      await t.timeFirst(async () => {
        out = tf.tidy(() => tf.softmax(tf.mul(x!, p.c)));
        await peer.sync();
      });
      const e = peer.takeError();
      if (e) throw e;
    },
    async read() {
      return Float32Array.from((await awaitGpu(() => out!.data())) as ArrayLike<number>);
    },
    dispose() {
      out?.dispose();
      x?.dispose();
    },
  };
}

async function jax(device: JaxDevice): Promise<Case> {
  const jx = await loadJax(device);
  const t = tracker('jit(nn.softmax)');
  let p = problem(0);
  let x: JaxArray | undefined;
  let out: JaxArray | undefined;
  return {
    get note() {
      return t.note;
    },
    async prepare() {
      p = t.next();
      x?.dispose();
      x = jx.numpy.array(p.x, { shape: [ROWS, p.n], device });
      await jaxSync(jx, device, x);
    },
    async run() {
      out?.dispose();
      const c = p.c;
      await t.timeFirst(async () => {
        const f = jx.jit((a: JaxArray) => jx.nn.softmax(a.mul(c), -1));
        out = f(x!.ref);
        await jaxSync(jx, device, out);
        f.dispose();
      });
    },
    async read() {
      return toF32(out!);
    },
    dispose() {
      out?.dispose();
      x?.dispose();
    },
  };
}

export const compileRows = (): Row[] => [
  {
    name: 'compile: first call of softmax(c*x) [256, new N]',
    warmup: 0,
    coldShaderCache: true,
    ours,
    peers: { tfjs, 'jax-webgpu': () => jax('webgpu'), 'jax-wasm': () => jax('wasm') },
  },
];
