/**
 * Fused attention for CPU rasterisers with 8- or 16-lane subgroups (the texture matmul's scheme,
 * see matmul-texture.ts): one workgroup (one subgroup) owns 32 queries of one head and a slice of
 * the value columns; it walks the keys in blocks of 8 per lane (64 or 128), computes that block of
 * scores Q K^T in registers, folds it into a running softmax (row max and sum across the lanes
 * with subgroupMax / subgroupAdd, earlier output rescaled when the max grows) and adds P V,
 * taking each lane's probabilities to the others with subgroupShuffle. The scores never reach
 * memory: no T x T buffer, no pass to write, normalise and read it back. Q and K reach their
 * textures as rows of head_dim values, V transposed (rows of keys); grouped-query heads read
 * their key/value head's rows; a causal mask skips the key blocks past a tile's last query and
 * masks inside the diagonal block. For training it also writes each query's log-sum-exp after
 * its output row, which the backward kernels (flash-attention-backward.ts) start from.
 */
import type { RawKernel } from '../compiler/primitive';
import { packOperand } from './matmul-texture';
import type { Lanes } from './matmul-texture';

/** queries a workgroup owns */
export const TQ = 32;
/** keys of a block: eight per lane */
export const keyBlock = (lanes: Lanes) => 8 * lanes;

export interface FlashShape {
  readonly b: number;
  readonly hq: number;
  readonly hkv: number;
  readonly tq: number;
  readonly tk: number;
  readonly d: number;
  readonly dv: number;
  readonly causal: boolean;
  readonly offset: number;
  readonly scale: number;
}

export const pad = (n: number, to: number) => Math.ceil(n / to) * to;
/** value columns per lane: 4 for heads up to 4 per lane (slices of 32 or 64), else 8 */
export const laneCols = (dv: number, lanes: Lanes) => (dv <= 4 * lanes ? 4 : 8);

function layout(s: FlashShape, lanes: Lanes) {
  const g = s.hq / s.hkv;
  const lc = laneCols(s.dv, lanes);
  const tqPad = pad(s.tq, TQ);
  const tkPad = pad(s.tk, keyBlock(lanes));
  const dvPad = pad(s.dv, lanes * lc);
  return { g, lc, tqPad, tkPad, dvPad, kqd: Math.ceil(s.d / 4) };
}

/** Whether one key/value head's rows fit the textures (else the attention runs as matmuls and a softmax). */
export function flashFits(s: FlashShape, maxDim: number, lanes: Lanes): boolean {
  const { g, tqPad, tkPad, dvPad, kqd } = layout(s, lanes);
  return s.tq > 0 && s.tk > 0 && s.d > 0 && s.dv > 0 && s.hkv > 0 && s.hq % s.hkv === 0 && Math.max(g * tqPad, tkPad, dvPad, kqd, tkPad / 4) <= maxDim;
}

/**
 * acc (2 x 32 vec4) = the 32 x 8 lanes block A B^T: rows `aRow` + lane + lanes i of texture
 * `aTex` (shared across the lanes by subgroupBroadcast) against rows `bRow` + 0..7 of `bTex` (the
 * lane's eight columns: acc[2 r] holds columns 0..3, acc[2 r + 1] columns 4..7 of row r), over
 * `kqn` texels. The matmul kernel's scheme (matmul-texture.ts).
 */
export function blockProduct(acc: string, aTex: string, aRow: string, bTex: string, bRow: string, kqn: string, lanes: Lanes): string {
  const rows: string[] = [];
  for (let r = 0; r < TQ; r++) {
    rows.push(
      `      { let x = subgroupBroadcast(a${Math.floor(r / lanes)}, ${r % lanes}u);`,
      `        ${acc}[${2 * r}] += vec4<f32>(dot(x, b0), dot(x, b1), dot(x, b2), dot(x, b3));`,
      `        ${acc}[${2 * r + 1}] += vec4<f32>(dot(x, b4), dot(x, b5), dot(x, b6), dot(x, b7)); }`,
    );
  }
  return `    // zeroed by hand: a var declared in a loop kept the last block's values on llvmpipe
    for (var i = 0; i < ${2 * TQ}; i++) { ${acc}[i] = vec4<f32>(0.0); }
    {
    var kq = 0i;
    loop {
${Array.from({ length: TQ / lanes }, (_, i) => `      let a${i} = textureLoad(${aTex}, vec2<i32>(kq, ${aRow}${i ? ` + ${lanes * i}` : ''}), 0);`).join('\n')}
${Array.from({ length: 8 }, (_, c) => `      let b${c} = textureLoad(${bTex}, vec2<i32>(kq, ${bRow} + ${c}), 0);`).join('\n')}
${rows.join('\n')}
      kq++;
      if (kq >= ${kqn}) { break; }
    }
    }`;
}

