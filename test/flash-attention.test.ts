/**
 * Fused attention (kernels/flash-attention.ts): the attention composite becomes one kernel on
 * adapters with 8-lane subgroups, whose results match the reference over several key blocks
 * (the running softmax across blocks), a head_dim that is not a multiple of 4, value widths on
 * both lane tilings, causal masks with an offset (KV-cache decoding), grouped-query heads and heads
 * in several texture groups; without subgroups (the portable plan) the same graph runs as matmuls
 * and a softmax. Its gradient (the expansion's) against finite differences.
 */
import { describe, expect, it } from 'vitest';
import { spec, trace } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import { apply } from '../compiler/primitive';
import { Tensor } from '../dsl/tensor';
import { attention } from '../compiler/composites';
import { grad } from '../dsl/grad';
import { compileTraced } from '../runtime/compile';
import { BACKEND, checkAgainstReference } from './helpers/check';
import { checkGrads } from './helpers/gradcheck';

type QKV = { q: Tensor; k: Tensor; v: Tensor };
const qkv = (b: number, hq: number, hkv: number, tq: number, tk: number, d: number, dv: number) => ({ q: spec([b, hq, tq, d]), k: spec([b, hkv, tk, d]), v: spec([b, hkv, tk, dv]) });

const labels = async (f: (a: QKV) => Tensor, specs: ReturnType<typeof qkv>, portable = false) => {
  const t = trace(f, specs);
  const exe = await compileTraced(optimize(t.graph), t.inputs, BACKEND, undefined, portable);
  return exe.kernels.map((k) => k.label);
};

describe('fused attention', () => {
  it('is one kernel after packing q, k and v (matmuls and a softmax in the portable plan)', async () => {
    const f = ({ q, k, v }: QKV) => attention(q, k, v, { causal: true });
    const specs = qkv(1, 2, 2, 100, 100, 8, 8);
    expect((await labels(f, specs)).map((l) => l.split(':')[1])).toEqual(['packQ', 'packK', 'packV', 'flash']);
    const portable = await labels(f, specs, true);
    expect(portable.some((l) => /flash/.test(l))).toBe(false);
    expect(portable.some((l) => /matmul/.test(l))).toBe(true);
    await checkAgainstReference(f, specs, { rtol: 1e-4, atol: 1e-5, portable: true });
  });

  for (const [name, f, specs] of [
    // 3 key blocks of 64, head_dim 12 (texels past it are zero), values 40 wide (8 per lane, tile of 64)
    ['plain, 3 key blocks, head_dim 12, 40 value columns', ({ q, k, v }: QKV) => attention(q, k, v), qkv(2, 2, 2, 37, 150, 12, 40)],
    // 4 query heads per key/value head, causal, values 80 wide (two tiles of 64)
    ['causal, grouped-query, 80 value columns', ({ q, k, v }: QKV) => attention(q, k, v, { causal: true }), qkv(1, 8, 2, 130, 130, 16, 80)],
    // decoding 5 new tokens after 60 cached ones: query i sees keys 0..60 + i
    ['causal with an offset (5 queries after 60 cached keys), 16 value columns', ({ q, k, v }: QKV) => attention(q, k, v, { causal: true, offset: 60 }), qkv(1, 4, 1, 5, 65, 16, 16)],
    // 40 heads x 512 padded rows outgrow a 16384-row texture: two groups of heads
    ['heads in two texture groups, custom scale', ({ q, k, v }: QKV) => attention(q, k, v, { scale: 0.3 }), qkv(1, 40, 40, 500, 70, 8, 8)],
  ] as const) {
    it(name, async () => {
      expect((await labels(f, specs)).some((l) => /flash/.test(l))).toBe(true);
      await checkAgainstReference(f, specs, { rtol: 1e-4, atol: 1e-5 });
    });
  }

  it('one query against many keys (decoding), one key, and a negative causal offset (the expansion: rows with no key give NaN)', async () => {
    await checkAgainstReference(({ q, k, v }: QKV) => attention(q, k, v, { causal: true, offset: 199 }), qkv(1, 2, 1, 1, 200, 8, 8), { rtol: 1e-4, atol: 1e-5 });
    await checkAgainstReference(({ q, k, v }: QKV) => attention(q, k, v), qkv(1, 2, 1, 3, 1, 8, 8), { rtol: 1e-4, atol: 1e-5 });
    const negative = ({ q, k, v }: QKV) => attention(q, k, v, { causal: true, offset: -2 });
    expect((await labels(negative, qkv(1, 2, 1, 6, 6, 8, 8))).some((l) => /flash/.test(l))).toBe(false);
    await checkAgainstReference(negative, qkv(1, 2, 1, 6, 6, 8, 8), { rtol: 1e-4, atol: 1e-5 });
  });

  it('large scores stay finite: the running max rescales earlier blocks', async () => {
    const f = ({ q, k, v }: QKV) => attention(q.mul(30), k, v);
    await checkAgainstReference(f, qkv(1, 1, 1, 40, 200, 8, 8), { rtol: 1e-4, atol: 1e-5 });
  });

  it('the gradient of the fused node is the expansion gradient (finite differences)', async () => {
    const f = ({ q, k, v }: QKV) => new Tensor(apply('flash_attention', [q.node, k.node, v.node], { causal: true, offset: 1, scale: 0.5 }));
    await checkGrads(f, qkv(1, 2, 1, 3, 4, 4, 3), { rtol: 1e-3, atol: 1e-4 });
  });
});

