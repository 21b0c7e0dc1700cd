import { describe, it, expect } from 'vitest';
import { spec, trace } from '../compiler/trace';
import type { Tensor } from '../dsl/tensor';
import { concat, matmul, where, binary, iota } from '../dsl/tensor';
import { conv1d, conv2d, embedding, scatterAdd, avgPool1d } from '../dsl/ops';
import { gelu, silu, softmax, logSoftmax, causalSoftmax, layerNorm, rmsNorm, attention, rope, crossEntropy } from '../compiler/composites';
import { grad, valueAndGrad, vjp, jvp, stopGradient } from '../dsl/grad';
import { evaluate } from '../runtime/reference';
import { checkGrads } from './helpers/gradcheck';
import { ints, uniform } from './helpers/check';

const UNARY: [string, (x: Tensor) => Tensor, ReturnType<typeof uniform>?][] = [
  ['neg', (x) => x.neg()],
  ['abs', (x) => x.abs()],
  ['exp', (x) => x.exp()],
  ['log', (x) => x.log(), uniform(0.2, 3)],
  ['sqrt', (x) => x.sqrt(), uniform(0.2, 3)],
  ['rsqrt', (x) => x.rsqrt(), uniform(0.2, 3)],
  ['sin', (x) => x.sin()],
  ['cos', (x) => x.cos()],
  ['tanh', (x) => x.tanh()],
  ['erf', (x) => x.erf()],
  ['sigmoid', (x) => x.sigmoid()],
  ['reciprocal', (x) => x.reciprocal(), uniform(0.3, 3)],
];

describe('gradients of primitives: reverse mode = finite differences (float64), WebGPU = reference', () => {
  for (const [name, f, gen] of UNARY) {
    it(name, async () => checkGrads(({ x }: { x: Tensor }) => f(x), { x: spec([3, 5]) }, { gen }));
  }
  for (const op of ['add', 'sub', 'mul', 'div', 'max', 'min']) {
    it(`${op} with broadcasting`, async () => checkGrads(({ a, b }: { a: Tensor; b: Tensor }) => binary(op, a, b), { a: spec([4, 3]), b: spec([3]) }, { gen: op === 'div' ? { a: uniform(-2, 2), b: uniform(0.5, 2) } : undefined }));
  }
  it('pow', async () => checkGrads(({ a, b }: { a: Tensor; b: Tensor }) => a.pow(b), { a: spec([6]), b: spec([6]) }, { gen: { a: uniform(0.3, 2), b: uniform(-2, 2) } }));
  it('where and cast', async () => checkGrads(({ a, b }: { a: Tensor; b: Tensor }) => where(a.gt(0), a.mul(b), b.exp()).cast('f32'), { a: spec([7]), b: spec([7]) }));
  it('reductions: sum, mean, max, min over axes', async () =>
    checkGrads(({ x }: { x: Tensor }) => ({ s: x.sum([0, 2]), m: x.mean(1, true), mx: x.max(-1), mn: x.min([0, 1]) }), { x: spec([3, 4, 5]) }));
  it('views: reshape, permute, expand, slice (strided, negative), pad, concat', async () =>
    checkGrads(
      ({ x, y }: { x: Tensor; y: Tensor }) => ({
        a: x.reshape([6, 4]).transpose().mul(2),
        b: x.slice([[null, null, -1], [0, 4, 3]]).pad([[1, 2], [0, 1], [2, 0]]),
        c: concat([x, y.broadcastTo([2, 3, 4])], 1).exp(),
      }),
      { x: spec([2, 3, 4]), y: spec([3, 1]) },
    ));
  it('matmul, batched and with transposes', async () =>
    checkGrads(({ a, b }: { a: Tensor; b: Tensor }) => ({ m: matmul(a, b), t: matmul(a.transpose(), a), u: matmul(b.transpose(), a.transpose()) }), { a: spec([2, 3, 4]), b: spec([2, 4, 5]) }));
  it('conv1d and conv2d with stride, padding, dilation and groups', async () =>
    checkGrads(
      ({ x, w, x2, w2, b }: { x: Tensor; w: Tensor; x2: Tensor; w2: Tensor; b: Tensor }) => ({
        c1: conv1d(x, w, b, { stride: 2, padding: 1, dilation: 1 }),
        c2: conv2d(x2, w2, undefined, { stride: [2, 1], padding: [1, [0, 1]], dilation: [1, 2], groups: 2 }),
      }),
      { x: spec([2, 3, 9]), w: spec([4, 3, 3]), b: spec([4]), x2: spec([1, 4, 6, 7]), w2: spec([2, 2, 3, 2]) },
    ));
  it('conv2d through conv_windows (stride 2, padding 1, 3 channels padded to 4)', async () =>
    checkGrads(({ x, w }: { x: Tensor; w: Tensor }) => conv2d(x, w, undefined, { stride: 2, padding: 1 }), { x: spec([2, 3, 8, 8]), w: spec([4, 3, 3, 3]) }));
  it('the direct convolution kernels (forward and both backward kernels)', async () =>
    checkGrads(
      ({ x, w }: { x: Tensor; w: Tensor }) => conv2d(x, w, undefined, { stride: [2, 1], padding: [1, [0, 1]], dilation: [1, 2], direct: true }),
      { x: spec([1, 2, 6, 7]), w: spec([3, 2, 3, 2]) },
    ));
  it('gather (embedding) and scatter-add', async () =>
    checkGrads(
      ({ t, ids, u }: { t: Tensor; ids: Tensor; u: Tensor }) => ({ e: embedding(t, ids), s: scatterAdd(u, ids.reshape([6]), 0, 5) }),
      { t: spec([5, 3]), ids: spec([2, 3], 'i32'), u: spec([6, 2]) },
      { gen: { t: uniform(-1, 1), ids: ints(0, 5), u: uniform(-1, 1) } },
    ));
});

