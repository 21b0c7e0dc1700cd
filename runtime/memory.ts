/**
 * Memory planning: intermediates share buffers by liveness. All lifetimes are known before
 * anything runs, so the plan is made offline, greedy by size (as TFLite's arena planner does):
 * the largest tensors are placed first, each in the first buffer none of whose tenants is
 * alive at the same time and that is large enough, else in a new buffer. A kernel's output is
 * alive from its own kernel on, so no dispatch reads and writes the same buffer.
 */
import type { Node } from '../compiler/ir';
import type { EmittedKernel } from '../compiler/codegen/emit';

export interface BufferPlan {
  readonly slots: number[];
  readonly slotOf: Map<number, number>;
  readonly plannedBytes: number;
  readonly naiveBytes: number;
  /** the largest sum of bytes alive at once: the bound any plan of this order must meet */
  readonly peakLiveBytes: number;
}

export function planBuffers(kernels: readonly EmittedKernel[], inputs: readonly Node[], outputs: readonly Node[], bytesOf: (n: Node) => number, external: ReadonlySet<number> = new Set()): BufferPlan {
  const outputIds = new Set(outputs.map((n) => n.id));
  const slots: number[] = [];
  const slotOf = new Map<number, number>();
  const lastUse = new Map<number, number>();
  kernels.forEach((k, i) => k.reads.forEach((r) => lastUse.set(r.id, i)));
  const computed = new Set(kernels.flatMap((k) => k.outputs.map((o) => o.id)));
  const fixed = (n: Node) => {
    if (slotOf.has(n.id) || external.has(n.id)) return;
    slotOf.set(n.id, slots.length);
    slots.push(bytesOf(n));
  };
  // graph inputs, constants and outputs keep buffers of their own
  for (const n of inputs) if (lastUse.has(n.id) || outputIds.has(n.id)) fixed(n);
  for (const k of kernels) for (const r of k.reads) if (!computed.has(r.id)) fixed(r);
  for (const n of outputs) fixed(n);
  const fixedBytes = slots.reduce((a, b) => a + b, 0);

  interface Life { node: Node; size: number; from: number; to: number }
  // a tensor written by several kernels (a matmul in groups of batches) lives from the first
  // of them to its last write or read: one life per tensor, never one per writing kernel
  const lifeOf = new Map<number, Life>();
  kernels.forEach((k, i) =>
    k.outputs.forEach((o) => {
      const l = lifeOf.get(o.id);
      if (l) l.to = Math.max(l.to, i);
      else lifeOf.set(o.id, { node: o, size: bytesOf(o), from: i, to: Math.max(i, lastUse.get(o.id) ?? i) });
    }),
  );
  const lives: Life[] = [...lifeOf.values()].filter((l) => !slotOf.has(l.node.id));
  const naive = fixedBytes + lives.reduce((a, l) => a + l.size, 0);
  lives.sort((a, b) => b.size - a.size || a.from - b.from);
  const tenants: Life[][] = [];
  const firstShared = slots.length;
  for (const l of lives) {
    let slot = -1;
    for (let s = 0; s < tenants.length && slot < 0; s++) {
      if (slots[firstShared + s] >= l.size && tenants[s].every((t) => t.to < l.from || l.to < t.from)) slot = s;
    }
    if (slot < 0) {
      slot = tenants.length;
      tenants.push([]);
      slots.push(l.size);
    }
    tenants[slot].push(l);
    slotOf.set(l.node.id, firstShared + slot);
  }
  let peak = 0;
  for (let i = 0; i < kernels.length; i++) peak = Math.max(peak, lives.reduce((a, l) => (l.from <= i && i <= l.to ? a + l.size : a), 0));
  return { slots, slotOf, plannedBytes: slots.reduce((a, b) => a + b, 0), naiveBytes: naive, peakLiveBytes: fixedBytes + peak };
}
