/**
 * jax-js (`@jax-js/jax`) on its WebGPU backend (its own adapter and device from the same
 * `webgpu` package) and on its wasm backend (single-threaded in Node: its worker pool needs a
 * global `Worker`, which Node does not have).
 *
 * jax-js reads `navigator.userAgent` when its WebGPU code loads and `navigator.gpu` at
 * `init('webgpu')`, so the globals are installed before it is imported.
 *
 * Timing: each call runs a `jit`-compiled function, then `blockUntilReady` on its outputs
 * (jax-js's own sync: it submits the pending kernels and maps a zero-byte read, so it returns
 * once the queue has run them), then, on WebGPU, `queue.onSubmittedWorkDone()` of jax-js's
 * device to be sure: op + submit + wait, no readback.
 *
 * jax-js counts references: every function consumes its array arguments, so inputs are passed
 * as `x.ref` to keep them for the next call.
 *
 * Traps: jax-js 0.1.25 uses iterator helpers (`str.matchAll(re).map(...)` in einsum, so in
 * dotProductAttention) and Float16Array (its float16 arrays), which Node 20 lacks: `map` and
 * `filter` are added to the iterator prototype when missing, and Float16Array comes from
 * @petamoriken/float16. And like TF.js it does not check its device for errors, so a listener
 * here turns a WebGPU error into a failed call rather than a suspiciously fast one.
 */
import type * as Jax from '@jax-js/jax';
import { Float16Array } from '@petamoriken/float16';
import { awaitGpu } from '../../runtime/poll';
import type { Case } from '../types';
import { installWebGpuGlobals } from './webgpu-env';

export type JaxModule = typeof Jax;
export type JaxArray = Jax.Array;
export type JaxDevice = 'webgpu' | 'wasm';

let loading: Promise<{ jax: JaxModule; devices: readonly string[] }> | undefined;
let firstError: Error | undefined;

/** Iterator.prototype.map/filter (ES2025) where the runtime has none (Node 20). */
function polyfillIteratorHelpers() {
  const proto = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())) as Record<string, unknown>;
  const define = (name: string, value: unknown) => {
    if (typeof proto[name] !== 'function') Object.defineProperty(proto, name, { value, writable: true, configurable: true });
  };
  define('map', function* (this: Iterable<unknown>, f: (v: unknown, i: number) => unknown) {
    let i = 0;
    for (const v of this) yield f(v, i++);
  });
  define('filter', function* (this: Iterable<unknown>, f: (v: unknown, i: number) => boolean) {
    let i = 0;
    for (const v of this) if (f(v, i++)) yield v;
  });
}

async function load() {
  polyfillIteratorHelpers();
  // jax-js's float16 arrays are Float16Array views (ES2025); Node 20 has none
  (globalThis as { Float16Array?: unknown }).Float16Array ??= Float16Array;
  installWebGpuGlobals();
  const jax = await import('@jax-js/jax');
  const devices = await awaitGpu(() => jax.init('webgpu', 'wasm'));
  if (devices.includes('webgpu')) {
    jax.getWebGPUDevice().addEventListener('uncapturederror', (ev) => {
      firstError ??= new Error(`WebGPU error: ${(ev as GPUUncapturedErrorEvent).error.message.split('\n')[0]}`);
    });
  }
  return { jax, devices };
}

function throwDeviceError() {
  const e = firstError;
  firstError = undefined;
  if (e) throw e;
}

export async function loadJax(device: JaxDevice): Promise<JaxModule> {
  if (!loading) {
    loading = load();
    loading.catch(() => (loading = undefined));
  }
  const { jax, devices } = await loading;
  if (!devices.includes(device)) throw new Error(`jax-js has no ${device} backend here (it found: ${devices.join(', ')})`);
  return jax;
}

export interface JaxSetup {
  /** the arrays passed to `fn` on each call (kept: each call gets `.ref`s) */
  args: JaxArray[];
  /** a jit-compiled function of the arguments */
  fn: ((...args: JaxArray[]) => Jax.JsTree<JaxArray>) & { dispose?: () => void };
  /** the output to compare, as f32 laid out as ours (default: the output's data) */
  read?: (out: Jax.JsTree<JaxArray>) => Promise<Float32Array>;
  note?: string;
}

/** Waits until a jax-js result has run on its device. */
export async function jaxSync(jax: JaxModule, device: JaxDevice, out: Jax.JsTree<JaxArray>): Promise<void> {
  await awaitGpu(async () => {
    await jax.blockUntilReady(out);
    if (device === 'webgpu') await jax.getWebGPUDevice().queue.onSubmittedWorkDone();
  });
  if (device === 'webgpu') throwDeviceError();
}

export async function toF32(a: JaxArray): Promise<Float32Array> {
  return Float32Array.from((await awaitGpu(() => a.ref.data())) as ArrayLike<number>);
}

export async function jaxCase(device: JaxDevice, setup: (jax: JaxModule, device: JaxDevice) => JaxSetup): Promise<Case> {
  const jax = await loadJax(device);
  const s = setup(jax, device);
  await jaxSync(jax, device, s.args);
  let out: Jax.JsTree<JaxArray> | undefined;
  return {
    note: s.note,
    async run() {
      if (out !== undefined) jax.tree.dispose(out);
      out = s.fn(...s.args.map((a) => a.ref));
      await jaxSync(jax, device, out);
    },
    async read() {
      if (out === undefined) throw new Error('no output yet');
      return s.read ? s.read(out) : toF32(out as JaxArray);
    },
    dispose() {
      if (out !== undefined) jax.tree.dispose(out);
      out = undefined;
      for (const a of s.args) a.dispose();
      s.fn.dispose?.();
    },
  };
}

/** An array on a device from f32 data (optionally stored as f16). */
export function jaxArray(jax: JaxModule, device: JaxDevice, data: Float32Array | Int32Array, shape: number[], dtype?: 'float16' | 'int32'): JaxArray {
  const np = jax.numpy;
  if (dtype === 'int32') return np.array(data, { shape, device, dtype: np.int32 });
  const a = np.array(data, { shape, device });
  // jax-js takes a Float32Array only as float32: f16 storage is a cast on the device
  return dtype === 'float16' ? a.astype(np.float16) : a;
}
