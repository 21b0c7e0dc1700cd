/**
 * conv_windows: an ungrouped 1-D or 2-D convolution as one product over its input windows, on
 * operands the caller laid out (dsl/ops.ts): the zero-padded input channels last
 * [B, hp * wp, c] and the weights tap-major [n, kh * kw * c], with c a multiple of 4
 * -> [B, oh * ow, n]. On CPU rasterisers the windows are read in place by the texture matmul
 * (kernels/conv-texture.ts: an implicit GEMM); elsewhere, and for products too small to pay
 * for packing, it is its expansion: the windows gathered by strided slices (im2col), then a
 * matmul. Its value and gradient are the expansion's. It lives with the composites rather than
 * the primitive families because its gradient rule needs autodiff, which the primitive table
 * (imported by autodiff's own imports) must not import.
 */
import type { Attrs, Node } from '../ir';
import { isFloat } from '../ir';
import { apply, definePrimitive, shapeError } from '../primitive';
import type { KernelCtx } from '../primitive';
import { referenceByExpansion } from '../composite';
import { vjpOfExpansion } from '../autodiff';
import { Tensor, concat, wrap } from '../../dsl/tensor';
import { convTextureFits, convTextureKernels } from '../../kernels/conv-texture';
import { kernelLanes } from '../../kernels/matmul-texture';
import type { Lanes } from '../../kernels/matmul-texture';
import type { ConvWindow } from '../../kernels/conv-texture';

/** below this many multiply-adds the packing costs more than the product saves (as matmul's) */
const TEXTURE_MIN_MACS = 1 << 20;

const windowOf = (x: readonly number[], w: readonly number[], a: Attrs): ConvWindow => ({
  batches: x[0],
  hp: a.hp as number,
  wp: a.wp as number,
  c: x[2],
  oh: a.oh as number,
  ow: a.ow as number,
  kh: a.kh as number,
  kw: a.kw as number,
  sh: a.sh as number,
  sw: a.sw as number,
  dh: a.dh as number,
  dw: a.dw as number,
  n: w[0],
});

/** The windows as rows [B, oh * ow, taps * c] (strided slices, one per tap), times W^T. */
function expand([x, w]: readonly Tensor[], a: Attrs): Tensor {
  const s = windowOf(x.shape, w.shape, a);
  const grid = x.reshape([s.batches, s.hp, s.wp, s.c]);
  const taps: Tensor[] = [];
  for (let i = 0; i < s.kh; i++)
    for (let j = 0; j < s.kw; j++) {
      const [r0, c0] = [i * s.dh, j * s.dw];
      taps.push(grid.slice([null, [r0, r0 + (s.oh - 1) * s.sh + 1, s.sh], [c0, c0 + (s.ow - 1) * s.sw + 1, s.sw], null]));
    }
  const rows = (taps.length === 1 ? taps[0] : concat(taps, 3)).reshape([s.batches * s.oh * s.ow, s.kh * s.kw * s.c]);
  return rows.matmul(w.transpose()).reshape([s.batches, s.oh * s.ow, s.n]);
}
const expandNodes = (inputs: readonly Node[], a: Attrs) => expand(inputs.map((n) => new Tensor(n)), a).node;

function textureRuns(k: KernelCtx, a: Attrs): boolean {
  const [x, w] = k.inputs;
  const s = windowOf(x.shape, w.shape, a);
  const macs = s.batches * s.oh * s.ow * s.n * w.shape[1];
  const lanes = kernelLanes(k);
  return (
    k.device.cpuLike &&
    lanes !== undefined &&
    [x.dtype, w.dtype, k.out.dtype].every((d) => d === 'f32') &&
    macs >= TEXTURE_MIN_MACS &&
    convTextureFits(s, k.device.maxTextureDimension2D, lanes)
  );
}

definePrimitive({
  name: 'conv_windows',
  infer: ([x, w], a) => {
    const s = windowOf(x.shape, w.shape, a);
    if (x.shape.length !== 3 || w.shape.length !== 2) shapeError('conv_windows', 'input [B, positions, channels] and weights [out channels, taps * channels] needed', x, w);
    if (!isFloat(x.dtype) || x.dtype !== w.dtype) shapeError('conv_windows', 'operands need the same float dtype', x, w);
    if (x.shape[1] !== s.hp * s.wp) shapeError('conv_windows', `input has ${x.shape[1]} positions, the padded grid ${s.hp} x ${s.wp}`, x);
    if (s.c % 4 !== 0 || w.shape[1] !== s.kh * s.kw * s.c) shapeError('conv_windows', `weights need ${s.kh} x ${s.kw} taps of ${s.c} channels (a multiple of 4)`, x, w);
    if ((s.oh - 1) * s.sh + (s.kh - 1) * s.dh >= s.hp || (s.ow - 1) * s.sw + (s.kw - 1) * s.dw >= s.wp) shapeError('conv_windows', 'the windows reach past the padded input', x, w);
    return { shape: [s.batches, s.oh * s.ow, s.n], dtype: x.dtype };
  },
  reference: referenceByExpansion(expandNodes),
  emission: {
    kind: 'kernel',
    epilogue: true,
    emit: (k, a) => {
      if (!textureRuns(k, a)) throw new Error('conv_windows on an adapter (or a size) the texture path does not take: the plan expands it first');
      return convTextureKernels(windowOf(k.inputs[0].shape, k.inputs[1].shape, a), k.out.dtype, kernelLanes(k) as Lanes, k.device.maxStorageBufferBindingSize ?? 1 << 27, k.device.maxTextureDimension2D);
    },
    fallback: { applies: (k, a) => !textureRuns(k, a), expand: expandNodes },
  },
  vjp: vjpOfExpansion(expand),
});

/** The product over a convolution's windows: xcl [B, hp * wp, c], wm [n, kh * kw * c] -> [B, oh * ow, n]. */
export const convWindows = (xcl: Tensor, wm: Tensor, attrs: Attrs): Tensor => wrap(apply('conv_windows', [xcl.node, wm.node], attrs));
