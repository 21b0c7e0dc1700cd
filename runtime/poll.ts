/**
 * The `webgpu` binding polls the device through the global `setImmediate` while any of its
 * promises is pending. On a 2-core machine that spin takes the core the software rasteriser's
 * shader threads need (measured: a matmul ran at half speed). While we await the GPU we route
 * the binding's polls through a short sleep instead; other code sees the original function
 * again as soon as no wait is pending.
 *
 * The sleep is 1/20 of the time waited so far, between 50 us and 1 ms: a result is noticed at
 * most ~5% (or 50 us) after it is ready. A plain `setTimeout(fn, 0)` sleeps at least 1 ms, which
 * made every submit-and-wait cost 1.2 ms (now 0.24 ms) and a 4.4 ms softmax take 5.7-8 ms. A
 * caller that knows how long the work takes (an executable's earlier runs) says so: the wait
 * then sleeps through the first 80% of that in steps of up to 2 ms, since every wake-up competes
 * with the shader threads (a 1024^2 matmul: ~100 wake-ups cost ~0.7 ms of 42). Measured side by
 * side in one process (medians of 21): matmul 1024 42.1 ms with the hint, 43.1 without, 42.6 with
 * setTimeout; softmax 4096x1024 5.1, 5.7, 5.7 ms. The thread sleeps
 * in `Atomics.wait` (no CPU), blocking other JavaScript for at most 2 ms at a time.
 */
const original = globalThis.setImmediate;
let pending = 0;
let since = 0;
let until = 0;
const cell = new Int32Array(new SharedArrayBuffer(4));

function politeImmediate(fn: (...args: unknown[]) => void, ...args: unknown[]) {
  const now = performance.now();
  Atomics.wait(cell, 0, 0, now < until ? Math.min(2, until - now) : Math.min(1, Math.max(0.05, (now - since) / 20)));
  return original(fn, ...args);
}

/** `expectMs`: how long the work is expected to take (0: unknown). */
export async function awaitGpu<T>(work: () => Promise<T>, expectMs = 0): Promise<T> {
  since = performance.now();
  until = since + 0.8 * expectMs;
  if (pending++ === 0) (globalThis as { setImmediate: unknown }).setImmediate = politeImmediate;
  try {
    return await work();
  } finally {
    if (--pending === 0) (globalThis as { setImmediate: unknown }).setImmediate = original;
  }
}
