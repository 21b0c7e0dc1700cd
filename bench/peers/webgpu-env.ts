/**
 * What the browser libraries (TF.js, jax-js) expect of a page, made in Node from the same
 * `webgpu` package our runtime uses: the WebGPU globals (GPUBufferUsage, GPUMapMode, ...) and a
 * `navigator` with `gpu`, `userAgent` (jax-js reads it at import) and `hardwareConcurrency`.
 * The peers request their own adapters and devices from one instance of their own (same Dawn,
 * same Vulkan driver, so the same adapter as ours).
 *
 * Trap: neither library keeps the adapter once it has its device, and Dawn kills the process
 * when an adapter or instance is collected (../../shared/PERFORMANCE.md); `navigator.gpu` here
 * hands out adapters and keeps them for the life of the process.
 */
import { availableParallelism } from 'node:os';
import { create, globals } from 'webgpu';
import { defaultBackend } from '../../runtime/gpu';
import { awaitGpu } from '../../runtime/poll';
import { configureVectorWidth } from '../../runtime/vector-width';

const keepAlive: unknown[] = [];
let installed: GPU | undefined;

export function installWebGpuGlobals(): GPU {
  if (installed) return installed;
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  // the same llvmpipe vector width as our device (Mesa reads it at the first instance of the process)
  configureVectorWidth();
  Object.assign(globalThis, globals);
  const backend = defaultBackend();
  if (backend === 'cpu') throw new Error('the peers need a WebGPU adapter; OMNI_BACKEND=cpu selects none');
  const instance = create([`backend=${backend}`]) as GPU;
  keepAlive.push(instance);
  const gpu = {
    async requestAdapter(options?: GPURequestAdapterOptions) {
      const adapter = await awaitGpu(() => instance.requestAdapter(options));
      if (adapter) keepAlive.push(adapter);
      return adapter;
    },
    getPreferredCanvasFormat: () => 'rgba8unorm' as GPUTextureFormat,
    get wgslLanguageFeatures() {
      return instance.wgslLanguageFeatures;
    },
  } as unknown as GPU;
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav) {
    // Node >= 21 has a navigator with read-only getters: add to it
    Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', {
      value: { gpu, userAgent: `Node.js/${process.versions.node}`, hardwareConcurrency: availableParallelism(), language: 'en-US' },
      configurable: true,
      writable: true,
    });
  }
  installed = gpu;
  return gpu;
}
