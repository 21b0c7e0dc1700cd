/** Elementwise primitives: unary, binary (equal shapes; broadcasting is explicit), where, cast. */
import type { Attrs, DType, TensorType } from '../ir';
import { fmtType, isFloat, numel } from '../ir';
import { definePrimitive, shapeError } from '../primitive';
import type { FuseCtx, RefTensor } from '../primitive';
import { coerce, convert, valueType, wgslLiteral } from '../dtype';
import { WGSL_ERF, WGSL_TANH, erf } from '../numerics';
import type { VjpRule } from '../primitive';
import { where } from '../../dsl/tensor';
import type { Tensor } from '../../dsl/tensor';
import type { Shape } from '../../dsl/shape-types';

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

type DTypeClass = 'float' | 'signed' | 'numeric' | 'bool' | 'any';
const allowed = (c: DTypeClass, d: DType): boolean =>
  c === 'any' ||
  (c === 'float' && isFloat(d)) ||
  (c === 'signed' && (isFloat(d) || d === 'i32')) ||
  (c === 'numeric' && d !== 'bool') ||
  (c === 'bool' && d === 'bool');

function mapRef(inputs: readonly RefTensor[], out: TensorType, f: (...xs: number[]) => number): Float64Array {
  const n = numel(out.shape);
  const r = new Float64Array(n);
  const ds = inputs.map((t) => t.data);
  for (let i = 0; i < n; i++) r[i] = coerce(f(...ds.map((d) => d[i])), out.dtype);
  return r;
}

// ---------------------------------------------------------------- unary
interface UnarySpec {
  dtypes: DTypeClass;
  ref: (x: number) => number;
  wgsl: (x: string, d: DType, ctx: FuseCtx) => string;
  /** d out / d x, as a tensor expression of the input and the output */
  grad?: (x: Tensor, out: Tensor) => Tensor;
}

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

const lit = (v: number, d: DType) => wgslLiteral(v, d);

const UNARY: Record<string, UnarySpec> = {
  neg: { dtypes: 'signed', ref: (x) => -x, wgsl: (x) => `(-${x})`, grad: (x) => x.mul(0).sub(1) },
  abs: { dtypes: 'numeric', ref: Math.abs, wgsl: (x) => `abs(${x})`, grad: (x) => x.sign() },
  exp: { dtypes: 'float', ref: Math.exp, wgsl: (x) => `exp(${x})`, grad: (_x, y) => y },
  log: { dtypes: 'float', ref: Math.log, wgsl: (x) => `log(${x})`, grad: (x) => x.reciprocal() },
  sqrt: { dtypes: 'float', ref: Math.sqrt, wgsl: (x) => `sqrt(${x})`, grad: (_x, y) => y.reciprocal().mul(0.5) },
  rsqrt: { dtypes: 'float', ref: (x) => 1 / Math.sqrt(x), wgsl: (x) => `inverseSqrt(${x})`, grad: (_x, y) => y.mul(y).mul(y).mul(-0.5) },
  sin: { dtypes: 'float', ref: Math.sin, wgsl: (x) => `sin(${x})`, grad: (x) => x.cos() },
  cos: { dtypes: 'float', ref: Math.cos, wgsl: (x) => `cos(${x})`, grad: (x) => x.sin().neg() },
  tanh: { dtypes: 'float', ref: Math.tanh, wgsl: (x, _d, c) => (c.require('tanh_safe', WGSL_TANH), `tanh_safe(${x})`), grad: (_x, y) => y.mul(y).neg().add(1) },
  erf: { dtypes: 'float', ref: erf, wgsl: (x, _d, c) => (c.require('erf_f32', WGSL_ERF), `erf_f32(${x})`), grad: (x) => x.mul(x).neg().exp().mul(TWO_OVER_SQRT_PI) },
  sigmoid: { dtypes: 'float', ref: (x) => 1 / (1 + Math.exp(-x)), wgsl: (x) => `(1.0 / (1.0 + exp(-${x})))`, grad: (_x, y) => y.mul(y.neg().add(1)) },
  reciprocal: { dtypes: 'float', ref: (x) => 1 / x, wgsl: (x) => `(1.0 / ${x})`, grad: (_x, y) => y.mul(y).neg() },
  floor: { dtypes: 'float', ref: Math.floor, wgsl: (x) => `floor(${x})` },
  ceil: { dtypes: 'float', ref: Math.ceil, wgsl: (x) => `ceil(${x})` },
  sign: { dtypes: 'signed', ref: (x) => (Number.isNaN(x) ? x : Math.sign(x) + 0), wgsl: (x) => `sign(${x})` },
  not: { dtypes: 'bool', ref: (x) => (x ? 0 : 1), wgsl: (x) => `(!${x})` },
};

