/** Batched matrix multiply: [..., M, K] x [..., K, N] -> [..., M, N], either operand transposed. */
import { fmtShape, isFloat, numel } from '../ir';
import { chooseVariant, definePrimitive, shapeError } from '../primitive';
import type { Attrs } from '../ir';
import type { KernelCtx, TuneSpace } from '../primitive';
import { coerce } from '../dtype';
import { aLoadsFor, alignedRowsA, alignedRowsB, bReadable, kernelLanes, textureMatmulFits, textureMatmulKernels } from '../../kernels/matmul-texture';
import type { Lanes } from '../../kernels/matmul-texture';
import { tiledMatmulKernel } from '../../kernels/matmul-tiled';
import { apply } from '../primitive';
import { wrap } from '../../dsl/tensor';
import type { Tensor } from '../../dsl/tensor';

const TEXTURE_MIN_MACS = 1 << 20;
/** products with at most this many rows stay on the portable kernel by default (measured at
 * 1..8 x 1280 x 1280 on llvmpipe: 2.5-3.5 ms against 6-7.7 ms for either texture tiling, which
 * packs all of B for a few rows) */
const SKINNY_ROWS = 8;
/** products at most this wide read A from its buffer by default when A's rows are not K-contiguous and aligned */
const NARROW = 128;
/** products at most this tall read B^T from its buffer by default when B^T's rows are not K-contiguous and aligned */
const SHORT = 128;
/** the 128-row tile is offered from this many rows on */
const TALL_MIN_ROWS = 512;
/** workgroups per grid dimension every adapter allows */
const MAX_GRID = 65535;
const mm = (a: Tensor, b: Tensor, ta: boolean, tb: boolean): Tensor => wrap(apply('matmul', [a.node, b.node], { ta, tb }));

/** Rows/cols of an operand as stored: with `t` the last two axes are swapped. */
const dims = (shape: readonly number[], t: boolean) => {
  const r = shape.length;
  return t ? [shape[r - 1], shape[r - 2]] : [shape[r - 2], shape[r - 1]];
};

const shapeOf = (k: KernelCtx, attrs: Attrs) => {
  const [ta, tb] = [!!attrs.ta, !!attrs.tb];
  const [m, kk] = dims(k.inputs[0].shape, ta);
  return { batches: numel(k.out.shape.slice(0, -2)), m, n: dims(k.inputs[1].shape, tb)[1], k: kk, ta, tb };
};

/**
 * The matmul kernels this adapter can run for a product: the texture kernel (adapters with 8- or
 * 16-lane subgroups: llvmpipe at 256- or 512-bit vectors) with tiles of 4 texels of A per lane
 * (32 or 64 rows), 8 (128 rows, 16 lanes only) or 1 (skinny products), or the 4-texel tile with
 * A or B^T read from its buffer; on CPU rasterisers, where it is ~5x faster, the fallback for
 * products big enough to pay for packing), the workgroup-memory tiled kernel (GPUs: the fallback
 * for big products there; not offered to CPU rasterisers, where its barriers make it the slowest
 * of all) and the portable buffer kernel (any adapter). The autotuner may measure the others.
 * Variant names say the tile's rows: texture32 is 4 texels per lane of 8.
 */
