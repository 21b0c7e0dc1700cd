/**
 * Tensors larger than one storage binding: weights are read in row blocks bound at offsets into
 * their buffer (compiler/passes/split-oversized.ts). A small `maxBindingBytes` makes ordinary
 * tensors "oversized", so the real kernels run split and are checked against the reference.
 */
import { describe, expect, it } from 'vitest';
import { spec, trace } from '../compiler/trace';
import type { Shape, Tensor } from '../dsl/tensor';
import { matmul } from '../dsl/tensor';
import { valueAndGrad } from '../dsl/grad';
import { attention } from '../compiler/composites/attention';
import { optimize } from '../compiler/passes';
import { rowBlocks, splitOversized } from '../compiler/passes/split-oversized';
import { graphNodes } from '../compiler/ir';
import { compile, compileTraced } from '../runtime/compile';
import { BACKEND, assertClose, checkAgainstReference, ints, rng, uniform } from './helpers/check';
import { evaluate } from '../runtime/reference';

// 1 KiB bindings: a [37, 24] f32 weight (96-byte rows, 8-row aligned blocks) is five blocks
const LIMIT = 1024;

const bindingsOf = async (fn: (a: any) => unknown, specs: Parameters<typeof compile>[1]) => {
  const exe = await compile(fn, specs, { backend: BACKEND, maxBindingBytes: LIMIT });
  return exe.plan!.kernels.flatMap((k) => k.bindings.flatMap((b) => (b.kind === 'in' || b.kind === 'out' ? [b] : [])));
};

describe('row blocks', () => {
  it('cover every row once, within the limit, at aligned offsets', () => {
    for (const [shape, dtype, limit] of [[[37, 24], 'f32', 1024], [[37, 32], 'f16', 1024], [[1000, 3], 'f32', 4096], [[152064, 3584], 'f32', 2 ** 27], [[18944, 3584], 'f16', 2 ** 27]] as const) {
      const blocks = rowBlocks(shape, dtype, { maxBindingBytes: limit, offsetAlignment: 256 })!;
      const rowBytes = shape[1] * (dtype === 'f16' ? 2 : 4);
      let next = 0;
      for (const b of blocks) {
        expect(b.start).toBe(next);
        expect((b.start * rowBytes) % 256).toBe(0);
        expect(b.count * shape[1] * 4).toBeLessThanOrEqual(limit); // even when cast to f32
        next += b.count;
      }
      expect(next).toBe(shape[0]);
    }
    expect(rowBlocks([152064, 3584], 'f32', { maxBindingBytes: 2 ** 27, offsetAlignment: 256 })!.length).toBe(17);
    expect(rowBlocks([152064, 3584], 'f16', { maxBindingBytes: 2 ** 27, offsetAlignment: 256 })!.length).toBe(17);
    // a row (times the alignment unit) larger than the limit cannot be split by rows
    expect(rowBlocks([4, 1000], 'f32', { maxBindingBytes: 1024, offsetAlignment: 256 })).toBeUndefined();
  });

  it('the pass leaves graphs within the limit alone and rewrites only what reads a large input', () => {
    const f = ({ x, w }: { x: Tensor; w: Tensor }) => matmul(x, w.transpose());
    const g = optimize(trace(f, { x: spec([5, 24]), w: spec([37, 24]) }).graph);
    expect(splitOversized(g, { maxBindingBytes: 2 ** 20, offsetAlignment: 256 })).toBe(g);
    const s = splitOversized(g, { maxBindingBytes: LIMIT, offsetAlignment: 256 });
    expect(graphNodes(s).filter((n) => n.op === 'row_view').length).toBe(5);
    expect(graphNodes(s).filter((n) => n.op === 'matmul').length).toBe(5);
  });
});