for (const [name, spec] of Object.entries(UNARY)) {
  definePrimitive({
    name,
    infer: ([x]) => {
      if (!allowed(spec.dtypes, x.dtype)) shapeError(name, `needs a ${spec.dtypes} dtype`, x);
      return x;
    },
    reference: (ins, _a, out) => mapRef(ins, out, spec.ref),
    emission: { kind: 'fusable', pointwise: true, emit: (ctx, idx) => spec.wgsl(ctx.load(0, idx), ctx.out.dtype, ctx) },
    vjp: spec.grad ? (ct, [x], out) => [isFloat(x.dtype) ? ct.mul(spec.grad!(x, out)) : undefined] : undefined,
  });
}
void lit;

// ---------------------------------------------------------------- binary
const POW_SAFE = `fn pow_safe(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  let m = pow(abs(x), y);
  if (x >= 0.0) { return m; }
  if (floor(y) != y) { return nan_f32(); }
  return select(m, -m, abs(y) % 2.0 == 1.0);
}`;

interface BinarySpec {
  dtypes: DTypeClass;
  bool?: boolean; // result is bool
  vjp?: VjpRule;
  ref: (a: number, b: number, d: DType) => number;
  wgsl: (a: string, b: string, d: DType, ctx: FuseCtx) => string;
}

const intDiv = (a: number, b: number, d: DType) => {
  if (b === 0) return a; // WGSL: integer division by zero yields the dividend
  if (d === 'i32' && a === -2147483648 && b === -1) return a;
  return Math.trunc(a / b);
};
const wrapMul = (a: number, b: number, d: DType) => (d === 'i32' ? Math.imul(a, b) : d === 'u32' ? Math.imul(a, b) >>> 0 : a * b);

/** Ties share the gradient equally, as PyTorch's maximum/minimum do. */
function minMaxVjp(ct: Tensor, a: Tensor, b: Tensor, wins: 'gt' | 'lt'): Tensor[] {
  const half = ct.mul(0.5);
  const tie = a.eq(b);
  const aWins = wins === 'gt' ? a.gt(b) : a.lt(b);
  const bWins = wins === 'gt' ? b.gt(a) : b.lt(a);
  return [where(tie, half, where(aWins, ct, 0)), where(tie, half, where(bWins, ct, 0))];
}

const BINARY: Record<string, BinarySpec> = {
  add: { dtypes: 'numeric', ref: (a, b) => a + b, wgsl: (a, b) => `(${a} + ${b})`, vjp: (ct) => [ct, ct] },
  sub: { dtypes: 'numeric', ref: (a, b) => a - b, wgsl: (a, b) => `(${a} - ${b})`, vjp: (ct) => [ct, ct.neg()] },
  mul: { dtypes: 'numeric', ref: wrapMul, wgsl: (a, b) => `(${a} * ${b})`, vjp: (ct, [a, b]) => [ct.mul(b), ct.mul(a)] },
  div: { dtypes: 'numeric', ref: (a, b, d) => (isFloat(d) ? a / b : intDiv(a, b, d)), wgsl: (a, b) => `(${a} / ${b})`, vjp: (ct, [, b], out) => [ct.div(b), ct.mul(out).div(b).neg()] },
  pow: {
    dtypes: 'float',
    ref: (a, b) => Math.pow(a, b),
    wgsl: (a, b, _d, c) => (c.require('pow_safe', POW_SAFE), `pow_safe(${a}, ${b})`),
    // d/db = out * log(a) is taken as 0 where a <= 0 (as PyTorch does for a == 0)
    vjp: (ct, [a, b], out) => [ct.mul(b).mul(a.pow(b.sub(1))), where(a.gt(0), ct.mul(out).mul(a.log()), 0)],
  },
  max: { dtypes: 'numeric', ref: (a, b) => Math.max(a, b), wgsl: (a, b) => `max(${a}, ${b})`, vjp: (ct, [a, b]) => minMaxVjp(ct, a, b, 'gt') },
  min: { dtypes: 'numeric', ref: (a, b) => Math.min(a, b), wgsl: (a, b) => `min(${a}, ${b})`, vjp: (ct, [a, b]) => minMaxVjp(ct, a, b, 'lt') },
  eq: { dtypes: 'any', bool: true, ref: (a, b) => +(a === b), wgsl: (a, b) => `(${a} == ${b})` },
  ne: { dtypes: 'any', bool: true, ref: (a, b) => +(a !== b), wgsl: (a, b) => `(${a} != ${b})` },
  lt: { dtypes: 'numeric', bool: true, ref: (a, b) => +(a < b), wgsl: (a, b) => `(${a} < ${b})` },
  le: { dtypes: 'numeric', bool: true, ref: (a, b) => +(a <= b), wgsl: (a, b) => `(${a} <= ${b})` },
  gt: { dtypes: 'numeric', bool: true, ref: (a, b) => +(a > b), wgsl: (a, b) => `(${a} > ${b})` },
  ge: { dtypes: 'numeric', bool: true, ref: (a, b) => +(a >= b), wgsl: (a, b) => `(${a} >= ${b})` },
  and: { dtypes: 'bool', bool: true, ref: (a, b) => +(a && b), wgsl: (a, b) => `(${a} && ${b})` },
  or: { dtypes: 'bool', bool: true, ref: (a, b) => +(a || b), wgsl: (a, b) => `(${a} || ${b})` },
};

