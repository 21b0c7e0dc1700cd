/**
 * The backward pass of fused attention (FlashAttention-2's, on the forward kernel's scheme:
 * flash-attention.ts): the scores and probabilities are recomputed block by block from q, k
 * and each query's log-sum-exp L (the forward kernel's statistics, `lseOnly`), so no T x T
 * tensor reaches memory. With dO the output's cotangent and D = rowsum(dO * O):
 *   P = exp(scale q k^T - L), dP = dO v^T, dS = P (dP - D),
 *   dq = scale dS k,  dk = scale dS^T q,  dv = P^T dO.
 * As WGSL has no float atomics, the query side and the key side are separate kernels: dq's
 * owns 32 queries and walks the key blocks; dk's and dv's own 32 keys and walk every query
 * block of the query heads that share them (dv needs P only, so it skips dP). A workgroup
 * computes one 32- or 64-column slice. Causal masks skip whole blocks and mask the diagonal ones.
 */
import type { RawKernel } from '../compiler/primitive';
import { packOperand } from './matmul-texture';
import type { Lanes } from './matmul-texture';
import { TQ, blockProduct, keyBlock, laneCols, pad, quadProduct, walkKeyBlocks } from './flash-attention';
import type { FlashShape } from './flash-attention';

function layout(s: FlashShape, lanes: Lanes) {
  const g = s.hq / s.hkv;
  const lc = laneCols(Math.max(s.d, s.dv), lanes);
  const w = lanes * lc;
  const TK = keyBlock(lanes);
  // the key-side kernel walks queries in blocks of 8 per lane: each head's rows are padded to that
  const tqPad = pad(s.tq, TK);
  const tkPad = pad(s.tk, TK);
  const dPad = pad(s.d, w);
  const dvPad = pad(s.dv, w);
  return { g, lc, w, tqPad, tkPad, dPad, dvPad, kqd: Math.ceil(s.d / 4), kqdv: Math.ceil(s.dv / 4), nd: dPad / w };
}

/** texture rows one key/value head needs (its query heads' rows, its keys, the transposed operands) */
const rowsPerKvHead = (s: FlashShape, lanes: Lanes) => {
  const L = layout(s, lanes);
  return Math.max(L.g * L.tqPad, L.tkPad, L.g * L.dPad, L.g * L.dvPad);
};

/** Whether one key/value head's rows fit the textures (else the backward runs as matmuls). */
export function flashBackwardFits(s: FlashShape, maxDim: number, lanes: Lanes): boolean {
  const L = layout(s, lanes);
  return s.tq > 0 && s.tk > 0 && s.d > 0 && s.dv > 0 && s.hkv > 0 && s.hq % s.hkv === 0 && Math.max(rowsPerKvHead(s, lanes), L.tqPad / 4, L.tkPad / 4, L.kqd, L.kqdv) <= maxDim;
}

/** one workgroup = one subgroup */
const workgroup = (lanes: Lanes) => `@compute @workgroup_size(${lanes})`;