describe('split weights on the device', () => {
  it('matmul with a row-split weight, transposed (output columns) and not (inner dimension)', async () => {
    const f = ({ x, w, v }: { x: Tensor; w: Tensor; v: Tensor }) => ({ cols: matmul(x.slice([null, [3, 27]]), w.transpose()), inner: matmul(x.slice([null, [0, 37]]).add(0), v), left: matmul(w, x.slice([[0, 5], [0, 24]]).transpose()) });
    await checkAgainstReference(f, { x: spec([5, 40]), w: spec([37, 24]), v: spec([37, 24]) }, { maxBindingBytes: LIMIT, rtol: 1e-4, atol: 1e-4 });
    const binds = await bindingsOf(f, { x: spec([5, 40]), w: spec([37, 24]), v: spec([37, 24]) });
    expect(binds.every((b) => b.bytes <= LIMIT)).toBe(true);
    expect(binds.some((b) => (b.offset ?? 0) > 0)).toBe(true);
  });

  it('an embedding lookup (gather on axis 0) whose ids fall in every block, first and last rows included', async () => {
    const f = ({ table, ids }: { table: Tensor; ids: Tensor<Shape, 'i32'> }) => table.take(ids, 0);
    const ids = [0, 36, 8, 7, 15, 16, 23, 24, 31, 32, 1, 35, 19, 20];
    // 32-byte rows, 512-byte bindings: blocks of 16 rows
    await checkAgainstReference(f, { table: spec([37, 8]), ids: spec([2, 7], 'i32') }, { maxBindingBytes: 512, values: { ids } });
  });

  it('f16 storage cast to f32 before the product (the elementwise rule), an odd row count', async () => {
    const f = ({ x, w }: { x: Tensor; w: Tensor }) => matmul(x, w.cast('f32').transpose());
    await checkAgainstReference(f, { x: spec([1, 16]), w: spec([101, 16], 'f16') }, { maxBindingBytes: 512, rtol: 1e-3, atol: 1e-3 });
  });

  it('gradients through the split weight (w.r.t. the activations)', async () => {
    const loss = ({ x, w }: { x: Tensor; w: Tensor }) => matmul(x, w.transpose()).tanh().sum();
    const specs = { x: spec([4, 24]), w: spec([37, 24]) };
    const traced = trace(valueAndGrad(loss as never, { wrt: ['x'] } as never), specs);
    const r = rng(7);
    const values = { x: uniform(-1, 1)(96, r), w: uniform(-1, 1)(37 * 24, r) };
    const ref = evaluate(traced.graph, new Map(Object.entries(values)));
    const exe = await compileTraced(optimize(traced.graph), traced.inputs, BACKEND, undefined, false, LIMIT);
    const got = await exe.run(values);
    for (const [name] of traced.graph.outputs) assertClose(got[name].data, ref.get(name)!.data, 1e-4, 1e-4, name);
  });

  it('a split weight passed as a device tensor (external): bound at offsets into the caller buffer', async () => {
    const f = ({ x, w }: { x: Tensor; w: Tensor }) => matmul(x, w.transpose());
    const exe = await compile(f, { x: spec([5, 24]), w: spec([37, 24]) }, { backend: BACKEND, maxBindingBytes: LIMIT, external: (n) => n === 'w' });
    const r = rng(3);
    const x = uniform(-1, 1)(120, r);
    const w = uniform(-1, 1)(37 * 24, r);
    const got = await exe.run({ x, w: exe.deviceTensor([37, 24], 'f32', w) });
    const want = Array.from({ length: 5 * 37 }, (_, k) => {
      const [i, j] = [Math.floor(k / 37), k % 37];
      let s = 0;
      for (let p = 0; p < 24; p++) s += x[i * 24 + p] * w[j * 24 + p];
      return s;
    });
    assertClose(Object.values(got)[0].data, want, 1e-5, 1e-5, 'x @ w^T');
  });

  it('a computed tensor above the limit is refused with its name, shape and the limit', async () => {
    const f = ({ x, w }: { x: Tensor; w: Tensor }) => matmul(x, w.transpose()).exp();
    await expect(compile(f, { x: spec([40, 24]), w: spec([37, 24]) }, { backend: BACKEND, maxBindingBytes: LIMIT })).rejects.toThrow(/f32\[40,37\] needs 5920 bytes in one binding, above this adapter's limit 1024/);
  });

  it('attention whose scores exceed a binding: computed head by head, never whole (and its gradients)', async () => {
    // scores [2, 3, 20, 20] f32 are 9600 bytes; 4 KiB bindings: one batch entry is too much, one head is not
    const f = ({ q, k, v }: { q: Tensor; k: Tensor; v: Tensor }) => attention(q, k, v, { causal: true });
    const specs = { q: spec([2, 3, 20, 8]), k: spec([2, 3, 20, 8]), v: spec([2, 3, 20, 8]) };
    await checkAgainstReference(f, specs, { maxBindingBytes: 4096, rtol: 1e-4, atol: 1e-4 });
    const exe = await compile(f, specs, { backend: BACKEND, maxBindingBytes: 4096 });
    expect(exe.plan!.kernels.flatMap((k) => k.bindings).every((b) => b.kind !== 'in' && b.kind !== 'out' || b.bytes <= 4096)).toBe(true);
    const loss = ({ q, k, v }: { q: Tensor; k: Tensor; v: Tensor }) => attention(q, k, v).square().sum();
    await checkAgainstReference(valueAndGrad(loss as never), specs, { maxBindingBytes: 4096, rtol: 1e-4, atol: 1e-4 });
  });

  it('grouped-query attention: scores [1, 1, 2*20, 20] cut by rows, whole query groups per block', async () => {
    // the one kv head's scores (3200 bytes) exceed 2 KiB bindings: blocks of 20 rows (one query
    // group: 25 rows would fit, but a block must not cut an index of the reshape to [1, 1, 2, 20, 20]);
    // the portable plan, where attention is matmuls and a softmax (with subgroups it is one fused kernel)
    const f = ({ q, k, v }: { q: Tensor; k: Tensor; v: Tensor }) => attention(q, k, v, { causal: true });
    const specs = { q: spec([1, 2, 20, 8]), k: spec([1, 1, 20, 8]), v: spec([1, 1, 20, 8]) };
    await checkAgainstReference(f, specs, { maxBindingBytes: 2048, rtol: 1e-4, atol: 1e-4, portable: true });
    const exe = await compile(f, specs, { backend: BACKEND, maxBindingBytes: 2048, portable: true });
    const sizes = exe.plan!.kernels.filter((k) => k.label.startsWith('row_op')).map((k) => k.bindings[0]);
    expect(sizes.map((b) => (b.kind === 'out' ? b.bytes : 0))).toEqual([1600, 1600]);
  });

  it('ints stay exact: a large i32 table gathered', async () => {
    const f = ({ table, ids }: { table: Tensor; ids: Tensor<Shape, 'i32'> }) => table.take(ids, 0);
    await checkAgainstReference(f, { table: spec([300, 3], 'i32'), ids: spec([9], 'i32') }, { maxBindingBytes: 1024, gen: { table: ints(-1000, 1000), ids: ints(0, 300) } });
  });
});
