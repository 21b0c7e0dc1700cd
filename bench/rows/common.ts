/** Helpers shared by the row files. */

/** A value computed on first use and kept (each row's inputs, shared by every contestant). */
export function lazy<T>(make: () => T): () => T {
  let v: T | undefined;
  let made = false;
  return () => {
    if (!made) {
      v = make();
      made = true;
    }
    return v as T;
  };
}

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