function matmulSpace(k: KernelCtx, attrs: Attrs): TuneSpace | undefined {
  const s = shapeOf(k, attrs);
  if (s.m === 0 || s.n === 0 || s.k === 0) return undefined;
  const lanes = kernelLanes(k);
  const fits = (rows: number) => lanes !== undefined && textureMatmulFits(s, k.device.maxTextureDimension2D, { rows, lanes });
  const wide = lanes ? 4 * lanes : 0;
  const fitsWide = fits(wide);
  const bufA = fitsWide && aLoadsFor(s, k.inputs[0].dtype).length > 1;
  const bufB = fitsWide && bReadable(s, k.inputs[1].dtype);
  // 128-row tiles: 8 texels of A per lane of 16, for products of several such tiles (autotuner,
  // the whole product: 1024^2 32.7 vs 34.8 ms, 1500x1280x1280 67 vs 85, 512^2 4.1 vs 4.7)
  const tall = lanes === 16 && s.m >= TALL_MIN_ROWS && fits(8 * lanes);
  const candidates = [
    ...(fitsWide ? [`texture${wide}`] : []),
    ...(tall ? [`texture${8 * lanes}`] : []),
    ...(bufA ? [`texture${wide}-bufA`] : []),
    ...(bufB ? [`texture${wide}-bufB`] : []),
    ...(lanes && fits(lanes) ? [`texture${lanes}`] : []),
    ...(!k.device.cpuLike && s.batches <= MAX_GRID ? ['tiled'] : []),
    'portable',
  ];
  const big = s.batches * s.m * s.n * s.k >= TEXTURE_MIN_MACS;
  // A read from its buffer when its rows are not K-contiguous and aligned and the product is
  // narrow (measured when aligned rows were copied into the texture, not packed; the pack costs
  // more than the buffer loads: attention's P V at 10 x 1500 x 64 x 1500 100 -> 65 ms, 16 x 724
  // x 32 x 362 22 -> 14 ms; at N >= 384 the texture kept its lead, 38 -> 45 ms);
  // likewise B^T when the product is short (autotuner, x W^T at 64 x 512 x 784: 2.2-2.6 against
  // 3.0-3.2 ms, at 128 rows 4.0 against 4.4; at 256 and 512 rows packing won, 6.5 / 7.2, 10.6 / 13.3)
  const bufAFirst = bufA && s.n <= NARROW && !alignedRowsA(s, k.inputs[0].dtype);
  const bufBFirst = bufB && s.m <= SHORT && !alignedRowsB(s, k.inputs[1].dtype);
  const preferred = !big || s.m <= SKINNY_ROWS ? 'portable' : !k.device.cpuLike ? 'tiled' : bufAFirst ? `texture${wide}-bufA` : bufBFirst ? `texture${wide}-bufB` : tall ? `texture${8 * lanes!}` : `texture${wide}`;
  const fallback = candidates.includes(preferred) ? preferred : 'portable';
  const dt = [...k.inputs.map((t) => t.dtype), k.out.dtype].join(',');
  return { key: `matmul ${s.batches}x${s.m}x${s.n}x${s.k}${s.ta ? ' ta' : ''}${s.tb ? ' tb' : ''} ${dt}`, candidates, fallback };
}

/** A texture variant's name read back: its tile's rows and where A and B^T come from. */
const textureVariant = (v: string) => {
  const m = /^texture(\d+)(-bufA|-bufB)?$/.exec(v);
  return m ? { rows: Number(m[1]), bufA: m[2] === '-bufA', bufB: m[2] === '-bufB' } : undefined;
};

