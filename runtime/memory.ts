/**
 * Memory planning: buffers for intermediates are shared by liveness. A kernel's output gets a
 * free slot (grown if needed) before the slots of inputs it reads for the last time are released,
 * so no dispatch reads and writes the same buffer.
 */
import type { Node } from '../compiler/ir';
import type { EmittedKernel } from '../compiler/codegen/emit';

export interface BufferPlan {
  readonly slots: number[];
  readonly slotOf: Map<number, number>;
  readonly plannedBytes: number;
  readonly naiveBytes: number;
}

export function planBuffers(kernels: readonly EmittedKernel[], inputs: readonly Node[], outputs: readonly Node[], bytesOf: (n: Node) => number, external: ReadonlySet<number> = new Set()): BufferPlan {
  const outputIds = new Set(outputs.map((n) => n.id));
  const slots: number[] = [];
  const slotOf = new Map<number, number>();
  const pinned = new Set<number>();
  const lastUse = new Map<number, number>();
  kernels.forEach((k, i) => k.reads.forEach((r) => lastUse.set(r.id, i)));
  const computed = new Set(kernels.map((k) => k.node.id));
  const fixed = (n: Node) => {
    if (slotOf.has(n.id) || external.has(n.id)) return;
    slotOf.set(n.id, slots.length);
    pinned.add(slots.length);
    slots.push(bytesOf(n));
  };
  // graph inputs, constants and outputs that no kernel computes keep their own buffers
  for (const n of inputs) if (lastUse.has(n.id) || outputIds.has(n.id)) fixed(n);
  for (const k of kernels) for (const r of k.reads) if (!computed.has(r.id)) fixed(r);
  for (const n of outputs) if (!computed.has(n.id)) fixed(n);
  let naive = slots.reduce((a, b) => a + b, 0);
  const free: number[] = [];
  kernels.forEach((k, i) => {
    const need = bytesOf(k.node);
    naive += need;
    if (outputIds.has(k.node.id)) {
      slotOf.set(k.node.id, slots.length);
      pinned.add(slots.length);
      slots.push(need);
    } else {
      // the free slot closest in size; growing a slot is fine, sizes are only fixed after planning
      let best = -1;
      for (const s of free) if (best < 0 || Math.abs(slots[s] - need) < Math.abs(slots[best] - need)) best = s;
      if (best >= 0) {
        free.splice(free.indexOf(best), 1);
        slots[best] = Math.max(slots[best], need);
      } else {
        best = slots.length;
        slots.push(need);
      }
      slotOf.set(k.node.id, best);
    }
    for (const r of new Set(k.reads)) {
      const s = slotOf.get(r.id)!;
      if (lastUse.get(r.id) === i && !pinned.has(s)) free.push(s);
    }
  });
  return { slots, slotOf, plannedBytes: slots.reduce((a, b) => a + b, 0), naiveBytes: naive };
}