/**
 * o (32 x lc columns, lc / 4 vec4 per row) += W X: W the 32 x 8 lanes block in `w` (as
 * blockProduct leaves it: quad j of a row, its columns 4 j..4 j + 3, lives in lane j / 2, which
 * subgroupShuffle takes to every lane), X the block's 8 lanes rows as texels `texel0` + 0..2
 * lanes - 1 of rows `xRow` + 0..lc - 1 of `xTex` (X transposed: one texture row per output column).
 */
export function quadProduct(o: string, w: string, xTex: string, texel0: string, xRow: string, lc: number, lanes: Lanes): string {
  const q4 = lc / 4;
  const rows: string[] = [];
  for (let r = 0; r < TQ; r++) {
    rows.push(`      { let x = subgroupShuffle(select(${w}[${2 * r}], ${w}[${2 * r + 1}], odd), src);`);
    for (let j = 0; j < q4; j++) rows.push(`        ${o}[${r * q4 + j}] += vec4<f32>(${[0, 1, 2, 3].map((c) => `dot(x, v${4 * j + c})`).join(', ')});`);
    rows.push('      }');
  }
  return `    {
    var j = 0u;
    loop {
      let src = j >> 1u;
      let odd = (j & 1u) == 1u;
      let vt = i32(${texel0} + j);
${Array.from({ length: lc }, (_, c) => `      let v${c} = textureLoad(${xTex}, vec2<i32>(vt, ${xRow} + ${c}), 0);`).join('\n')}
${rows.join('\n')}
      j++;
      if (j >= ${keyBlock(lanes) / 4}u) { break; }
    }
    }`;
}

/**
 * The query tile's walk over key blocks (`body` per block, with `krow`, the lane's first
 * texture row of K, and `keys0`/`keys1`, its eight key indices): under a causal mask it stops
 * after the block holding the tile's last visible key. Needs `q0`, `kvh`, `lane` and p.tk,
 * p.tkPad, p.causal, p.offset.
 */
export function walkKeyBlocks(body: string, lanes: Lanes): string {
  const TK = keyBlock(lanes);
  return `  var nkb = (p.tk + ${TK - 1}u) / ${TK}u;
  if (p.causal != 0u) { nkb = min(nkb, (q0 + ${TQ - 1}u + p.offset) / ${TK}u + 1u); }
  var kb = 0u;
  loop {
    let krow = i32(kvh * p.tkPad + kb * ${TK}u + lane * 8u);
    let key0 = kb * ${TK}u + lane * 8u;
    let keys0 = vec4<u32>(key0) + vec4<u32>(0u, 1u, 2u, 3u);
    let keys1 = keys0 + vec4<u32>(4u);
${body}
    kb++;
    if (kb >= nkb) { break; }
  }`;
}

/**
 * The fused forward kernel; `withLse`: rows of Dv + 1 values, the last each query's
 * log-sum-exp of its scaled, masked scores (what the backward kernels need).
 */
function flashShader(lc: number, lanes: Lanes, withLse = false): string {
  const TK = keyBlock(lanes);
  const q4 = lc / 4;
  const softmax: string[] = [];
  for (let r = 0; r < TQ; r++) {
    softmax.push(
      `    { let lim = select(p.tk, min(p.tk, q0 + ${r}u + p.offset + 1u), p.causal != 0u);`,
      `      let v0 = select(vec4<f32>(-inf), s[${2 * r}] * scale, keys0 < vec4<u32>(lim));`,
      `      let v1 = select(vec4<f32>(-inf), s[${2 * r + 1}] * scale, keys1 < vec4<u32>(lim));`,
      `      let v = max(v0, v1);`,
      `      let mn = max(m[${r}], subgroupMax(max(max(v.x, v.y), max(v.z, v.w))));`,
      `      let alpha = exp(m[${r}] - mn);`,
      `      let p0 = exp(v0 - vec4<f32>(mn));`,
      `      let p1 = exp(v1 - vec4<f32>(mn));`,
      `      l[${r}] = l[${r}] * alpha + subgroupAdd(dot(p0 + p1, vec4<f32>(1.0)));`,
      `      m[${r}] = mn;`,
      `      s[${2 * r}] = p0;`,
      `      s[${2 * r + 1}] = p1;`,
      ...Array.from({ length: q4 }, (_, j) => `      o[${r * q4 + j}] *= alpha;`),
      '    }',
    );
  }
  return `enable subgroups;
struct P { tq: u32, tk: u32, kqd: u32, tqPad: u32, tkPad: u32, dvPad: u32, dv: u32, g: u32, qh0: u32, scaleBits: u32, offset: u32, causal: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var tq: texture_2d<f32>;
@group(0) @binding(2) var tk: texture_2d<f32>;
@group(0) @binding(3) var tv: texture_2d<f32>;
@group(0) @binding(4) var<uniform> p: P;
// through a variable: a constant infinity is a shader creation error
fn inf_f32() -> f32 { var b = 0x7f800000u; return bitcast<f32>(b); }
@compute @workgroup_size(${lanes})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let inf = inf_f32();
  let scale = bitcast<f32>(p.scaleBits);
  let dvt = wg.x;
  let qt = wg.y;
  let qh = wg.z;
  let kvh = qh / p.g;
  let q0 = qt * ${TQ}u;
  let qrow = i32(qh * p.tqPad + q0 + lane);
  let vrow = i32(kvh * p.dvPad + dvt * ${lanes * lc}u + lane * ${lc}u);
  var o: array<vec4<f32>, ${TQ * q4}>;
  var m: array<f32, ${TQ}>;
  var l: array<f32, ${TQ}>;
  // the running max starts at the lowest finite value: a block whose keys are all masked leaves
  // it (exp(-inf - m) = 0) instead of computing inf - inf
  for (var r = 0; r < ${TQ}; r++) { m[r] = -0x1.fffffep+127f; }
${walkKeyBlocks(`    var s: array<vec4<f32>, ${2 * TQ}>;
${blockProduct('s', 'tq', 'qrow', 'tk', 'krow', 'i32(p.kqd)', lanes)}
${softmax.join('\n')}
    // P V over this block's quads of keys
${quadProduct('o', 's', 'tv', `kb * ${TK / 4}u`, 'vrow', lc, lanes)}`, lanes)}
  let head = (p.qh0 + qh) * p.tq;
  let pitch = p.dv${withLse ? ' + 1u' : ''};
  let col0 = dvt * ${lanes * lc}u + lane * ${lc}u;
  for (var r = 0u; r < ${TQ}u; r++) {
    let qi = q0 + r;
    if (qi >= p.tq) { break; }
    let inv = 1.0 / l[r];
    for (var c = 0u; c < ${lc}u; c++) {
      let col = col0 + c;
      if (col < p.dv) { out[(head + qi) * pitch + col] = o[r * ${q4}u + c / 4u][c % 4u] * inv; }
    }${withLse ? `
    if (dvt == 0u && lane == 0u) { out[(head + qi) * pitch + p.dv] = m[r] + log(l[r]); }` : ''}
  }
}`;
}

