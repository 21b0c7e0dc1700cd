/**
 * N-d convolution (cross-correlation, as in PyTorch): x [B, Cin, *S], w [Cout, Cin/groups, *K]
 * -> [B, Cout, *O] with per-axis stride, dilation and padding (lo, hi), and channel groups.
 */
import type { Attrs } from '../ir';
import { isFloat, numel, stridesOf } from '../ir';
import { definePrimitive, shapeError } from '../primitive';
import { coerce } from '../dtype';

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
    const p = params(attrs);
    const nd = out.shape.length - 2;
    const [B, Cout] = out.shape;
    const S = x.type.shape.slice(2);
    const Kd = w.type.shape.slice(2);
    const O = out.shape.slice(2);
    const cinG = w.type.shape[1];
    const coutG = Cout / p.groups;
    const xs = stridesOf(x.type.shape);
    const ws = stridesOf(w.type.shape);
    const os = stridesOf(O);
    const ks = stridesOf(Kd);
    const nO = numel(O);
    const nK = numel(Kd);
    const r = new Float64Array(numel(out.shape));
    for (let b = 0; b < B; b++)
      for (let co = 0; co < Cout; co++) {
        const g = Math.floor(co / coutG);
        for (let o = 0; o < nO; o++) {
          let s = 0;
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
              if (inside) s += x.data[xo] * w.data[co * ws[0] + ci * ws[1] + kk];
            }
          r[(b * Cout + co) * nO + o] = coerce(s, out.dtype);
        }
      }
    return r;
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
});
