/**
 * Tensors that stay on the device between calls (weights, optimizer state): an executable
 * binds them directly as inputs and can write outputs into them, so a training step never
 * round-trips its state through the host.
 */
import type { DType } from '../compiler/ir';
import { fmtShape, numel } from '../compiler/ir';
import { byteSize } from '../compiler/dtype';
import type { Gpu } from './gpu';
import { awaitGpu } from './poll';
import { contentsChanged, createTrackedBuffer } from './stats';
import type { HostData, HostTensor } from './host';
import { checkInput, fromDeviceBytes, hostArrayFor, toDeviceBytes } from './host';
import { padTo4 } from './bytes';

export interface DeviceTensor {
  readonly kind: 'device';
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** the GPU buffer (absent on the cpu backend, which keeps `host`) */
  readonly buffer?: GPUBuffer;
  host?: HostData;
  read(): Promise<HostTensor>;
  write(data: ArrayLike<number> | HostTensor): void;
  dispose(): void;
}

export const isDeviceTensor = (v: unknown): v is DeviceTensor => typeof v === 'object' && v !== null && (v as DeviceTensor).kind === 'device';

export const deviceBytes = (shape: readonly number[], dtype: DType) => Math.max(4, Math.ceil((numel(shape) * byteSize(dtype)) / 4) * 4);

export { padTo4 } from './bytes';

export function gpuTensor(gpu: Gpu, shape: readonly number[], dtype: DType, data?: ArrayLike<number> | HostTensor, label = 'tensor'): DeviceTensor {
  const device = gpu.device;
  const size = deviceBytes(shape, dtype);
  const buffer = createTrackedBuffer(device, { size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label });
  const t: DeviceTensor = {
    kind: 'device',
    shape: [...shape],
    dtype,
    buffer,
    async read() {
      const staging = createTrackedBuffer(device, { size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(buffer, 0, staging, 0, size);
      device.queue.submit([enc.finish()]);
      await awaitGpu(() => staging.mapAsync(GPUMapMode.READ));
      const err = gpu.takeError();
      if (err) throw err;
      const out = fromDeviceBytes(staging.getMappedRange().slice(0), numel(shape), dtype);
      staging.unmap();
      staging.destroy();
      return { shape: [...shape], dtype, data: out };
    },
    write(values) {
      device.queue.writeBuffer(buffer, 0, padTo4(toDeviceBytes(checkInput(label, values, shape, dtype), dtype)));
      contentsChanged(buffer);
    },
    dispose() {
      buffer.destroy();
    },
  };
  if (data !== undefined) t.write(data);
  return t;
}

export function hostTensor(shape: readonly number[], dtype: DType, data?: ArrayLike<number> | HostTensor, label = 'tensor'): DeviceTensor {
  const t: DeviceTensor = {
    kind: 'device',
    shape: [...shape],
    dtype,
    host: data === undefined ? hostArrayFor(dtype, numel(shape)) : checkInput(label, data, shape, dtype),
    async read() {
      return { shape: [...shape], dtype, data: t.host!.slice() as HostData };
    },
    write(values) {
      t.host = checkInput(label, values, shape, dtype);
    },
    dispose() {},
  };
  return t;
}

export function checkDeviceInput(name: string, t: DeviceTensor, shape: readonly number[], dtype: DType): void {
  if (t.dtype !== dtype || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new Error(`input '${name}': expected ${dtype}${fmtShape(shape)}, got a device tensor ${t.dtype}${fmtShape(t.shape)}`);
}