describe('gradients of composites (their own VJP rules or their expansions)', () => {
  it('gelu (both forms), silu', async () => checkGrads(({ x }: { x: Tensor }) => ({ g: gelu(x), t: gelu(x, 'tanh'), s: silu(x) }), { x: spec([9]) }, { gen: uniform(-3, 3) }));
  it('softmax, log-softmax', async () => checkGrads(({ x }: { x: Tensor }) => ({ s: softmax(x, 0), l: logSoftmax(x, -1), t: softmax(x.mul(3), -1) }), { x: spec([3, 5]) }));
  it('causal softmax with an offset (masked entries get no gradient)', async () =>
    checkGrads(({ x }: { x: Tensor }) => causalSoftmax(x.reshape([2, 3, 5]), 1), { x: spec([30]) }, { gen: uniform(-3, 3) }));
  it('second order through softmax and log-softmax rules', async () =>
    checkGrads(
      ({ x, c }: { x: Tensor; c: Tensor }) => {
        const g = grad(({ x: xx }: { x: Tensor }) => softmax(xx, -1).mul(c).sum().add(logSoftmax(xx.mul(0.5), 0).mul(c).sum()), { wrt: ['x'] })({ x }).x as Tensor;
        return g.mul(g.add(c));
      },
      { x: spec([3, 4]), c: spec([3, 4]) },
    ));
  it('layer norm, RMS norm', async () =>
    checkGrads(({ x, g, b }: { x: Tensor; g: Tensor; b: Tensor }) => ({ l: layerNorm(x, g, b), r: rmsNorm(x, g) }), { x: spec([3, 6]), g: spec([6]), b: spec([6]) }));
  it('attention (causal, grouped-query) and rope', async () =>
    checkGrads(
      ({ q, k, v }: { q: Tensor; k: Tensor; v: Tensor }) => attention(rope(q, iota([4], 0), 100), rope(k, iota([4], 0), 100), v, { causal: true }),
      { q: spec([1, 4, 4, 4]), k: spec([1, 2, 4, 4]), v: spec([1, 2, 4, 3]) },
    ));
  it('cross-entropy with ignored targets', async () =>
    checkGrads(({ l, t }: { l: Tensor; t: Tensor }) => crossEntropy(l, t), { l: spec([2, 3, 5]), t: spec([2, 3], 'i32') }, { gen: { l: uniform(-2, 2), t: () => [1, -100, 4, 0, 0, 2] } }));
  it('avg_pool1d', async () => checkGrads(({ x }: { x: Tensor }) => avgPool1d(x, 3), { x: spec([2, 2, 10]) }));
});

