/**
 * The `webgpu` binding polls the device through the global `setImmediate` while any of its
 * promises is pending. On a 2-core machine that spin takes the core the software rasteriser's
 * shader threads need (measured: a matmul ran at half speed). While we await the GPU we route
 * the binding's polls through a short sleep instead; other code sees the original function
 * again as soon as no wait is pending.
 *
 * The sleep is 1/20 of the time waited so far, between 50 us and 1 ms: a result is noticed at
 * most ~5% (or 50 us) after it is ready, with a few dozen wake-ups for a long wait. A plain
 * `setTimeout(fn, 0)` sleeps at least 1 ms, which made every submit-and-wait cost 1.2 ms (now
 * 0.24 ms) and a 4.4 ms softmax take 5.7-8 ms. The thread sleeps in `Atomics.wait` (no CPU),
 * blocking other JavaScript for at most 1 ms at a time.
 */
const original = globalThis.setImmediate;
let pending = 0;
let waitStart = 0;
const cell = new Int32Array(new SharedArrayBuffer(4));

function politeImmediate(fn: (...args: unknown[]) => void, ...args: unknown[]) {
  const waited = performance.now() - waitStart;
  Atomics.wait(cell, 0, 0, Math.min(1, Math.max(0.05, waited / 20)));
  return original(fn, ...args);
}

export async function awaitGpu<T>(work: () => Promise<T>): Promise<T> {
  if (pending++ === 0) {
    waitStart = performance.now();
    (globalThis as { setImmediate: unknown }).setImmediate = politeImmediate;
  }
  try {
    return await work();
  } finally {
    if (--pending === 0) (globalThis as { setImmediate: unknown }).setImmediate = original;
  }
}
