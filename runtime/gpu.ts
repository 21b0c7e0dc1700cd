/**
 * One WebGPU device per process, from Dawn through the `webgpu` package.
 * The instance and adapter are held for the device's whole life: when either is collected
 * the process dies (futex error or a silent exit), see ../shared/PERFORMANCE.md.
 */
import { create, globals } from 'webgpu';
import { awaitGpu } from './poll';
import { deviceRequest } from './device-request';
import { configureVectorWidth } from './vector-width';
import type { DeviceTraits } from '../compiler/primitive';

export type GpuBackendName = 'vulkan' | 'metal' | 'd3d12' | 'opengles' | 'null';
export type BackendName = GpuBackendName | 'cpu';

export const BACKENDS: readonly BackendName[] = ['vulkan', 'metal', 'd3d12', 'opengles', 'null', 'cpu'];

export class DeviceError extends Error {
  override name = 'DeviceError';
}

export interface Gpu {
  readonly backend: GpuBackendName;
  readonly device: GPUDevice;
  readonly adapterInfo: GPUAdapterInfo;
  readonly features: ReadonlySet<string>;
  readonly limits: GPUSupportedLimits;
  readonly hasF16: boolean;
  readonly hasSubgroups: boolean;
  /** what kernel choice depends on */
  readonly traits: DeviceTraits;
  /** the first uncaptured device error, turned into an exception at the next wait */
  takeError(): Error | undefined;
}

const keepAlive: unknown[] = [];
let current: Promise<Gpu> | undefined;

export function defaultBackend(): BackendName {
  const env = process.env.OMNI_BACKEND;
  if (env === undefined || env === '') return process.platform === 'darwin' ? 'metal' : process.platform === 'win32' ? 'd3d12' : 'vulkan';
  if (!(BACKENDS as readonly string[]).includes(env)) {
    throw new DeviceError(`OMNI_BACKEND=${env} is not a backend; expected one of ${BACKENDS.join(', ')}`);
  }
  return env as BackendName;
}

function ensureRuntimeDir() {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
}

export async function requestAdapter(backend: GpuBackendName): Promise<{ adapter: GPUAdapter | null; instance: GPU }> {
  ensureRuntimeDir();
  try {
    configureVectorWidth();
  } catch (e) {
    throw new DeviceError((e as Error).message);
  }
  Object.assign(globalThis, globals);
  const instance = create([`backend=${backend}`]) as GPU;
  keepAlive.push(instance);
  const options: GPURequestAdapterOptions = backend === 'opengles' ? ({ featureLevel: 'compatibility' } as GPURequestAdapterOptions) : {};
  const adapter = await awaitGpu(() => instance.requestAdapter(options));
  if (adapter) keepAlive.push(adapter);
  return { adapter, instance };
}

/** the most textures one kernel reads (fused attention's gradient: five), with room to spare */
const MIN_STORAGE_TEXTURES = 8;

async function openDevice(backend: GpuBackendName): Promise<Gpu> {
  const { adapter, instance } = await requestAdapter(backend);
  if (!adapter) {
    throw new DeviceError(
      `no WebGPU adapter for backend '${backend}'. Run 'npm run setup' (installs Mesa's lavapipe on Debian), ` +
        `install a Vulkan driver, or use --backend cpu (the reference interpreter).`,
    );
  }
  const device = await awaitGpu(() => adapter.requestDevice(deviceRequest(adapter)));
  keepAlive.push(device);
  let firstError: Error | undefined;
  device.addEventListener('uncapturederror', (ev) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    firstError ??= new DeviceError(`WebGPU ${e.constructor?.name ?? 'error'}: ${e.message}`);
  });
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') firstError ??= new DeviceError(`WebGPU device lost: ${info.message}`);
  });
  const features = new Set<string>([...device.features] as string[]);
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const cpuLike = /llvmpipe|lavapipe|swiftshader|software/i.test(`${info.description} ${info.architecture} ${info.device}`);
  const subgroupSize = features.has('subgroups') && info.subgroupMinSize && info.subgroupMinSize === info.subgroupMaxSize ? info.subgroupMinSize : 0;
  // read textures as read-only storage textures where WGSL has them and a kernel may bind enough
  // (see compiler/codegen/texture-reads.ts); OMNI_TEXTURE_READS=sampled keeps sampled textures
  const storageTextureLoads =
    process.env.OMNI_TEXTURE_READS !== 'sampled' &&
    !!(instance as GPU & { wgslLanguageFeatures?: ReadonlySet<string> }).wgslLanguageFeatures?.has('readonly_and_readwrite_storage_textures') &&
    (device.limits.maxStorageTexturesPerShaderStage ?? 4) >= MIN_STORAGE_TEXTURES;
  const traits: DeviceTraits = { cpuLike, subgroupSize, maxTextureDimension2D: device.limits.maxTextureDimension2D, storageTextureLoads };
  return {
    traits,
    backend,
    device,
    adapterInfo: adapter.info,
    features,
    limits: device.limits,
    hasF16: features.has('shader-f16'),
    hasSubgroups: features.has('subgroups'),
    takeError() {
      const e = firstError;
      firstError = undefined;
      return e;
    },
  };
}

/** The process-wide device for a backend (the first backend asked for wins). */
export function getGpu(backend: GpuBackendName = defaultBackend() as GpuBackendName): Promise<Gpu> {
  if (!current) {
    current = openDevice(backend);
    current.catch(() => (current = undefined));
  }
  return current;
}