definePrimitive({
  name: 'matmul',
  infer: ([a, b], attrs) => {
    const [ta, tb] = [!!attrs.ta, !!attrs.tb];
    if (a.shape.length < 2 || b.shape.length !== a.shape.length) shapeError('matmul', 'operands need the same rank >= 2 (the DSL broadcasts batch dims)', a, b);
    if (a.dtype !== b.dtype || !isFloat(a.dtype)) shapeError('matmul', 'operands need the same float dtype', a, b);
    const [m, k] = dims(a.shape, ta);
    const [k2, n] = dims(b.shape, tb);
    if (k !== k2) shapeError('matmul', `inner dimensions differ: ${k} vs ${k2}`, a, b);
    const batch = a.shape.slice(0, -2);
    if (fmtShape(batch) !== fmtShape(b.shape.slice(0, -2))) shapeError('matmul', 'batch dimensions differ', a, b);
    return { shape: [...batch, m, n], dtype: a.dtype };
  },
  reference: ([a, b], attrs, out) => {
    const [ta, tb] = [!!attrs.ta, !!attrs.tb];
    const [m, k] = dims(a.type.shape, ta);
    const n = dims(b.type.shape, tb)[1];
    const batches = numel(out.shape.slice(0, -2));
    const r = new Float64Array(batches * m * n);
    for (let bi = 0; bi < batches; bi++) {
      const ao = bi * m * k;
      const bo = bi * k * n;
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += a.data[ao + (ta ? p * m + i : i * k + p)] * b.data[bo + (tb ? j * k + p : p * n + j)];
          r[bi * m * n + i * n + j] = coerce(s, out.dtype);
        }
    }
    return r;
  },
  emission: {
    kind: 'kernel',
    epilogue: true,
    tuning: matmulSpace,
    emit: (k, attrs) => {
      const [ta, tb] = [!!attrs.ta, !!attrs.tb];
      const [M, K] = dims(k.inputs[0].shape, ta);
      const N = dims(k.inputs[1].shape, tb)[1];
      const batches = numel(k.out.shape.slice(0, -2));
      const space = matmulSpace(k, attrs);
      const variant = space ? chooseVariant(k.device, space) : 'portable';
      if (variant === 'tiled') return [tiledMatmulKernel(shapeOf(k, attrs), k.inputs[0].dtype, k.inputs[1].dtype, k.out.dtype)];
      const tv = textureVariant(variant);
      if (tv) {
        const s = shapeOf(k, attrs);
        // A straight from its buffer: with vec4 loads when its rows allow
        const aLoad = tv.bufA ? (aLoadsFor(s, k.inputs[0].dtype).includes('vec4') ? 'vec4' : 'scalar') : 'texture';
        const lanes = kernelLanes(k) as Lanes;
        const o = { tile: { rows: tv.rows, lanes }, maxScratchBytes: k.device.maxStorageBufferBindingSize, maxDim: k.device.maxTextureDimension2D, aLoad, bFromBuffer: tv.bufB } as const;
        return textureMatmulKernels(s, k.inputs[0].dtype, k.inputs[1].dtype, k.out.dtype, o);
      }
      // each invocation owns a 4x4 block of C; rows/cols past the edge read a clamped
      // (valid) address and are simply not stored, so the inner loop has no branches
      const bm = Math.ceil(M / 4);
      const bn = Math.ceil(N / 4);
      const aAt = (i: string, p: string) => (ta ? `ld_in0(ao + ${p} * ${M} + ${i})` : `ld_in0(ao + ${i} * ${K} + ${p})`);
      const bAt = (p: string, j: string) => (tb ? `ld_in1(bo + ${j} * ${K} + ${p})` : `ld_in1(bo + ${p} * ${N} + ${j})`);
      const rows = [0, 1, 2, 3];
      const code = `
  let per = ${bm * bn};
  let bat = tid / per;
  let rem = tid % per;
  let m0 = (rem / ${bn}) * 4;
  let n0 = (rem % ${bn}) * 4;
  let ao = bat * ${M * K};
  let bo = bat * ${K * N};
  ${rows.map((r) => `let r${r} = min(m0 + ${r}, ${M - 1});`).join(' ')}
  ${rows.map((c) => `let c${c} = min(n0 + ${c}, ${N - 1});`).join(' ')}
  ${rows.map((r) => `var acc${r} = vec4<f32>(0.0);`).join(' ')}
  for (var p = 0; p < ${K}; p++) {
    let bv = vec4<f32>(${rows.map((c) => bAt('p', `c${c}`)).join(', ')});
    ${rows.map((r) => `acc${r} += ${aAt(`r${r}`, 'p')} * bv;`).join('\n    ')}
  }
  let oo = bat * ${M * N};
  ${rows
    .map((r) => `if (m0 + ${r} < ${M}) { ${rows.map((c) => `if (n0 + ${c} < ${N}) { st_out(oo + (m0 + ${r}) * ${N} + n0 + ${c}, acc${r}[${c}]); }`).join(' ')} }`)
    .join('\n  ')}`;
      return { code, workgroupSize: 64, invocations: M === 0 || N === 0 ? 0 : batches * bm * bn };
    },
  },
  // C = op(A) op(B): each gradient is one more matmul with the transposes folded into flags
  vjp: (ct, [a, b], _o, attrs) => {
    const [ta, tb] = [!!attrs.ta, !!attrs.tb];
    const da = ta ? mm(b, ct, tb, true) : mm(ct, b, false, !tb);
    const db = tb ? mm(ct, a, true, ta) : mm(a, ct, !ta, false);
    return [da, db];
  },
});
