/**
 * Matmul for GPUs (discrete or integrated): the usual workgroup-memory tiling. A workgroup of
 * 16 x 16 invocations owns a 64 x 64 block of C; for each slice of 16 K values it stages the
 * 64 x 16 block of A and the 16 x 64 block of B in workgroup memory (each invocation loads
 * four values of each, in the order that makes neighbouring invocations read neighbouring
 * addresses), waits at a barrier, and each invocation accumulates a 4 x 4 block from the
 * staged values. On CPU rasterisers a barrier costs a context switch per 8 lanes, which is
 * why llvmpipe gets the texture kernel (matmul-texture.ts) instead. Shapes and strides live
 * in a uniform block: one shader per operand layout and dtype serves every product.
 */
import type { DType } from '../compiler/ir';
import type { RawKernel } from '../compiler/primitive';
import { EPILOGUE_HOOK } from '../compiler/primitive';

const TILE = 64;
const BK = 16;

const wgslType = (d: DType) => (d === 'f16' ? 'f16' : 'f32');

export interface TiledMatmulShape {
  readonly batches: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly ta: boolean;
  readonly tb: boolean;
}

/**
 * One operand's staging: invocation `li` loads the values idx = li + 256 i (i < 4) of the
 * block; with `contiguousOuter` the 64-long axis is the one adjacent in memory (else K is),
 * and neighbouring invocations take that axis.
 */
function stage(name: 'a' | 'b', shared: string, outer: string, contiguousOuter: boolean): string {
  // the block is (outer 64) x (BK 16) for A (rows x k) and (BK 16) x (outer 64) for B (k x cols);
  // shared memory holds it as [k][outer]
  const [o, kk] = contiguousOuter ? ['idx % 64u', 'idx / 64u'] : ['idx / 16u', 'idx % 16u'];
  return `    for (var i = 0u; i < 4u; i++) {
      let idx = li + 256u * i;
      let o = ${o};
      let kk = ${kk};
      let go = ${outer} + o;
      let gk = k0 + kk;
      var v = 0.0;
      if (go < ${name === 'a' ? 'p.m' : 'p.n'} && gk < p.k) { v = f32(${name}[${name}Base + go * p.s${name.toUpperCase()}o + gk * p.s${name.toUpperCase()}k]); }
      ${shared}[kk * 64u + o] = v;
    }`;
}

function tiledShader(inA: DType, inB: DType, out: DType, ta: boolean, tb: boolean): string {
  const f16 = [inA, inB, out].includes('f16');
  // A [M, K] stored as [K, M] when ta: rows (M) adjacent; B [K, N] stored as [N, K] when tb: K adjacent
  const stageA = stage('a', 'As', 'm0', ta);
  const stageB = stage('b', 'Bs', 'n0', !tb);
  const rows = [0, 1, 2, 3];
  return `${f16 ? 'enable f16;\n' : ''}struct P { m: u32, n: u32, k: u32, sAo: u32, sAk: u32, sAb: u32, sBo: u32, sBk: u32, sBb: u32, outOff: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<${wgslType(out)}>;
@group(0) @binding(1) var<storage, read> a: array<${wgslType(inA)}>;
@group(0) @binding(2) var<storage, read> b: array<${wgslType(inB)}>;
@group(0) @binding(3) var<uniform> p: P;
${EPILOGUE_HOOK}
var<workgroup> As: array<f32, ${TILE * BK}>;
var<workgroup> Bs: array<f32, ${TILE * BK}>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let m0 = wg.y * ${TILE}u;
  let n0 = wg.x * ${TILE}u;
  let aBase = wg.z * p.sAb;
  let bBase = wg.z * p.sBb;
  // this invocation's 4 x 4 block: rows m0 + ty * 4 .., columns n0 + tx * 4 ..
  let ty = lid.y * 4u;
  let tx = lid.x * 4u;
${rows.map((r) => `  var acc${r} = vec4<f32>(0.0);`).join('\n')}
  let nk = (p.k + ${BK - 1}u) / ${BK}u;
  for (var t = 0u; t < nk; t++) {
    let k0 = t * ${BK}u;
${stageA}
${stageB}
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      let av = vec4<f32>(${rows.map((r) => `As[kk * 64u + ty + ${r}u]`).join(', ')});
      let bv = vec4<f32>(${rows.map((c) => `Bs[kk * 64u + tx + ${c}u]`).join(', ')});
${rows.map((r) => `      acc${r} += av[${r}] * bv;`).join('\n')}
    }
    workgroupBarrier();
  }
  let base = p.outOff + wg.z * p.m * p.n;
${rows
  .map(
    (r) => `  if (m0 + ty + ${r}u < p.m) {
${rows.map((c) => `    if (n0 + tx + ${c}u < p.n) { let i = base + (m0 + ty + ${r}u) * p.n + n0 + tx + ${c}u; out[i] = ${wgslType(out)}(epilogue(i, acc${r}[${c}])); }`).join('\n')}
  }`,
  )
  .join('\n')}
}`;
}

/** The product in one kernel: inputs 0 = A, 1 = B (either transposed as stored), batches on the grid's z. */
export function tiledMatmulKernel(s: TiledMatmulShape, inA: DType, inB: DType, out: DType): RawKernel {
  const { batches, m, n, k, ta, tb } = s;
  // (outer stride, k stride, batch stride) of A [M, K] and B^T [N, K] over the stored buffers
  const aStr = ta ? [1, m, m * k] : [k, 1, m * k];
  const bStr = tb ? [k, 1, n * k] : [1, n, n * k];
  return {
    wgsl: tiledShader(inA, inB, out, ta, tb),
    bindings: [{ kind: 'out' }, { kind: 'in', input: 0 }, { kind: 'in', input: 1 }, { kind: 'uniform', data: Uint32Array.from([m, n, k, ...aStr, ...bStr, 0]) }],
    groups: [Math.ceil(n / TILE), Math.ceil(m / TILE), batches],
    label: 'tiled',
  };
}
