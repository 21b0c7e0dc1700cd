/**
 * Random keys at trace time: a training step installs its step key, and layers that need
 * randomness (dropout, LoRA dropout) draw fresh subkeys from it in call order. Outside such a
 * scope there is no key and those layers are deterministic (inference).
 */
import type { Tensor } from './tensor';
import { randomBits } from './ops';

let scope: { key: Tensor; counter: number } | undefined;

export function withRngKey<T>(key: Tensor, f: () => T): T {
  const saved = scope;
  scope = { key, counter: 0 };
  try {
    return f();
  } finally {
    scope = saved;
  }
}

/** A fresh u32[2] key, or undefined when no key is in scope. */
export function nextKey(): Tensor | undefined {
  if (!scope) return undefined;
  return randomBits(scope.key, [2], 2 * scope.counter++ + 1_000_003);
}
