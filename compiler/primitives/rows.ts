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
import { WGSL_SPECIAL_FLOATS, coerce } from '../dtype';
import type { RawKernel } from '../primitive';
import { kernelLanes } from '../../kernels/matmul-texture';
import type { Lanes } from '../../kernels/matmul-texture';

export type RowKind = 'softmax' | 'log_softmax' | 'layer_norm' | 'rms_norm';

/** A causal mask over rows of [.., T, C]: row r sees columns 0..(r mod T) + offset (the rest count as -inf). */
export interface RowMask {
  readonly t: number;
  readonly offset: number;
}

function refRows(kind: RowKind, x: Float64Array, C: number, eps: number, w?: Float64Array, b?: Float64Array, out?: DType, mask?: RowMask): Float64Array {
  const r = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += C) {
    let row = x.subarray(base, base + C);
    if (mask) {
      const last = ((base / C) % mask.t) + mask.offset;
      row = row.map((v, c) => (c > last ? -Infinity : v));
    }
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
    return refRows(attrs.kind as RowKind, x.data, C, attrs.eps as number, hasW ? w?.data : undefined, hasW ? b?.data : w?.data, out.dtype, maskOf(attrs));
  },
  emission: {
    kind: 'kernel',
    emit: (k, attrs) => {
      const kind = attrs.kind as RowKind;
      const C = k.out.shape[k.out.shape.length - 1];
      const rows = C === 0 ? 0 : numel(k.out.shape) / C;
      const hasW = !!attrs.hasWeight;
      const nAffine = k.inputs.length - 1;
      const mask = maskOf(attrs);
      // f32 rows of a multiple of 4: vec4 loads and stores (about 1.5x faster on llvmpipe)
      const f32 = k.out.dtype === 'f32' && k.inputs.every((t) => t.dtype === 'f32');
      const lanes = kernelLanes(k);
      const throughTexture = f32 && lanes && k.device.cpuLike && !mask && textureRowsFit(C, rows, lanes, k.device.maxTextureDimension2D);
      if (throughTexture && (kind === 'softmax' || kind === 'log_softmax')) return textureSoftmax(kind, C, rows, lanes);
      if (f32 && lanes && C % (4 * lanes) === 0 && C > 0 && !mask && (kind === 'softmax' || kind === 'log_softmax')) return [subgroupSoftmax(kind, C, rows, lanes)];
      if (throughTexture && kind === 'layer_norm') return textureLayerNorm(C, rows, lanes, nAffine, hasW, attrs.eps as number);
      if (C % 4 === 0 && C > 0 && f32) return vec4Rows(kind, C, rows, nAffine, hasW, attrs.eps as number, mask);
      const wAt = (c: string) => (hasW ? `ld_in1(${c})` : '1.0');
      const bAt = (c: string) => (nAffine === 2 ? `ld_in2(${c})` : nAffine === 1 && !hasW ? `ld_in1(${c})` : '0.0');
      const eps = `f32(${attrs.eps as number})`;
      let body: string;
      if (kind === 'softmax' || kind === 'log_softmax') {
        // with a causal mask only columns 0..lim count; the others come out as exp(-inf) = 0 (log: -inf)
        const lim = mask ? `min(${C}, (tid % ${mask.t}) + ${mask.offset + 1})` : `${C}`;
        const at = (e: string) => (mask ? `select(-inf_f32(), ${e}, c < lim)` : e);
        body = `
  let lim = ${lim};
  var m = -inf_f32();
  for (var c = 0; c < lim; c++) { m = max(m, ld_in0(base + c)); }
  var s = 0.0;
  for (var c = 0; c < lim; c++) { s += exp(ld_in0(base + c) - m); }
  ${kind === 'softmax' ? 'let inv = 1.0 / s;' : 'let ls = m + log(s);'}
  for (var c = 0; c < ${C}; c++) { let x = ${at('ld_in0(base + c)')}; st_out(base + c, ${kind === 'softmax' ? 'exp(x - m) * inv' : 'x - ls'}); }`;
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

const maskOf = (attrs: Attrs): RowMask | undefined => ((attrs.causalT as number) > 0 ? { t: attrs.causalT as number, offset: (attrs.causalOffset as number) ?? 0 } : undefined);

function vec4Rows(kind: RowKind, C: number, rows: number, nAffine: number, hasW: boolean, eps: number, mask?: RowMask): RawKernel[] {
  const Q = C / 4;
  const decl = (i: number, name: string, rw = 'read') => `@group(0) @binding(${i}) var<storage, ${rw}> ${name}: array<vec4<f32>>;`;
  const affine = Array.from({ length: nAffine }, (_, i) => decl(i + 2, i === 0 && hasW ? 'w' : 'b'));
  const wv = hasW ? 'w[q]' : 'vec4<f32>(1.0)';
  const bv = (nAffine === 2 || (nAffine === 1 && !hasW)) ? 'b[q]' : 'vec4<f32>(0.0)';
  // a causal mask: columns past `lim` read as -inf, and only the vec4s up to it are visited twice
  const cols = mask ? `\n  let lim = (row % ${mask.t}u) + ${mask.offset}u;\n  let qn = min(${Q}u, lim / 4u + 1u);` : '';
  const xAt = (q: string) => (mask ? `select(x[base + ${q}], vec4<f32>(-inf_f32()), vec4<u32>((${q}) * 4u) + vec4<u32>(0u, 1u, 2u, 3u) > vec4<u32>(lim))` : `x[base + ${q}]`);
  const qn = mask ? 'qn' : `${Q}u`;
  // One pass over the row for its statistics, then one that writes (each pass over a row costs a
  // tick of ~1 ms at 4096 rows on llvmpipe): softmax keeps a running max and a sum rescaled when
  // the max grows (m4 starts at the lowest finite value, so a row of -inf gives 0/0 = NaN as the
  // reference does, not inf - inf inside the loop); the norms keep Welford's running mean and sum
  // of squared deviations per lane, merged at the end (a plain sum of squares loses the variance
  // of values far from zero; Welford ran as fast as a sum shifted by the first value, and closer:
  // 2e-7 against 1e-6).
  const body =
    kind === 'softmax' || kind === 'log_softmax'
      ? `${cols}
  var m4 = vec4<f32>(-0x1.fffffep+127f);
  var s4 = vec4<f32>(0.0);
  // four vec4 per step share one rescaling of the sum (4.7 against 5.2 ms GPU time at 4096 x 1024)
  let q4n = ${qn} & ~3u;
  var q = 0u;
  for (; q < q4n; q += 4u) {
    let v0 = ${xAt('q')}; let v1 = ${xAt('q + 1u')}; let v2 = ${xAt('q + 2u')}; let v3 = ${xAt('q + 3u')};
    let nm = max(max(m4, max(v0, v1)), max(v2, v3));
    s4 = s4 * exp(m4 - nm) + exp(v0 - nm) + exp(v1 - nm) + exp(v2 - nm) + exp(v3 - nm);
    m4 = nm;
  }
  for (; q < ${qn}; q++) { let v = ${xAt('q')}; let nm = max(m4, v); s4 = s4 * exp(m4 - nm) + exp(v - nm); m4 = nm; }
  let m = max(max(m4.x, m4.y), max(m4.z, m4.w));
  let s = dot(s4, exp(m4 - vec4<f32>(m)));
  ${kind === 'softmax' ? 'let inv = 1.0 / s;' : 'let ls = m + log(s);'}
  for (var q = 0u; q < ${Q}u; q++) { out[base + q] = ${kind === 'softmax' ? `exp(${xAt('q')} - m) * inv` : `${xAt('q')} - ls`}; }`
      : `${
          kind === 'layer_norm'
            ? `
  var mu4 = vec4<f32>(0.0);
  var m24 = vec4<f32>(0.0);
  for (var q = 0u; q < ${Q}u; q++) { let v = x[base + q]; let d = v - mu4; mu4 += d * (1.0 / f32(q + 1u)); m24 += d * (v - mu4); }
  let mean = dot(mu4, vec4<f32>(0.25));
  let dm = mu4 - vec4<f32>(mean);
  let inv = inverseSqrt((dot(m24, vec4<f32>(1.0)) + ${Q}.0 * dot(dm, dm)) / ${C}.0 + f32(${eps}));`
            : `
  let mean = 0.0;
  var v4 = vec4<f32>(0.0);
  for (var q = 0u; q < ${Q}u; q++) { let v = x[base + q]; v4 += v * v; }
  let inv = inverseSqrt(dot(v4, vec4<f32>(1.0)) / ${C}.0 + f32(${eps}));`
        }
  for (var q = 0u; q < ${Q}u; q++) { out[base + q] = (x[base + q] - mean) * inv * ${wv} + ${bv}; }`;
  const wgsl = [
    decl(0, 'out', 'read_write'),
    decl(1, 'x'),
    ...affine,
    WGSL_SPECIAL_FLOATS,
    '@compute @workgroup_size(64)',
    'fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {',
    '  let row = gid.x + gid.y * nwg.x * 64u;',
    `  if (row >= ${rows}u) { return; }`,
    `  let base = row * ${Q}u;${body}`,
    '}',
  ].join('\n');
  return [{ wgsl, bindings: [{ kind: 'out' }, ...Array.from({ length: nAffine + 1 }, (_, i) => ({ kind: 'in' as const, input: i }))], groups: Math.ceil(rows / 64), label: `${kind}4` }];
}

/**
 * Softmax (log-softmax) with one subgroup (8 or 16 lanes) per row, lane l taking vec4s l, l + L,
 * ..: the lanes' loads fall in the same cache lines, where one row per invocation streams eight rows at
 * once (4.1-4.2 against 4.6 ms GPU time at 4096 x 1024 on llvmpipe). Each lane keeps its running
 * max and rescaled sum; subgroupMax and subgroupAdd combine them without a barrier.
 */
function subgroupSoftmax(kind: 'softmax' | 'log_softmax', C: number, rows: number, lanes: Lanes): RawKernel {
  const L = lanes;
  const steps = C / (4 * L);
  const four = steps & ~3;
  const wgsl = `enable subgroups;
@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@compute @workgroup_size(${L})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= ${rows}u) { return; }
  let base = row * ${C / 4}u + lane;
  // the lowest finite value: a row of -inf gives 0/0 = NaN as the reference does
  var m4 = vec4<f32>(-0x1.fffffep+127f);
  var s4 = vec4<f32>(0.0);
  var q = 0u;
  // four vec4 per step share one rescaling of the sum
  for (; q < ${four * L}u; q += ${4 * L}u) {
    let v0 = x[base + q]; let v1 = x[base + q + ${L}u]; let v2 = x[base + q + ${2 * L}u]; let v3 = x[base + q + ${3 * L}u];
    let nm = max(max(m4, max(v0, v1)), max(v2, v3));
    s4 = s4 * exp(m4 - nm) + exp(v0 - nm) + exp(v1 - nm) + exp(v2 - nm) + exp(v3 - nm);
    m4 = nm;
  }
  for (; q < ${C / 4}u; q += ${L}u) { let v = x[base + q]; let nm = max(m4, v); s4 = s4 * exp(m4 - nm) + exp(v - nm); m4 = nm; }
  let m = subgroupMax(max(max(m4.x, m4.y), max(m4.z, m4.w)));
  let s = subgroupAdd(dot(s4, exp(m4 - vec4<f32>(m))));
  ${kind === 'softmax' ? 'let inv = 1.0 / s;' : 'let ls = m + log(s);'}
  for (var q = 0u; q < ${C / 4}u; q += ${L}u) { out[base + q] = ${kind === 'softmax' ? 'exp(x[base + q] - m) * inv' : 'x[base + q] - ls'}; }
}`;
  return { wgsl, bindings: [{ kind: 'out' }, { kind: 'in', input: 0 }], groups: rows, label: `${kind}-sg` };
}

/** The fused node for a normalisation of x over its last axis (affine parameters optional). */
export function rowOp(kind: RowKind, x: Node, attrs: Attrs & { eps?: number; hasWeight?: boolean; mask?: RowMask }, affine: readonly Node[] = []): Node {
  const base: Attrs = { kind, eps: attrs.eps ?? 0, hasWeight: !!attrs.hasWeight };
  return apply('row_op', [x, ...affine], attrs.mask ? { ...base, causalT: attrs.mask.t, causalOffset: attrs.mask.offset } : base);
}

/** vec4s of a row one lane holds in registers, at most */
const MAX_TEXELS_PER_LANE = 64;
/** workgroups, each looping over rows: more only add llvmpipe's per-workgroup cost (4096 x 1024: 5.7 ms at 4, 6.4-6.9 at 8 and 32) */
const ROW_LOOPS = 4;

/**
 * Whether rows of C values go through a texture (softmax, layer norm): rows copied in as they are
 * (a copy needs rows a multiple of 256 bytes apart), each lane holding at most MAX_TEXELS_PER_LANE vec4s.
 */
const textureRowsFit = (C: number, rows: number, lanes: Lanes, maxDim: number) => C > 0 && C % 64 === 0 && C / (4 * lanes) <= MAX_TEXELS_PER_LANE && rows > 0 && rows <= maxDim;

/** `xs` combined pairwise by `join`, as a balanced tree (shorter dependency chains than a left fold) */
const pairwise = (xs: readonly string[], join: (a: string, b: string) => string): string =>
  xs.length === 1 ? xs[0] : pairwise(Array.from({ length: Math.ceil(xs.length / 2) }, (_, i) => (2 * i + 1 < xs.length ? join(xs[2 * i], xs[2 * i + 1]) : xs[2 * i])), join);

interface TextureRowKernel {
  readonly C: number;
  readonly rows: number;
  readonly lanes: Lanes;
  readonly label: string;
  /** names of vec4 storage arrays of C / 4 bound after the texture (inputs 1, 2, ...) */
  readonly params?: readonly string[];
  /** statements before the row loop (`lane` known) */
  readonly prologue?: (j: number) => string;
  /** the row's statements, its texels in v0, v1, ... (texel j of the lane: lane + j * lanes); `value(j)` is what texel j of the output gets */
  readonly body: string;
  readonly value: (j: number) => string;
}

/**
 * The frame of the texture row kernels: the input copied into a texture (a memcpy), ROW_LOOPS
 * workgroups of one subgroup each looping over rows, each row read once into the lanes'
 * registers (vec4 texel loads: where the device reads storage textures a short image function
 * per load, see compiler/codegen/texture-reads.ts) and written once.
 */
function textureRowKernels(t: TextureRowKernel): RawKernel[] {
  const { C, rows, lanes: L, params = [] } = t;
  const Q = C / 4;
  const G = Math.min(rows, ROW_LOOPS);
  const js = Array.from({ length: Q / L }, (_, j) => j);
  const wgsl = `enable subgroups;
@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(1) var tx: texture_2d<f32>;
${params.map((n, i) => `@group(0) @binding(${2 + i}) var<storage, read> ${n}: array<vec4<f32>>;`).join('\n')}
@compute @workgroup_size(${L})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
${t.prologue ? js.map(t.prologue).join('\n') : ''}
  var row = wg.x;
  loop {
    if (row >= ${rows}u) { break; }
${js.map((j) => `    let v${j} = textureLoad(tx, vec2<i32>(i32(lane) + ${j * L}, i32(row)), 0);`).join('\n')}
${t.body}
    let base = row * ${Q}u + lane;
${js.map((j) => `    out[base + ${j * L}u] = ${t.value(j)};`).join('\n')}
    row += ${G}u;
  }
}`;
  return [
    { wgsl: '', bindings: [{ kind: 'in', input: 0 }], groups: 0, label: 'copyX', copy: { key: 'X', from: 'in', width: Q, bytesPerRow: C * 4, regions: [{ offset: 0, y: 0, rows }] } },
    { wgsl, bindings: [{ kind: 'out' }, { kind: 'texture', key: 'X', access: 'read', width: Q, height: rows }, ...params.map((_, i) => ({ kind: 'in' as const, input: i + 1 }))], groups: [G, 1, 1], label: t.label },
  ];
}

/**
 * Softmax (log-softmax) on a CPU rasteriser through textureRowKernels: the row's max and sum
 * combined across lanes with subgroupMax / subgroupAdd, one exp per value. 4096 x 1024 on a Zen 3:
 * 5.6-5.9 ms against 6.7-7.3 for subgroupSoftmax's two passes over buffer loads (with sampled
 * textures 6.3 against 6.9). A row of -inf gives NaN (-inf - -inf), as the reference does.
 */
function textureSoftmax(kind: 'softmax' | 'log_softmax', C: number, rows: number, lanes: Lanes): RawKernel[] {
  const js = Array.from({ length: C / (4 * lanes) }, (_, j) => j);
  const body = `    let m4 = ${pairwise(js.map((j) => `v${j}`), (a, b) => `max(${a}, ${b})`)};
    let m = subgroupMax(max(max(m4.x, m4.y), max(m4.z, m4.w)));
${js.map((j) => `    let e${j} = exp(v${j} - vec4<f32>(m));`).join('\n')}
    let s = subgroupAdd(dot(${pairwise(js.map((j) => `e${j}`), (a, b) => `(${a} + ${b})`)}, vec4<f32>(1.0)));
    ${kind === 'softmax' ? 'let inv = 1.0 / s;' : 'let ls = m + log(s);'}`;
  return textureRowKernels({ C, rows, lanes, label: `${kind}-tex`, body, value: (j) => (kind === 'softmax' ? `e${j} * inv` : `v${j} - vec4<f32>(ls)`) });
}

/**
 * Layer norm on a CPU rasteriser through textureRowKernels: the row's mean and then the mean of
 * squared deviations from the registers (two exact passes, no running update), the affine
 * parameters loaded once per workgroup. 4096 x 1280 on a Zen 3: 6.3-7.0 ms against 8.3-8.4 for a
 * row per invocation.
 */
function textureLayerNorm(C: number, rows: number, lanes: Lanes, nAffine: number, hasW: boolean, eps: number): RawKernel[] {
  const js = Array.from({ length: C / (4 * lanes) }, (_, j) => j);
  const hasB = nAffine === 2 || (nAffine === 1 && !hasW);
  const params = [...(hasW ? ['w'] : []), ...(hasB ? ['b'] : [])];
  const prologue = (j: number) => `  let g${j} = ${hasW ? `w[lane + ${j * lanes}u]` : 'vec4<f32>(1.0)'}; let h${j} = ${hasB ? `b[lane + ${j * lanes}u]` : 'vec4<f32>(0.0)'};`;
  const body = `    let mean = subgroupAdd(dot(${pairwise(js.map((j) => `v${j}`), (a, b) => `(${a} + ${b})`)}, vec4<f32>(1.0))) / ${C}.0;
${js.map((j) => `    let d${j} = v${j} - vec4<f32>(mean);`).join('\n')}
    let inv = inverseSqrt(subgroupAdd(dot(${pairwise(js.map((j) => `d${j} * d${j}`), (a, b) => `(${a} + ${b})`)}, vec4<f32>(1.0))) / ${C}.0 + f32(${eps}));`;
  return textureRowKernels({ C, rows, lanes, label: 'layer_norm-tex', params, prologue, body, value: (j) => `d${j} * inv * g${j} + h${j}` });
}
