/** Image resampling on [..., H, W] tensors, with PyTorch's F.interpolate semantics. */
import type { Tensor } from './tensor';
import { constant } from './tensor';

/** Source taps of one axis for bilinear resampling: (index0, index1, weight of index1). */
export function bilinearTaps(inSize: number, outSize: number, alignCorners = false): { i0: number[]; i1: number[]; w: number[] } {
  const i0: number[] = [];
  const i1: number[] = [];
  const w: number[] = [];
  for (let o = 0; o < outSize; o++) {
    let src: number;
    if (alignCorners) src = outSize > 1 ? (o * (inSize - 1)) / (outSize - 1) : 0;
    // half-pixel centres; PyTorch clamps negative source coordinates to 0
    else src = Math.max(0, (o + 0.5) * (inSize / outSize) - 0.5);
    const a = Math.min(Math.floor(src), inSize - 1);
    const b = Math.min(a + 1, inSize - 1);
    i0.push(a);
    i1.push(b);
    w.push(src - a);
  }
  return { i0, i1, w };
}

function resampleAxis(x: Tensor, axis: number, outSize: number, alignCorners: boolean): Tensor {
  const n = x.shape[axis];
  if (n === outSize && !alignCorners) return x;
  const { i0, i1, w } = bilinearTaps(n, outSize, alignCorners);
  const shape = x.shape.map((_, d) => (d === axis ? outSize : 1));
  const a = x.take(constant(i0, [outSize], 'i32'), axis);
  const b = x.take(constant(i1, [outSize], 'i32'), axis);
  const wt = constant(w, shape, x.dtype);
  return a.add(b.sub(a).mul(wt));
}

/** F.interpolate(x, size=(outH, outW), mode='bilinear', align_corners) on the last two axes. */
export function interpolateBilinear(x: Tensor, outH: number, outW: number, alignCorners = false): Tensor {
  const r = x.rank;
  return resampleAxis(resampleAxis(x, r - 2, outH, alignCorners), r - 1, outW, alignCorners);
}
