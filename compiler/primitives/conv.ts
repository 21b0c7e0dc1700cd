/**
 * N-d convolution (cross-correlation, as in PyTorch): x [B, Cin, *S], w [Cout, Cin/groups, *K]
 * -> [B, Cout, *O] with per-axis stride, dilation and padding (lo, hi), and channel groups.
 */
import type { Attrs } from '../ir';
import { isFloat, numel, stridesOf } from '../ir';
import { definePrimitive, shapeError } from '../primitive';
import { coerce } from '../dtype';
import { apply } from '../primitive';
import { wrap } from '../../dsl/tensor';
import type { Tensor } from '../../dsl/tensor';

interface ConvParams {
  stride: number[];
  dilation: number[];
  padLo: number[];
  padHi: number[];
  groups: number;
}
const params = (a: Attrs): ConvParams => ({
  stride: a.stride as number[],
  dilation: a.dilation as number[],
  padLo: a.padLo as number[],
  padHi: a.padHi as number[],
  groups: a.groups as number,
});

/**
 * Visits every (input element, weight element, output element) triple a convolution
 * multiplies together; the forward pass and both backward passes are sums over these taps.
 */
function forEachTap(xShape: readonly number[], wShape: readonly number[], outShape: readonly number[], p: ConvParams, fn: (xi: number, wi: number, oi: number) => void) {
  const nd = outShape.length - 2;
  const [B, Cout] = outShape;
  const S = xShape.slice(2);
  const Kd = wShape.slice(2);
  const O = outShape.slice(2);
  const cinG = wShape[1];
  const coutG = Cout / p.groups;
  const xs = stridesOf(xShape);
  const ws = stridesOf(wShape);
  const os = stridesOf(O);
  const ks = stridesOf(Kd);
  const nO = numel(O);
  const nK = numel(Kd);
  for (let b = 0; b < B; b++)
    for (let co = 0; co < Cout; co++) {
      const g = Math.floor(co / coutG);
      for (let o = 0; o < nO; o++) {
        const oi = (b * Cout + co) * nO + o;
        for (let ci = 0; ci < cinG; ci++)
          for (let kk = 0; kk < nK; kk++) {
            let xo = b * xs[0] + (g * cinG + ci) * xs[1];
            let inside = true;
            for (let d = 0; d < nd; d++) {
              const od = Math.floor(o / os[d]) % O[d];
              const kd = Math.floor(kk / ks[d]) % Kd[d];
              const pos = od * p.stride[d] + kd * p.dilation[d] - p.padLo[d];
              if (pos < 0 || pos >= S[d]) inside = false;
              xo += pos * xs[2 + d];
            }
            if (inside) fn(xo, co * ws[0] + ci * ws[1] + kk, oi);
          }
      }
    }
}

export function convOutSize(n: number, k: number, s: number, d: number, lo: number, hi: number): number {
  return Math.floor((n + lo + hi - d * (k - 1) - 1) / s) + 1;
}

