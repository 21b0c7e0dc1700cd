/**
 * The `webgpu` binding polls the device through the global `setImmediate` while any of its
 * promises is pending. On a 2-core machine that spin takes the core the software rasteriser's
 * shader threads need (measured: a matmul ran at half speed). While we await the GPU we route
 * the binding's polls through a short timer instead; other code sees the original function
 * again as soon as no wait is pending.
 */
const original = globalThis.setImmediate;
let pending = 0;

function politeImmediate(fn: (...args: unknown[]) => void, ...args: unknown[]) {
  return setTimeout(fn, 0, ...args) as unknown as NodeJS.Immediate;
}

export async function awaitGpu<T>(work: () => Promise<T>): Promise<T> {
  if (pending++ === 0) (globalThis as { setImmediate: unknown }).setImmediate = politeImmediate;
  try {
    return await work();
  } finally {
    if (--pending === 0) (globalThis as { setImmediate: unknown }).setImmediate = original;
  }
}
