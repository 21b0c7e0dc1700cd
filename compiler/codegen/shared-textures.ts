/**
 * One texture per packed operand: kernels that pack the same tensor into the same texture layout
 * (attention's q, k, v and dO for the forward, dq, dk and dv kernels, each of which packs its own)
 * run once, and every reader of the later copies reads the first. A texture qualifies when one
 * kernel writes it (not a matmul in groups of batches, which rewrites its textures) and every
 * binding of it has the same size; the kernels must match in code, bound tensors, uniforms and
 * copy. The tensor a packing kernel reads holds the same values at both places (a node's buffer is
 * reused only after its last reader), and the first texture is never written again.
 */
import type { EmittedKernel } from './emit';

/** A texture's plan-wide name: the node its kernels were emitted for, and its key there. */
export const textureId = (k: EmittedKernel, key: string) => `${k.node.id}:${key}`;

/** The texture a kernel writes (by a copy after it or by texture stores), if any. */
export const textureWritten = (k: EmittedKernel): string | undefined => {
  const store = k.bindings.find((b) => b.kind === 'texture' && b.access === 'write');
  return k.copy ? textureId(k, k.copy.key) : store?.kind === 'texture' ? textureId(k, store.key) : undefined;
};

/** The kernels to run, and the texture each texture name stands for (the first of its copies). */
export function shareTextures(kernels: readonly EmittedKernel[]): { kernels: EmittedKernel[]; canonical: (id: string) => string } {
  const writers = new Map<string, number>();
  const sizes = new Map<string, Set<string>>();
  for (const k of kernels) {
    const w = textureWritten(k);
    if (w) writers.set(w, (writers.get(w) ?? 0) + 1);
    for (const b of k.bindings) if (b.kind === 'texture') sizes.set(textureId(k, b.key), (sizes.get(textureId(k, b.key)) ?? new Set()).add(`${b.width}x${b.height}`));
  }
  const first = new Map<string, string>();
  const alias = new Map<string, string>();
  const kept = kernels.filter((k) => {
    const t = textureWritten(k);
    if (!t || writers.get(t) !== 1 || sizes.get(t)?.size !== 1 || k.bindings.some((b) => b.kind === 'out')) return true;
    const signature = JSON.stringify([
      k.wgsl,
      k.bindings.map((b) => (b.kind === 'in' ? ['in', b.node.id] : b.kind === 'uniform' ? ['u', ...b.data] : b.kind === 'scratch' ? ['s', b.bytes] : b.kind === 'texture' ? ['t', b.access, b.width, b.height] : [b.kind])),
      k.copy ? [k.copy.from, k.copy.width, k.copy.bytesPerRow, k.copy.regions] : [],
      [...sizes.get(t)!],
    ]);
    const same = first.get(signature);
    if (same === undefined) {
      first.set(signature, t);
      return true;
    }
    alias.set(t, same);
    return false;
  });
  return { kernels: kept, canonical: (id) => alias.get(id) ?? id };
}