/**
 * The kernels of one attention: per group of key/value heads whose rows fit the textures (all
 * of them, mostly), Q, K and V^T into their textures, then the fused kernel. Inputs: 0 = q
 * [B, Hq, Tq, D], 1 = k [B, Hkv, Tk, D], 2 = v [B, Hkv, Tk, Dv]; f32.
 */
export function flashAttentionKernels(s: FlashShape, maxScratchBytes: number, maxDim: number, lanes: Lanes, withLse = false): RawKernel[] {
  const { g, lc, tqPad, tkPad, dvPad, kqd } = layout(s, lanes);
  const kvHeads = s.b * s.hkv;
  const per = Math.min(kvHeads, Math.floor(maxDim / Math.max(g * tqPad, tkPad, dvPad)));
  const chunked = per < kvHeads;
  const scaleBits = new Uint32Array(Float32Array.of(s.scale).buffer)[0];
  const kernels: RawKernel[] = [];
  for (let j0 = 0; j0 < kvHeads; j0 += per) {
    const nkv = Math.min(per, kvHeads - j0);
    const at = (key: string) => (chunked ? `${key}@${j0}` : key);
    const common = { dt: 'f32' as const, maxScratchBytes };
    kernels.push(
      packOperand({ ...common, input: 0, key: 'Q', label: at('Q'), rows: s.tq, rowsPad: tqPad, k: s.d, str: [s.d, 1, s.tq * s.d], b0: j0 * g, batches: nkv * g, height: per * g * tqPad }),
      packOperand({ ...common, input: 1, key: 'K', label: at('K'), rows: s.tk, rowsPad: tkPad, k: s.d, str: [s.d, 1, s.tk * s.d], b0: j0, batches: nkv, height: per * tkPad }),
      // V transposed: rows are value columns, K runs along the keys
      packOperand({ ...common, input: 2, key: 'V', label: at('V'), rows: s.dv, rowsPad: dvPad, k: s.tk, str: [1, s.dv, s.tk * s.dv], b0: j0, batches: nkv, height: per * dvPad }),
      {
        wgsl: flashShader(lc, lanes, withLse),
        bindings: [
          { kind: 'out' },
          { kind: 'texture', key: 'Q', access: 'read', width: kqd, height: per * g * tqPad },
          { kind: 'texture', key: 'K', access: 'read', width: kqd, height: per * tkPad },
          // as wide as the padded keys: texels past the last key stay zero
          { kind: 'texture', key: 'V', access: 'read', width: tkPad / 4, height: per * dvPad },
          { kind: 'uniform', data: Uint32Array.from([s.tq, s.tk, kqd, tqPad, tkPad, dvPad, s.dv, g, j0 * g, scaleBits, s.offset, s.causal ? 1 : 0]) },
        ],
        groups: [dvPad / (lanes * lc), tqPad / TQ, nkv * g],
        label: chunked ? `flash@${j0}` : 'flash',
      },
    );
  }
  return kernels;
}