definePrimitive({
  name: 'conv',
  infer: ([x, w], attrs) => {
    const p = params(attrs);
    const nd = x.shape.length - 2;
    if (nd < 1 || w.shape.length !== x.shape.length) shapeError('conv', 'input [B, C, ...spatial] and weight [Cout, Cin/groups, ...kernel] need the same rank >= 3', x, w);
    if (!isFloat(x.dtype) || x.dtype !== w.dtype) shapeError('conv', 'operands need the same float dtype', x, w);
    for (const k of ['stride', 'dilation', 'padLo', 'padHi'] as const) if (p[k].length !== nd) shapeError('conv', `${k} needs ${nd} values, got [${p[k]}]`);
    const [cin, cout] = [x.shape[1], w.shape[0]];
    if (!(p.groups >= 1) || cin % p.groups !== 0 || cout % p.groups !== 0) shapeError('conv', `groups ${p.groups} must divide in (${cin}) and out (${cout}) channels`, x, w);
    if (w.shape[1] !== cin / p.groups) shapeError('conv', `weight has ${w.shape[1]} input channels per group, input gives ${cin / p.groups}`, x, w);
    const out = x.shape.slice(2).map((n, i) => convOutSize(n, w.shape[2 + i], p.stride[i], p.dilation[i], p.padLo[i], p.padHi[i]));
    if (out.some((o) => o < 0)) shapeError('conv', `kernel larger than padded input`, x, w);
    return { shape: [x.shape[0], cout, ...out], dtype: x.dtype };
  },
  reference: ([x, w], attrs, out) => {
    const r = new Float64Array(numel(out.shape));
    forEachTap(x.type.shape, w.type.shape, out.shape, params(attrs), (xi, wi, oi) => (r[oi] += x.data[xi] * w.data[wi]));
    return r.map((v) => coerce(v, out.dtype));
  },
  emission: {
    kind: 'kernel',
    emit: (k, attrs) => {
      const p = params(attrs);
      const [x, w] = k.inputs;
      const nd = x.shape.length - 2;
      const Cout = k.out.shape[1];
      const S = x.shape.slice(2);
      const Kd = w.shape.slice(2);
      const O = k.out.shape.slice(2);
      const cinG = w.shape[1];
      const coutG = Cout / p.groups;
      const xs = stridesOf(x.shape);
      const os = stridesOf(k.out.shape);
      const ws = stridesOf(w.shape);
      const spatial = Array.from({ length: nd }, (_, d) => d);
      // one invocation per output element; loops over input channels of its group and the kernel window
      const code = `
  let b = tid / ${os[0]};
  let co = (tid / ${os[1]}) % ${Cout};
  ${spatial.map((d) => `let o${d} = (tid / ${os[2 + d]}) % ${O[d]};`).join('\n  ')}
  let g = co / ${coutG};
  var s = 0.0;
  for (var ci = 0; ci < ${cinG}; ci++) {
    let xc = b * ${xs[0]} + (g * ${cinG} + ci) * ${xs[1]};
    let wc = co * ${ws[0]} + ci * ${ws[1]};
    ${spatial.map((d) => `for (var k${d} = 0; k${d} < ${Kd[d]}; k${d}++) {\n    let p${d} = o${d} * ${p.stride[d]} + k${d} * ${p.dilation[d]} - ${p.padLo[d]};\n    if (p${d} < 0 || p${d} >= ${S[d]}) { continue; }`).join('\n    ')}
    s += ld_in0(xc ${spatial.map((d) => `+ p${d} * ${xs[2 + d]}`).join(' ')}) * ld_in1(wc ${spatial.map((d) => `+ k${d} * ${ws[2 + d]}`).join(' ')});
    ${spatial.map(() => '}').join(' ')}
  }
  st_out(tid, s);`;
      return { code, workgroupSize: 64, invocations: numel(k.out.shape) };
    },
  },
  vjp: (ct, [x, w], _o, attrs) => [bwd('conv_bwd_input', ct, w, { ...attrs, shape: x.shape }), bwd('conv_bwd_weight', x, ct, { ...attrs, shape: w.shape })],
});

const bwd = (op: string, a: Tensor, b: Tensor, attrs: Attrs): Tensor => wrap(apply(op, [a.node, b.node], attrs));
const fwd = (x: Tensor, w: Tensor, attrs: Attrs): Tensor => {
  const { shape: _s, ...conv } = attrs;
  void _s;
  return wrap(apply('conv', [x.node, w.node], conv));
};

/** Gradient of a convolution with respect to its input: (ct [B, Cout, ...O], w) -> [B, Cin, ...S]. */
definePrimitive({
  name: 'conv_bwd_input',
  infer: ([ct, w], attrs) => ({ shape: attrs.shape as number[], dtype: ct.dtype }),
  reference: ([ct, w], attrs, out) => {
    const r = new Float64Array(numel(out.shape));
    forEachTap(out.shape, w.type.shape, ct.type.shape, params(attrs), (xi, wi, oi) => (r[xi] += ct.data[oi] * w.data[wi]));
    return r.map((v) => coerce(v, out.dtype));
  },
  emission: {
    kind: 'kernel',
    emit: (k, attrs) => {
      const p = params(attrs);
      const [ct, w] = k.inputs;
      const xShape = k.out.shape;
      const nd = xShape.length - 2;
      const S = xShape.slice(2);
      const Kd = w.shape.slice(2);
      const O = ct.shape.slice(2);
      const Cout = ct.shape[1];
      const cinG = w.shape[1];
      const coutG = Cout / p.groups;
      const xs = stridesOf(xShape);
      const cs = stridesOf(ct.shape);
      const ws = stridesOf(w.shape);
      const sp = Array.from({ length: nd }, (_, d) => d);
      // each input position gathers the output taps that read it: o = (s + pad - k*dil) / stride
      const code = `
  let b = tid / ${xs[0]};
  let ci = (tid / ${xs[1]}) % ${xShape[1]};
  ${sp.map((d) => `let s${d} = (tid / ${xs[2 + d]}) % ${S[d]};`).join('\n  ')}
  let g = ci / ${cinG};
  let cl = ci % ${cinG};
  var acc = 0.0;
  for (var j = 0; j < ${coutG}; j++) {
    let co = g * ${coutG} + j;
    ${sp.map((d) => `for (var k${d} = 0; k${d} < ${Kd[d]}; k${d}++) {\n    let n${d} = s${d} + ${p.padLo[d]} - k${d} * ${p.dilation[d]};
    if (n${d} < 0 || n${d} % ${p.stride[d]} != 0 || n${d} / ${p.stride[d]} >= ${O[d]}) { continue; }`).join('\n    ')}
    acc += ld_in0(b * ${cs[0]} + co * ${cs[1]} ${sp.map((d) => `+ (n${d} / ${p.stride[d]}) * ${cs[2 + d]}`).join(' ')}) * ld_in1(co * ${ws[0]} + cl * ${ws[1]} ${sp.map((d) => `+ k${d} * ${ws[2 + d]}`).join(' ')});
    ${sp.map(() => '}').join(' ')}
  }
  st_out(tid, acc);`;
      return { code, workgroupSize: 64, invocations: numel(xShape) };
    },
  },
  vjp: (g, [ct, w], _o, attrs) => [fwd(g, w, attrs), bwd('conv_bwd_weight', g, ct, { ...attrs, shape: w.shape })],
});

/** Gradient of a convolution with respect to its weight: (x, ct [B, Cout, ...O]) -> [Cout, Cin/groups, ...K]. */
definePrimitive({
  name: 'conv_bwd_weight',
  infer: ([x], attrs) => ({ shape: attrs.shape as number[], dtype: x.dtype }),
  reference: ([x, ct], attrs, out) => {
    const r = new Float64Array(numel(out.shape));
    forEachTap(x.type.shape, out.shape, ct.type.shape, params(attrs), (xi, wi, oi) => (r[wi] += ct.data[oi] * x.data[xi]));
    return r.map((v) => coerce(v, out.dtype));
  },
  emission: {
    kind: 'kernel',
    emit: (k, attrs) => {
      const p = params(attrs);
      const [x, ct] = k.inputs;
      const wShape = k.out.shape;
      const nd = wShape.length - 2;
      const S = x.shape.slice(2);
      const Kd = wShape.slice(2);
      const O = ct.shape.slice(2);
      const [B, Cout] = ct.shape;
      const cinG = wShape[1];
      const coutG = Cout / p.groups;
      const xs = stridesOf(x.shape);
      const cs = stridesOf(ct.shape);
      const ws = stridesOf(wShape);
      const sp = Array.from({ length: nd }, (_, d) => d);
      const code = `
  let co = tid / ${ws[0]};
  let cl = (tid / ${ws[1]}) % ${cinG};
  ${sp.map((d) => `let k${d} = (tid / ${ws[2 + d]}) % ${Kd[d]};`).join('\n  ')}
  let ci = (co / ${coutG}) * ${cinG} + cl;
  var acc = 0.0;
  for (var b = 0; b < ${B}; b++) {
    ${sp.map((d) => `for (var o${d} = 0; o${d} < ${O[d]}; o${d}++) {\n    let p${d} = o${d} * ${p.stride[d]} + k${d} * ${p.dilation[d]} - ${p.padLo[d]};
    if (p${d} < 0 || p${d} >= ${S[d]}) { continue; }`).join('\n    ')}
    acc += ld_in1(b * ${cs[0]} + co * ${cs[1]} ${sp.map((d) => `+ o${d} * ${cs[2 + d]}`).join(' ')}) * ld_in0(b * ${xs[0]} + ci * ${xs[1]} ${sp.map((d) => `+ p${d} * ${xs[2 + d]}`).join(' ')});
    ${sp.map(() => '}').join(' ')}
  }
  st_out(tid, acc);`;
      return { code, workgroupSize: 64, invocations: numel(wShape) };
    },
  },
  vjp: (g, [x, ct], _o, attrs) => [bwd('conv_bwd_input', ct, g, { ...attrs, shape: x.shape }), fwd(x, g, attrs)],
});
