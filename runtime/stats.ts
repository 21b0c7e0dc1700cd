/** Counters of device resources, so long runs can be checked for leaks. */
export const deviceStats = {
  buffersCreated: 0,
  buffersDestroyed: 0,
  get liveBuffers(): number {
    return this.buffersCreated - this.buffersDestroyed;
  },
  pipelines: 0,
};

export function createTrackedBuffer(device: GPUDevice, desc: GPUBufferDescriptor): GPUBuffer {
  const b = device.createBuffer(desc);
  deviceStats.buffersCreated++;
  const destroy = b.destroy.bind(b);
  let done = false;
  (b as { destroy: () => void }).destroy = () => {
    if (!done) deviceStats.buffersDestroyed++;
    done = true;
    destroy();
  };
  return b;
}

/**
 * How often each buffer's contents were replaced (host writes, outputs written into it): an
 * executable repacks a constant input again when its buffer's version moved, not only when
 * another buffer is passed (a checkpoint loaded into a frozen weight).
 */
const versions = new WeakMap<GPUBuffer, number>();
export const contentVersion = (b: GPUBuffer): number => versions.get(b) ?? 0;
export function contentsChanged(b: GPUBuffer): void {
  versions.set(b, contentVersion(b) + 1);
}