/** dq: a workgroup owns 32 queries of one head and one slice of dq's columns. */
function dqShader(lc: number, lanes: Lanes): string {
  const q4 = lc / 4;
  const TK = keyBlock(lanes);
  const grads: string[] = [];
  for (let r = 0; r < TQ; r++) {
    grads.push(
      `    { let lim = select(p.tk, min(p.tk, q0 + ${r}u + p.offset + 1u), p.causal != 0u);`,
      `      let p0 = select(vec4<f32>(0.0), exp(s[${2 * r}] * scale - vec4<f32>(lr[${r}])), keys0 < vec4<u32>(lim));`,
      `      let p1 = select(vec4<f32>(0.0), exp(s[${2 * r + 1}] * scale - vec4<f32>(lr[${r}])), keys1 < vec4<u32>(lim));`,
      `      s[${2 * r}] = p0 * (dp[${2 * r}] - vec4<f32>(dr[${r}]));`,
      `      s[${2 * r + 1}] = p1 * (dp[${2 * r + 1}] - vec4<f32>(dr[${r}])); }`,
    );
  }
  return `enable subgroups;
struct P { tq: u32, tk: u32, kqd: u32, kqdv: u32, tqPad: u32, tkPad: u32, dPad: u32, d: u32, g: u32, qh0: u32, scaleBits: u32, offset: u32, causal: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> lse: array<f32>;
@group(0) @binding(2) var<storage, read> dlt: array<f32>;
@group(0) @binding(3) var tq: texture_2d<f32>;
@group(0) @binding(4) var tk: texture_2d<f32>;
@group(0) @binding(5) var tdo: texture_2d<f32>;
@group(0) @binding(6) var tv: texture_2d<f32>;
@group(0) @binding(7) var tkt: texture_2d<f32>;
@group(0) @binding(8) var<uniform> p: P;
${workgroup(lanes)}
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let scale = bitcast<f32>(p.scaleBits);
  let ct = wg.x;
  let qt = wg.y;
  let qh = wg.z;
  let kvh = qh / p.g;
  let q0 = qt * ${TQ}u;
  let qrow = i32(qh * p.tqPad + q0 + lane);
  let xrow = i32(kvh * p.dPad + ct * ${lanes * lc}u + lane * ${lc}u);
  let head = (p.qh0 + qh) * p.tq;
  var lr: array<f32, ${TQ}>;
  var dr: array<f32, ${TQ}>;
  for (var r = 0u; r < ${TQ}u; r++) {
    let qi = min(q0 + r, p.tq - 1u);
    lr[r] = lse[head + qi];
    dr[r] = dlt[head + qi];
  }
  var o: array<vec4<f32>, ${TQ * q4}>;
${walkKeyBlocks(`    var s: array<vec4<f32>, ${2 * TQ}>;
    var dp: array<vec4<f32>, ${2 * TQ}>;
${blockProduct('s', 'tq', 'qrow', 'tk', 'krow', 'i32(p.kqd)', lanes)}
${blockProduct('dp', 'tdo', 'qrow', 'tv', 'krow', 'i32(p.kqdv)', lanes)}
${grads.join('\n')}
    // dq += dS k over this block's quads of keys
${quadProduct('o', 's', 'tkt', `kb * ${TK / 4}u`, 'xrow', lc, lanes)}`, lanes)}
  let col0 = ct * ${lanes * lc}u + lane * ${lc}u;
  for (var r = 0u; r < ${TQ}u; r++) {
    let qi = q0 + r;
    if (qi >= p.tq) { break; }
    for (var c = 0u; c < ${lc}u; c++) {
      let col = col0 + c;
      if (col < p.d) { out[(head + qi) * p.d + col] = o[r * ${q4}u + c / 4u][c % 4u] * scale; }
    }
  }
}`;
}

/**
 * dk or dv: a workgroup owns 32 keys of one key/value head and one column slice of the
 * gradient, and walks the query blocks of the heads sharing them (dv needs P only, dk also dP).
 */
