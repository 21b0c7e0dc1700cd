/**
 * Fused row kernels for the normalisations over the last axis: softmax, log-softmax, layer norm
 * and RMS norm. One invocation owns a row and makes every pass over it inside one kernel, with
 * no intermediate buffers and no workgroup barriers (each costs a context switch per 8 lanes on
 * llvmpipe). The composites choose these at code generation; their gradients still come from
 * the expansions, and the reference here is independent of them.
 */
import type { Attrs, DType, Node } from '../ir';
import { isFloat, numel } from '../ir';
import { apply, definePrimitive, shapeError } from '../primitive';
import { coerce } from '../dtype';

export type RowKind = 'softmax' | 'log_softmax' | 'layer_norm' | 'rms_norm';

function refRows(kind: RowKind, x: Float64Array, C: number, eps: number, w?: Float64Array, b?: Float64Array, out?: DType): Float64Array {
  const r = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += C) {
    const row = x.subarray(base, base + C);
    if (kind === 'softmax' || kind === 'log_softmax') {
      const m = row.reduce((a, v) => Math.max(a, v), -Infinity);
      const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
      for (let c = 0; c < C; c++) r[base + c] = kind === 'softmax' ? Math.exp(row[c] - m) / s : row[c] - m - Math.log(s);
    } else {
      const mean = kind === 'layer_norm' ? row.reduce((a, v) => a + v, 0) / C : 0;
      const v = row.reduce((a, x0) => a + (x0 - mean) ** 2, 0) / C;
      const inv = 1 / Math.sqrt(v + eps);
      for (let c = 0; c < C; c++) r[base + c] = (row[c] - mean) * inv * (w ? w[c] : 1) + (b ? b[c] : 0);
    }
  }
  return out ? r.map((v) => coerce(v, out)) : r;
}

definePrimitive({
  name: 'row_op',
  infer: ([x, ...affine], attrs) => {
    if (!isFloat(x.dtype) || x.shape.length === 0) shapeError('row_op', 'needs a float tensor of rank >= 1', x);
    const C = x.shape[x.shape.length - 1];
    for (const p of affine) if (p.shape.length !== 1 || p.shape[0] !== C || p.dtype !== x.dtype) shapeError('row_op', `affine parameters must be ${x.dtype}[${C}]`, x, p);
    void attrs;
    return x;
  },
  reference: ([x, w, b], attrs, out) => {
    const C = x.type.shape[x.type.shape.length - 1];
    const hasW = !!attrs.hasWeight;
    return refRows(attrs.kind as RowKind, x.data, C, attrs.eps as number, hasW ? w?.data : undefined, hasW ? b?.data : w?.data, out.dtype);
  },
  emission: {
    kind: 'kernel',
    emit: (k, attrs) => {
      const kind = attrs.kind as RowKind;
      const C = k.out.shape[k.out.shape.length - 1];
      const rows = C === 0 ? 0 : numel(k.out.shape) / C;
      const hasW = !!attrs.hasWeight;
      const nAffine = k.inputs.length - 1;
      const wAt = (c: string) => (hasW ? `ld_in1(${c})` : '1.0');
      const bAt = (c: string) => (nAffine === 2 ? `ld_in2(${c})` : nAffine === 1 && !hasW ? `ld_in1(${c})` : '0.0');
      const eps = `f32(${attrs.eps as number})`;
      let body: string;
      if (kind === 'softmax' || kind === 'log_softmax') {
        body = `
  var m = -inf_f32();
  for (var c = 0; c < ${C}; c++) { m = max(m, ld_in0(base + c)); }
  var s = 0.0;
  for (var c = 0; c < ${C}; c++) { s += exp(ld_in0(base + c) - m); }
  ${kind === 'softmax' ? 'let inv = 1.0 / s;' : 'let ls = m + log(s);'}
  for (var c = 0; c < ${C}; c++) { st_out(base + c, ${kind === 'softmax' ? 'exp(ld_in0(base + c) - m) * inv' : 'ld_in0(base + c) - ls'}); }`;
      } else {
        body = `
  var mean = 0.0;
  ${kind === 'layer_norm' ? `for (var c = 0; c < ${C}; c++) { mean += ld_in0(base + c); }\n  mean = mean / ${C}.0;` : ''}
  var v = 0.0;
  for (var c = 0; c < ${C}; c++) { let d = ld_in0(base + c) - mean; v += d * d; }
  let inv = inverseSqrt(v / ${C}.0 + ${eps});
  for (var c = 0; c < ${C}; c++) { st_out(base + c, (ld_in0(base + c) - mean) * inv * ${wAt('c')} + ${bAt('c')}); }`;
      }
      return { code: `  let base = tid * ${C};${body}`, workgroupSize: 64, invocations: rows };
    },
  },
});

/** The fused node for a normalisation of x over its last axis (affine parameters optional). */
export function rowOp(kind: RowKind, x: Node, attrs: Attrs & { eps?: number; hasWeight?: boolean }, affine: readonly Node[] = []): Node {
  return apply('row_op', [x, ...affine], { kind, eps: attrs.eps ?? 0, hasWeight: !!attrs.hasWeight });
}
