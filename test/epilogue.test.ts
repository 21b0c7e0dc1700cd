/**
 * Epilogue fusion (compiler/codegen/epilogue.ts): an elementwise consumer of a product (bias,
 * activation, residual) is computed in the product kernel's store, for every matmul kernel (the
 * texture kernel a CPU rasteriser gets, the GPU's tiled kernel, the portable one), checked
 * against the reference; and it is not fused where the product is read elsewhere or at other
 * positions (a transpose), where those results must still be right.
 */
import { describe, expect, it } from 'vitest';
import { spec, trace } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import type { Tensor } from '../dsl/tensor';
import { matmul } from '../dsl/tensor';
import { gelu } from '../compiler/composites';
import { compileTraced } from '../runtime/compile';
import { getGpu } from '../runtime/gpu';
import { BACKEND, checkAgainstReference, uniform } from './helpers/check';

type Specs = Record<string, ReturnType<typeof spec>>;
const labels = async (f: (x: any) => unknown, specs: Specs, portable = false) => {
  const t = trace(f, specs);
  return (await compileTraced(optimize(t.graph), t.inputs, BACKEND, undefined, portable)).kernels.map((k) => k.label);
};
/** the product kernels that compute an epilogue, and every other kernel that writes a value */
const split = (ls: string[]) => ({ fused: ls.filter((l) => /^matmul#\d+\+/.test(l)), rest: ls.filter((l) => !/^matmul#\d+\+/.test(l) && !/:(pack|copy)/.test(l)) });

describe('epilogue fusion', () => {
  it('bias and GELU in the texture kernel: [3, 67, 130] x [150, 130]^T', async () => {
    const f = ({ x, w, b }: { x: Tensor; w: Tensor; b: Tensor }) => gelu(matmul(x, w.transpose()).add(b));
    const specs = { x: spec([3, 67, 130]), w: spec([150, 130]), b: spec([150]) };
    const { fused, rest } = split(await labels(f, specs));
    expect(fused.some((l) => /:mm$/.test(l))).toBe(true);
    expect(rest).toEqual([]);
    await checkAgainstReference(f, specs, { rtol: 1e-4, atol: 1e-5, gen: uniform(-1, 1) });
  });

  it('a residual read at the output position, bias broadcast over rows, A from its buffer: [2, 90, 68] x [68, 96] + r', async () => {
    const f = ({ x, w, r }: { x: Tensor; w: Tensor; r: Tensor }) => ({ y: r.add(matmul(x, w)).mul(0.5), s: r.sum() });
    const specs = { x: spec([2, 90, 68]), w: spec([68, 96]), r: spec([2, 90, 96]) };
    const ls = await labels(f, specs);
    expect(split(ls).fused.length).toBe(1);
    expect(ls.some((l) => /pack.*A/.test(l))).toBe(false);
    await checkAgainstReference(f, specs, { rtol: 1e-4, atol: 1e-5, gen: uniform(-1, 1) });
  });

  it('a root that is a reshape of an elementwise expression (not of the product itself, which is an alias)', async () => {
    const f = ({ x, w, b }: { x: Tensor; w: Tensor; b: Tensor }) => ({ y: matmul(x, w).add(b).reshape([70, 10, 13]), alias: matmul(x.neg(), w).reshape([70, 13, 10]) });
    const specs = { x: spec([70, 150]), w: spec([150, 130]), b: spec([130]) };
    const ls = await labels(f, specs);
    expect(ls.filter((l) => /^matmul#\d+\+reshape#\d+:mm$/.test(l)).length).toBe(1);
    expect(split(ls).fused.length).toBe(1);
    await checkAgainstReference(f, specs, { rtol: 1e-4, atol: 1e-5, gen: uniform(-1, 1) });
  });

  it('in the tiled kernel GPUs get and in the portable kernel', async () => {
    const f = ({ a, b, c }: { a: Tensor; b: Tensor; c: Tensor }) => ({ big: matmul(a, b).add(c).tanh(), small: matmul(a.slice([[0, 5], null]), b.slice([null, [0, 7]])).mul(2) });
    const specs = { a: spec([130, 150]), b: spec([150, 70]), c: spec([70]) };
    const ls = await labels(f, specs, true);
    expect(ls.some((l) => /^matmul#\d+\+tanh#\d+:tiled$/.test(l))).toBe(true);
    expect(ls.some((l) => /^matmul#\d+\+mul#\d+$/.test(l))).toBe(true);
    await checkAgainstReference(f, specs, { portable: true, rtol: 1e-4, atol: 1e-5, gen: uniform(-1, 1) });
  });

  it('not where the product has two readers, is an output, or is read transposed', async () => {
    const f = ({ a, b, c }: { a: Tensor; b: Tensor; c: Tensor }) => {
      const p = matmul(a, b);
      const q = matmul(b.transpose(), a.transpose());
      const o = matmul(a.neg(), b);
      return { two: p.add(1), readers: p.mul(c), t: q.transpose().add(c), out: o, outPlus: o.add(c) };
    };
    const specs = { a: spec([70, 150]), b: spec([150, 130]), c: spec([70, 130]) };
    const ls = await labels(f, specs);
    expect(split(ls).fused).toEqual([]);
    await checkAgainstReference(f, specs, { rtol: 1e-4, atol: 1e-5, gen: uniform(-1, 1) });
  });

  it('f16 storage: bias and SiLU', async () => {
    const gpu = await getGpu();
    if (!gpu.features.has('shader-f16')) return;
    const f = ({ x, w, b }: { x: Tensor; w: Tensor; b: Tensor }) => { const y = matmul(x, w.transpose()).add(b); return y.mul(y.sigmoid()); };
    const specs = { x: spec([100, 120], 'f16'), w: spec([90, 120], 'f16'), b: spec([90], 'f16') };
    expect(split(await labels(f, specs)).fused.length).toBe(1);
    await checkAgainstReference(f, specs, { rtol: 5e-3, atol: 5e-3, gen: uniform(-1, 1) });
  });
});

describe('epilogue fusion and sibling kernels', () => {
  it("a product's operand computed by a sibling group runs before the fused kernel (the group closes at its reader)", async () => {
    // a and c are same-shape elementwise siblings sharing x; the fused kernel reads a (as the
    // product's operand), so c must not join a's group and move it after the product
    const f = ({ x, w, b }: { x: Tensor; w: Tensor; b: Tensor }) => {
      const a = x.mul(2).add(1);
      return { y: matmul(a, w).add(b), c: x.mul(3).sub(1) };
    };
    const specs = { x: spec([70, 150]), w: spec([150, 130]), b: spec([130]) };
    expect(split(await labels(f, specs)).fused.length).toBe(1);
    await checkAgainstReference(f, specs, { rtol: 1e-4, atol: 1e-5, gen: uniform(-1, 1) });
  });
});