function keySideShader(lc: number, dk: boolean, lanes: Lanes): string {
  const q4 = lc / 4;
  const TK = keyBlock(lanes);
  const probs: string[] = [];
  for (let r = 0; r < TQ; r++) {
    probs.push(
      `      { let key = vec4<u32>(k0 + ${r}u);`,
      `        let p0 = select(vec4<f32>(0.0), exp(st[${2 * r}] * scale - l0), live0 & (open | (key <= qs0 + vec4<u32>(p.offset))));`,
      `        let p1 = select(vec4<f32>(0.0), exp(st[${2 * r + 1}] * scale - l1), live1 & (open | (key <= qs1 + vec4<u32>(p.offset))));`,
      dk ? `        st[${2 * r}] = p0 * (dpt[${2 * r}] - d0);` : `        st[${2 * r}] = p0;`,
      dk ? `        st[${2 * r + 1}] = p1 * (dpt[${2 * r + 1}] - d1); }` : `        st[${2 * r + 1}] = p1; }`,
    );
  }
  const stats = (name: string, buf: string, qs: string) => `      let ${name} = vec4<f32>(${['x', 'y', 'z', 'w'].map((c) => `${buf}[head + min(${qs}.${c}, p.tq - 1u)]`).join(', ')});`;
  const textures = dk ? ['tk', 'tq', 'tv', 'tdo', 'tx'] : ['tk', 'tq', 'tx'];
  return `enable subgroups;
struct P { tq: u32, tk: u32, kqd: u32, kqdv: u32, tqPad: u32, tkPad: u32, xPad: u32, cols: u32, g: u32, kvh0: u32, scaleBits: u32, offset: u32, causal: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> lse: array<f32>;
${dk ? '@group(0) @binding(2) var<storage, read> dlt: array<f32>;' : ''}
${textures.map((t, i) => `@group(0) @binding(${(dk ? 3 : 2) + i}) var ${t}: texture_2d<f32>;`).join('\n')}
@group(0) @binding(${(dk ? 3 : 2) + textures.length}) var<uniform> p: P;
${workgroup(lanes)}
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let scale = bitcast<f32>(p.scaleBits);
  let ct = wg.x;
  let kt = wg.y;
  let kvh = wg.z;
  let k0 = kt * ${TQ}u;
  let krow = i32(kvh * p.tkPad + k0 + lane);
  let open = vec4<bool>(p.causal == 0u);
  var o: array<vec4<f32>, ${TQ * q4}>;
  // causal: query i sees key j when j <= i + offset, so the first block that sees key k0 holds query k0 - offset
  let qb0 = select(0u, (k0 - min(k0, p.offset)) / ${TK}u, p.causal != 0u);
  let nqb = (p.tq + ${TK - 1}u) / ${TK}u;
  if (qb0 < nqb) {
  var g = 0u;
  loop {
    let qh = kvh * p.g + g;
    let head = ((p.kvh0 + kvh) * p.g + g) * p.tq;
    // rows of the transposed operand (${dk ? 'q' : 'dO'}): this head's columns of this slice
    let xrow = i32(qh * p.xPad + ct * ${lanes * lc}u + lane * ${lc}u);
    var qb = qb0;
    loop {
      var st: array<vec4<f32>, ${2 * TQ}>;
      let qrow = i32(qh * p.tqPad + qb * ${TK}u + lane * 8u);
${blockProduct('st', 'tk', 'krow', 'tq', 'qrow', 'i32(p.kqd)', lanes)}
${dk ? `      var dpt: array<vec4<f32>, ${2 * TQ}>;
${blockProduct('dpt', 'tv', 'krow', 'tdo', 'qrow', 'i32(p.kqdv)', lanes)}` : ''}
      // this lane's eight queries of the block and their statistics; rows past Tq are padding
      let qs0 = vec4<u32>(qb * ${TK}u + lane * 8u) + vec4<u32>(0u, 1u, 2u, 3u);
      let qs1 = qs0 + vec4<u32>(4u);
      let live0 = qs0 < vec4<u32>(p.tq);
      let live1 = qs1 < vec4<u32>(p.tq);
${stats('l0', 'lse', 'qs0')}
${stats('l1', 'lse', 'qs1')}
${dk ? `${stats('d0', 'dlt', 'qs0')}
${stats('d1', 'dlt', 'qs1')}` : ''}
${probs.join('\n')}
      // ${dk ? 'dk += dS^T q' : 'dv += P^T dO'} over the block's quads of queries
${quadProduct('o', 'st', 'tx', `qb * ${TK / 4}u`, 'xrow', lc, lanes)}
      qb++;
      if (qb >= nqb) { break; }
    }
    g++;
    if (g >= p.g) { break; }
  }
  }
  let col0 = ct * ${lanes * lc}u + lane * ${lc}u;
  for (var r = 0u; r < ${TQ}u; r++) {
    let key = k0 + r;
    if (key >= p.tk) { break; }
    for (var c = 0u; c < ${lc}u; c++) {
      let col = col0 + c;
      if (col < p.cols) { out[((p.kvh0 + kvh) * p.tk + key) * p.cols + col] = o[r * ${q4}u + c / 4u][c % 4u]${dk ? ' * scale' : ''}; }
    }
  }
}`;
}

type Which = 'dq' | 'dk' | 'dv';

/**
 * The kernels of one backward pass half, per group of key/value heads whose rows fit the
 * textures. Inputs: 0 = q [B, Hq, Tq, D], 1 = k [B, Hkv, Tk, D], 2 = v [B, Hkv, Tk, Dv],
 * 3 = dO [B, Hq, Tq, Dv], 4 = L [B, Hq, Tq], 5 = D [B, Hq, Tq]; f32. 'dq' writes
 * [B, Hq, Tq, D], 'dk' [B, Hkv, Tk, D], 'dv' [B, Hkv, Tk, Dv].
 */
