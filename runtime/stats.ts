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