for (const [name, spec] of Object.entries(BINARY)) {
  definePrimitive({
    name,
    infer: ([a, b]) => {
      if (!sameShape(a.shape, b.shape)) shapeError(name, 'operands must have equal shapes after broadcasting', a, b);
      if (a.dtype !== b.dtype) shapeError(name, 'operands must have the same dtype', a, b);
      if (!allowed(spec.dtypes, a.dtype)) shapeError(name, `needs ${spec.dtypes} operands`, a, b);
      return { shape: a.shape, dtype: spec.bool ? 'bool' : a.dtype };
    },
    reference: (ins, _a, out) => {
      const d = ins[0].type.dtype;
      return mapRef(ins, out, (a, b) => spec.ref(a, b, d));
    },
    emission: { kind: 'fusable', pointwise: true, emit: (ctx, idx) => spec.wgsl(ctx.load(0, idx), ctx.load(1, idx), ctx.inputs[0].dtype, ctx) },
    vjp: spec.vjp && ((ct, ins, out, attrs) => (isFloat(ins[0].dtype) ? spec.vjp!(ct, ins, out, attrs) : [undefined, undefined])),
  });
}

// ---------------------------------------------------------------- where, cast
definePrimitive({
  name: 'where',
  infer: ([c, a, b]) => {
    if (c.dtype !== 'bool') shapeError('where', 'condition must be bool', c);
    if (!sameShape(c.shape, a.shape) || !sameShape(a.shape, b.shape)) shapeError('where', 'operands must have equal shapes after broadcasting', c, a, b);
    if (a.dtype !== b.dtype) shapeError('where', 'branches must have the same dtype', a, b);
    return a;
  },
  reference: (ins, _a, out) => mapRef(ins, out, (c, a, b) => (c ? a : b)),
  emission: { kind: 'fusable', pointwise: true, emit: (ctx, idx) => `select(${ctx.load(2, idx)}, ${ctx.load(1, idx)}, ${ctx.load(0, idx)})` },
  vjp: (ct, [c, a]) => (isFloat(a.dtype) ? [undefined, where(c as Tensor<Shape, 'bool'>, ct, 0), where(c as Tensor<Shape, 'bool'>, 0, ct)] : []),
});

export function castExpr(x: string, from: DType, to: DType): string {
  const vf = valueType(from);
  const vt = valueType(to);
  if (vf === vt) return x;
  if (vt === 'bool') return `(${x} != ${wgslLiteral(0, from)})`;
  if (vf === 'bool') return `select(${wgslLiteral(0, to)}, ${wgslLiteral(1, to)}, ${x})`;
  return `${vt}(${x})`;
}

definePrimitive({
  name: 'cast',
  infer: ([x], attrs: Attrs) => ({ shape: x.shape, dtype: attrs.dtype as DType }),
  reference: (ins, attrs, out) => {
    const from = ins[0].type.dtype;
    const to = attrs.dtype as DType;
    const src = ins[0].data;
    const r = new Float64Array(src.length);
    for (let i = 0; i < r.length; i++) r[i] = coerce(convert(src[i], from, to), out.dtype);
    return r;
  },
  emission: { kind: 'fusable', pointwise: true, emit: (ctx, idx, attrs) => castExpr(ctx.load(0, idx), ctx.inputs[0].dtype, attrs.dtype as DType) },
  vjp: (ct, [x]) => [isFloat(x.dtype) && isFloat(ct.dtype) ? ct.cast(x.dtype) : undefined],
});

export const UNARY_OPS = Object.keys(UNARY);
export const BINARY_OPS = Object.keys(BINARY);
void fmtType;

// ---------------------------------------------------------------- stop_gradient
definePrimitive({
  name: 'stop_gradient',
  infer: ([x]) => x,
  reference: ([x]) => Float64Array.from(x.data),
  emission: { kind: 'fusable', pointwise: true, emit: (ctx, idx) => ctx.load(0, idx) },
  vjp: () => [undefined],
});

// ---------------------------------------------------------------- opt_barrier
/**
 * Identity that common-subexpression elimination cannot see through (each carries a unique id):
 * rematerialised forward computations hang off barriers so they are not merged back into the
 * original forward pass.
 */
definePrimitive({
  name: 'opt_barrier',
  infer: ([x]) => x,
  reference: ([x]) => Float64Array.from(x.data),
  emission: { kind: 'fusable', pointwise: true, emit: (ctx, idx) => ctx.load(0, idx) },
  vjp: (ct) => [ct],
});
