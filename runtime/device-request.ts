/**
 * What we ask of an adapter: the optional features kernels may use and the adapter's own limits
 * (the defaults are far below what a software rasteriser offers). Self-contained, so generated
 * inference modules ask for the same device the compiler planned for.
 */
const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

export function deviceRequest(adapter: GPUAdapter): GPUDeviceDescriptor {
  const l = adapter.limits;
  return {
    requiredFeatures: WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[],
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxTextureDimension2D: l.maxTextureDimension2D,
      // read textures are bound as storage textures where the device allows (fused attention's gradient reads five)
      maxStorageTexturesPerShaderStage: l.maxStorageTexturesPerShaderStage,
    },
  };
}
