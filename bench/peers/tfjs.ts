/**
 * TensorFlow.js (`@tensorflow/tfjs-core` + `@tensorflow/tfjs-backend-webgpu`) on its own
 * adapter and device from the same `webgpu` package.
 *
 * Loading: tfjs-core's Node build (the package's `main`) registers no gradients, so
 * `optimizer.minimize` fails (the full `@tensorflow/tfjs` bundle inlines them, at ~290 MB of
 * packages); its ESM build has them (`dist/register_all_gradients.js`) but Node cannot load it
 * (extensionless and directory imports). So we bundle the ESM builds of tfjs-core, its gradients
 * and the webgpu backend into one module with esbuild (about 0.3 s, cached under
 * node_modules/.cache/omni-bench), after the WebGPU globals exist: the backend registers itself
 * at import only when `navigator.gpu` is there.
 *
 * Timing: TF.js records dispatches into a command encoder that it submits every 15 dispatches
 * (WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE) or before a read. `sync()` does what its own read does
 * first (end the pass, submit the pending encoder), then awaits
 * `device.queue.onSubmittedWorkDone()`: op + submit + wait, no readback, as ours.
 */
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as TfCore from '@tensorflow/tfjs-core';
import { awaitGpu } from '../../runtime/poll';
import type { Case } from '../types';
import { installWebGpuGlobals } from './webgpu-env';

export type TF = typeof TfCore;
export type TfTensor = TfCore.Tensor;
export type TfTensor3D = TfCore.Tensor3D;
export type TfScalar = TfCore.Scalar;

/** The parts of tfjs-backend-webgpu's WebGPUBackend that the sync uses. */
interface WebGpuBackend {
  device: GPUDevice;
  queue: GPUQueue;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
  uploadToGPU(dataId: object): void;
  adapterInfo?: { vendor?: string; architecture?: string };
}

export interface TfPeer {
  tf: TF;
  backend: WebGpuBackend;
  /** the first WebGPU error since the last call (TF.js does not look: an invalid command
   * buffer would otherwise pass for a very fast run) */
  takeError(): Error | undefined;
  /** submit what TF.js has recorded and wait until the queue is idle */
  sync(): Promise<void>;
  /** move a tensor's data to the device now (TF.js uploads lazily, at first use) */
  upload(t: TfTensor): void;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let loading: Promise<TfPeer> | undefined;

async function bundle(): Promise<string> {
  const require = createRequire(join(root, 'package.json'));
  const version = (name: string) => (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  const key = `tfjs-core-${version('@tensorflow/tfjs-core')}-webgpu-${version('@tensorflow/tfjs-backend-webgpu')}`;
  const dir = join(root, 'node_modules', '.cache', 'omni-bench');
  const file = join(dir, `${key}.mjs`);
  if (existsSync(file)) return file;
  const out = await build({
    stdin: {
      contents: `export * from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-webgpu';`,
      resolveDir: root,
      loader: 'js',
    },
    bundle: true,
    format: 'esm',
    platform: 'node',
    mainFields: ['module', 'main'],
    write: false,
    logLevel: 'error',
    external: ['node-fetch'],
    // the Node platform of tfjs-core calls require('util')
    banner: { js: `import { createRequire as __omniRequire } from 'node:module'; const require = __omniRequire(import.meta.url);` },
  });
  mkdirSync(dir, { recursive: true });
  // written whole, then renamed: a concurrent bench never imports half a file
  writeFileSync(`${file}.${process.pid}.tmp`, out.outputFiles[0].text);
  renameSync(`${file}.${process.pid}.tmp`, file);
  return file;
}

async function load(): Promise<TfPeer> {
  installWebGpuGlobals();
  const tf = (await import(pathToFileURL(await bundle()).href)) as TF;
  const ok = await awaitGpu(() => tf.setBackend('webgpu'));
  if (!ok || tf.getBackend() !== 'webgpu') throw new Error('TF.js did not start its webgpu backend');
  await tf.ready();
  const backend = tf.backend() as unknown as WebGpuBackend;
  let firstError: Error | undefined;
  backend.device.addEventListener('uncapturederror', (ev) => {
    firstError ??= new Error(`WebGPU error: ${(ev as GPUUncapturedErrorEvent).error.message.split('\n')[0]}`);
  });
  return {
    tf,
    backend,
    takeError() {
      const e = firstError;
      firstError = undefined;
      return e;
    },
    async sync() {
      if (backend.commandEncoder) {
        backend.endComputePassEncoder();
        backend.submitQueue();
      }
      await awaitGpu(() => backend.queue.onSubmittedWorkDone());
    },
    upload(t) {
      backend.uploadToGPU(t.dataId);
    },
  };
}

export function loadTfjs(): Promise<TfPeer> {
  if (!loading) {
    loading = load();
    loading.catch(() => (loading = undefined));
  }
  return loading;
}

/**
 * A case from tensors made once and a function of them returning one tensor: intermediates are
 * freed with tf.tidy, each call's output is kept until the next call.
 */
export async function tfCase(setup: (tf: TF) => { inputs: TfTensor[]; fn: () => TfTensor; read?: (out: Float32Array) => Float32Array; note?: string }): Promise<Case> {
  const peer = await loadTfjs();
  const { tf } = peer;
  const s = setup(tf);
  for (const t of s.inputs) peer.upload(t);
  await peer.sync();
  const e0 = peer.takeError();
  if (e0) throw e0;
  let out: TfTensor | undefined;
  return {
    note: s.note,
    async run() {
      out?.dispose();
      out = tf.tidy(s.fn);
      await peer.sync();
      const e = peer.takeError();
      if (e) throw e;
    },
    async read() {
      if (!out) throw new Error('no output yet');
      const data = Float32Array.from((await awaitGpu(() => out!.data())) as ArrayLike<number>);
      return s.read ? s.read(data) : data;
    },
    dispose() {
      out?.dispose();
      for (const t of s.inputs) t.dispose();
    },
  };
}