describe('transforms', () => {
  it('stopGradient blocks the gradient', () => {
    const g = trace(grad(({ x }: { x: Tensor }) => x.mul(stopGradient(x)).sum()), { x: spec([3]) });
    const out = evaluate(g.graph, new Map([['x', [1, 2, 3]]]));
    expect(Array.from(out.get('x')!.data)).toEqual([1, 2, 3]);
  });
  it('gradient of a gradient (elementwise, matmul, reduction)', () => {
    // f(x) = sum((W x)^3); df/dx = 3 W^T (Wx)^2; d/dx sum(df/dx) = 6 W^T diag(Wx) W 1
    const df = (a: { x: Tensor; w: Tensor }) => (grad(({ x, w }: { x: Tensor; w: Tensor }) => matmul(w, x).pow(3 as never).sum(), { wrt: ['x'] })(a).x as Tensor);
    const d2 = grad((a: { x: Tensor; w: Tensor }) => df(a).sum(), { wrt: ['x'] });
    const g = trace(({ x, w }: { x: Tensor; w: Tensor }) => d2({ x, w }).x as Tensor, { x: spec([2]), w: spec([2, 2]) });
    const x = [0.5, -1];
    const w = [1, 2, 3, 4];
    const wx = [w[0] * x[0] + w[1] * x[1], w[2] * x[0] + w[3] * x[1]];
    const want = [0, 1].map((j) => 6 * [0, 1].reduce((s, i) => s + w[i * 2 + j] * wx[i] * (w[i * 2] + w[i * 2 + 1]), 0));
    const got = evaluate(g.graph, new Map([['x', x], ['w', w]])).get('')!.data;
    expect(got[0]).toBeCloseTo(want[0], 9);
    expect(got[1]).toBeCloseTo(want[1], 9);
  });
  it('vjp with several outputs and jvp against finite differences', () => {
    const f = ({ x }: { x: Tensor }) => ({ a: x.exp(), b: x.mul(x).sum() });
    const t = trace(({ x, ca, cb }: { x: Tensor; ca: Tensor; cb: Tensor }) => vjp(f)({ x }).pullback({ a: ca, b: cb }).x as Tensor, { x: spec([3]), ca: spec([3]), cb: spec([]) });
    const got = evaluate(t.graph, new Map([['x', [0, 1, 2]], ['ca', [1, 1, 2]], ['cb', [0.5]]])).get('')!.data;
    [1, Math.E + 1, 2 * Math.exp(2) + 2].forEach((v, i) => expect(got[i]).toBeCloseTo(v, 9));
    const h = ({ x }: { x: Tensor }) => x.sin().mul(x).sum(0);
    const j = trace(({ x, t: tt }: { x: Tensor; t: Tensor }) => jvp(h)({ x }, { x: tt }).tangent, { x: spec([3, 2]), t: spec([3, 2]) });
    const x = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
    const tv = [1, -1, 0.5, 2, 0, 1];
    const jv = evaluate(j.graph, new Map([['x', x], ['t', tv]])).get('')!.data;
    const hf = trace(h, { x: spec([3, 2]) });
    const at = (e: number) => evaluate(hf.graph, new Map([['x', x.map((v, i) => v + e * tv[i])]])).get('')!.data;
    const [p, m] = [at(1e-6), at(-1e-6)];
    for (let i = 0; i < 2; i++) expect(jv[i]).toBeCloseTo((p[i] - m[i]) / 2e-6, 6);
  });
  it('valueAndGrad selects leaves by path and returns a tree', () => {
    const vg = valueAndGrad(({ p, x }: { p: { w: Tensor; b: Tensor }; x: Tensor }) => x.mul(p.w).add(p.b).sum(), { wrt: ['p'] });
    const t = trace((a: { p: { w: Tensor; b: Tensor }; x: Tensor }) => vg(a), { p: { w: spec([2]), b: spec([2]) }, x: spec([2]) });
    expect(t.graph.outputs.map(([k]) => k).sort()).toEqual(['flat.p.b', 'flat.p.w', 'grads.p.b', 'grads.p.w', 'value']);
  });
});