/** dq, dk, dv of sum(attention(q, k, v) * c): the cotangent c is an input, so every output element matters. */
type QKVC = QKV & { c: Tensor };
const gradsOf = (opts: { causal?: boolean; offset?: number; scale?: number }) => ({ q, k, v, c }: QKVC) =>
  grad(({ q: qq, k: kk, v: vv }: QKV) => attention(qq, kk, vv, opts).mul(c).sum())({ q, k, v }) as Record<string, Tensor>;
const withC = (s: ReturnType<typeof qkv>) => ({ ...s, c: spec([s.q.shape[0], s.q.shape[1], s.q.shape[2], s.v.shape[3]]) });

describe('fused attention backward (flash_attention_dq, _dk, _dv)', () => {
  it('a training graph differentiates the fused node: one forward kernel (writing the log-sum-exps too), dq, dk and dv kernels, no T x T tensor (portable plan: matmuls)', async () => {
    const specs = withC(qkv(1, 2, 2, 70, 70, 8, 8));
    const t = trace(gradsOf({ causal: true }), specs);
    const exe = await compileTraced(optimize(t.graph), t.inputs, BACKEND);
    const ls = exe.kernels.map((k) => k.label.split(':')[1]);
    for (const want of ['flash', 'dq', 'dk', 'dv']) expect(ls).toContain(want);
    // the log-sum-exps come from the forward kernel: no second pass over the scores
    expect(ls.filter((l) => l === 'flash').length).toBe(1);
    // each operand packed once per layout (compiler/codegen/shared-textures.ts): k for the forward,
    // dq, dk and dv kernels, q and dO once for the three backward ones; 16 packs without sharing
    expect(ls.filter((l) => l === 'packK').length).toBe(1);
    expect(ls.filter((l) => l === 'packO').length).toBe(1);
    expect(ls.filter((l) => l?.startsWith('pack')).length).toBe(9);
    // nothing holds a 70 x 70 block of scores per head
    expect(exe.plan!.kernels.flatMap((k) => k.bindings).some((b) => (b.kind === 'out' || b.kind === 'in') && (b.bytes ?? 0) >= 2 * 70 * 70 * 4)).toBe(false);
    const portable = (await compileTraced(optimize(t.graph), t.inputs, BACKEND, undefined, true)).kernels.map((k) => k.label);
    expect(portable.some((l) => /:(dq|dk|dv|lse)$/.test(l))).toBe(false);
    await checkAgainstReference(gradsOf({ causal: true }), specs, { rtol: 1e-4, atol: 1e-5, portable: true });
  });

  for (const [name, opts, specs] of [
    // 3 key blocks and 3 query blocks of 64, head_dim 12 (texels past it zero), 40 value columns (slices of 64)
    ['plain, 150 queries x 130 keys, head_dim 12, 40 value columns', {}, qkv(2, 2, 2, 150, 130, 12, 40)],
    // 4 query heads per key/value head, causal, two column slices of dv and one of dk
    ['causal, grouped-query 4:1, 80 value columns', { causal: true }, qkv(1, 8, 2, 100, 100, 16, 80)],
    // 5 queries after 60 cached keys: key tiles before the first visible query block are skipped
    ['causal with an offset (5 queries, 65 keys), custom scale', { causal: true, offset: 60, scale: 0.3 }, qkv(1, 4, 1, 5, 65, 16, 16)],
    // a short query block and keys that end inside one: rows past Tq and Tk are padding
    ['causal, 70 queries and keys, 3 heads of 1:1', { causal: true }, qkv(1, 3, 3, 70, 70, 32, 24)],
    // head_dim 128: two column slices of dq and dk; two batches
    ['causal, head_dim 128, batch 2', { causal: true }, qkv(2, 2, 2, 40, 40, 128, 128)],
    // one query against 200 keys, and more queries than keys
    ['one query after 199 keys', { causal: true, offset: 199 }, qkv(1, 2, 1, 1, 200, 8, 8)],
    ['causal, 100 queries and 30 keys', { causal: true }, qkv(1, 2, 2, 100, 30, 16, 16)],
  ] as const) {
    it(name, async () => {
      const s = withC(specs);
      const t = trace(gradsOf(opts), s);
      const ls = (await compileTraced(optimize(t.graph), t.inputs, BACKEND)).kernels.map((k) => k.label.split(':')[1]);
      for (const want of ['dq', 'dk', 'dv']) expect(ls).toContain(want);
      await checkAgainstReference(gradsOf(opts), s, { rtol: 2e-4, atol: 2e-5 });
    });
  }

  it('key/value heads in two texture groups', async () => {
    // 40 key/value heads x 4 query heads x 128 rows outgrow one texture: two groups
    const s = withC(qkv(1, 160, 40, 100, 40, 8, 8));
    const t = trace(gradsOf({}), s);
    const ls = (await compileTraced(optimize(t.graph), t.inputs, BACKEND)).kernels.map((k) => k.label.split(':')[1]);
    expect(ls.filter((l) => l?.startsWith('dk@')).length).toBe(2);
    await checkAgainstReference(gradsOf({}), s, { rtol: 2e-4, atol: 2e-5 });
  });
});