export function flashBackwardKernels(which: Which, s: FlashShape, maxScratchBytes: number, maxDim: number, lanes: Lanes): RawKernel[] {
  const L = layout(s, lanes);
  const { g, lc, tqPad, tkPad, dPad, dvPad, kqd, kqdv } = L;
  const kvHeads = s.b * s.hkv;
  const per = Math.min(kvHeads, Math.floor(maxDim / rowsPerKvHead(s, lanes)));
  const chunked = per < kvHeads;
  const scaleBits = new Uint32Array(Float32Array.of(s.scale).buffer)[0];
  const kernels: RawKernel[] = [];
  for (let j0 = 0; j0 < kvHeads; j0 += per) {
    const nkv = Math.min(per, kvHeads - j0);
    const at = (key: string) => (chunked ? `${key}@${j0}` : key);
    const common = { dt: 'f32' as const, maxScratchBytes };
    // rows of head_dim (or value) values, one block of rows per head
    const byQuery = (input: number, key: string, k: number) =>
      packOperand({ ...common, input, key, label: at(key), rows: s.tq, rowsPad: tqPad, k, str: [k, 1, s.tq * k], b0: j0 * g, batches: nkv * g, height: per * g * tqPad });
    const byKey = (input: number, key: string, k: number) => packOperand({ ...common, input, key, label: at(key), rows: s.tk, rowsPad: tkPad, k, str: [k, 1, s.tk * k], b0: j0, batches: nkv, height: per * tkPad });
    // transposed: one row per column, texels along the queries (keys)
    const byQueryT = (input: number, key: string, k: number, rowsPad: number) =>
      packOperand({ ...common, input, key, label: at(key), rows: k, rowsPad, k: s.tq, str: [1, k, s.tq * k], b0: j0 * g, batches: nkv * g, height: per * g * rowsPad });
    const tex = (key: string, width: number, height: number) => ({ kind: 'texture' as const, key, access: 'read' as const, width, height });
    const common2 = [s.tq, s.tk, kqd, kqdv, tqPad, tkPad];
    if (which === 'dq') {
      kernels.push(
        byQuery(0, 'Q', s.d),
        byKey(1, 'K', s.d),
        byQuery(3, 'O', s.dv),
        byKey(2, 'V', s.dv),
        packOperand({ ...common, input: 1, key: 'KT', label: at('KT'), rows: s.d, rowsPad: dPad, k: s.tk, str: [1, s.d, s.tk * s.d], b0: j0, batches: nkv, height: per * dPad }),
        {
          wgsl: dqShader(lc, lanes),
          bindings: [
            { kind: 'out' },
            { kind: 'in', input: 4 },
            { kind: 'in', input: 5 },
            tex('Q', kqd, per * g * tqPad),
            tex('K', kqd, per * tkPad),
            tex('O', kqdv, per * g * tqPad),
            tex('V', kqdv, per * tkPad),
            tex('KT', tkPad / 4, per * dPad),
            { kind: 'uniform', data: Uint32Array.from([...common2, dPad, s.d, g, j0 * g, scaleBits, s.offset, s.causal ? 1 : 0]) },
          ],
          groups: [L.nd, tqPad / TQ, nkv * g],
          label: at('dq'),
        },
      );
    } else {
      const dk = which === 'dk';
      const [xPad, cols] = dk ? [dPad, s.d] : [dvPad, s.dv];
      kernels.push(
        byKey(1, 'K', s.d),
        byQuery(0, 'Q', s.d),
        ...(dk ? [byKey(2, 'V', s.dv), byQuery(3, 'O', s.dv)] : []),
        byQueryT(dk ? 0 : 3, 'X', cols, xPad),
        {
          wgsl: keySideShader(lc, dk, lanes),
          bindings: [
            { kind: 'out' },
            { kind: 'in', input: 4 },
            ...(dk ? [{ kind: 'in' as const, input: 5 }] : []),
            tex('K', kqd, per * tkPad),
            tex('Q', kqd, per * g * tqPad),
            ...(dk ? [tex('V', kqdv, per * tkPad), tex('O', kqdv, per * g * tqPad)] : []),
            tex('X', tqPad / 4, per * g * xPad),
            { kind: 'uniform', data: Uint32Array.from([...common2, xPad, cols, g, j0, scaleBits, s.offset, s.causal ? 1 : 0]) },
          ],
          groups: [xPad / L.w, tkPad / TQ, nkv],
          label: at(which),
        },
      );
    }
  }
  return kernels;
}
