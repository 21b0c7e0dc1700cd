/**
 * Matmul for CPU rasterisers (llvmpipe), after ../shared/PERFORMANCE.md: operands are packed
 * into rgba32float textures (four K values per texel, B transposed), a workgroup is one subgroup
 * (8 lanes, or 16 at 512-bit vectors), the A tile is shared across lanes with subgroupBroadcast,
 * each K step fetches every texel it needs before the multiply-adds, and each lane owns a block of
 * C eight columns wide (32 rows at 8 lanes, 64 or 128 at 16). Texture
 * fetches are one call returning a vector, where storage-buffer loads become masked scalar loads.
 * Shapes live in a uniform block, so one shader serves every matmul. The matmul's operands are
 * packed in panels, a tile's K loop one run of texels (see Panels); the convolution's and
 * attention's textures hold rows of their operand. Either reaches its texture by a
 * buffer-to-texture copy: straight from the operand when rows are already in the texture's
 * layout, else through a scratch buffer a packing kernel writes (a shader's texture stores are
 * the slow part of packing on llvmpipe).
 */
import type { DType } from '../compiler/ir';
import type { KernelCtx, RawKernel } from '../compiler/primitive';
import { EPILOGUE_HOOK } from '../compiler/primitive';

/**
 * Lanes of the subgroup a workgroup is: llvmpipe's vector width in f32 (8 with AVX2, 16 when
 * the driver runs 512-bit vectors). Every lane owns LANE_N columns, so a tile is 8 or 16 times
 * LANE_N wide; rows of the tile come in multiples of the lanes (each lane fetches one texel of A
 * per multiple).
 */
export type Lanes = 8 | 16;
export const LANE_N = 8;
export const tileN = (lanes: Lanes) => lanes * LANE_N;
/** The lanes the subgroup kernels run with on this adapter, or undefined (no subgroups, or a size they are not written for). */
export const kernelLanes = (k: Pick<KernelCtx, 'features' | 'device'>): Lanes | undefined => {
  const size = k.device.subgroupSize;
  return k.features.has('subgroups') && (size === 8 || size === 16) ? size : undefined;
};

export const storage = (d: DType) => (d === 'f16' ? 'f16' : 'f32');
export const enableF16 = (...ds: DType[]) => (ds.includes('f16') ? 'enable f16;\n' : '');

/**
 * Packing: one texel (four K values of one row) per invocation, on a 3-D grid (texel column, row,
 * batch) so that no invocation divides by a shape (a division by a uniform is scalarised lane by
 * lane on llvmpipe). `rowsAcross`: neighbouring lanes take neighbouring rows (the operand is
 * stored with rows contiguous) rather than neighbouring texels. `toTexture`: texture stores (only
 * when the scratch buffer would exceed a binding); else into the scratch buffer laid out as the
 * texture (rows `pitch` texels apart), which a copy then moves into the texture. `width` 4 or 2
 * (f32 only): rows of K contiguous values read as vec4 (vec2) instead of four scalar loads (K,
 * the row and batch strides multiples of it); with `rowsAcross`, 4 means four neighbouring rows
 * per invocation, read as four vec4 (one per K value) and transposed into four texels.
 */
function packShader(src: DType, rowsAcross: boolean, toTexture: boolean, width = 1, panel = false): string {
  if (rowsAcross && width === 4) return packRowsShader(panel);
  const [kqAt, rAt] = rowsAcross ? ['gid.y', 'gid.x'] : ['gid.x', 'gid.y'];
  const row = 'p.off + gid.z * p.sB + r * p.sR';
  const load =
    width === 4
      ? `  let v = select(vec4<f32>(0.0), src[(${row}) / 4u + kq], live);`
      : width === 2
        ? `  let at = (${row}) / 2u + kq * 2u;
  let v = vec4<f32>(select(vec2<f32>(0.0), src[at], live), select(vec2<f32>(0.0), src[at + 1u], live && k0 + 2u < p.k));`
        : `  let at = ${row} + k0 * p.sK;
  let v = ${maskedTexel((i) => `f32(src[${i}])`, 'at', 'live && ')};`;
  return `${packHeader(src, width === 1 ? storage(src) : `vec${width}<f32>`, toTexture)}
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let kq = ${kqAt};
  let r = ${rAt};
  if (kq >= p.kq || r >= p.rowsPad) { return; }
  let k0 = kq * 4u;
  let live = r < p.rows;
${load}
${panel ? panelTexel : ''}  ${toTexture ? `textureStore(dst, ${panel ? 'vec2<i32>(i32(tx), i32(ty))' : 'vec2<i32>(i32(kq), i32(gid.z * p.rowsPad + r))'}, v);` : `dst[${panel ? 'ty * p.pitch + tx' : '(gid.z * p.rowsPad + r) * p.pitch + kq'}] = v;`}
}`;
}

/**
 * Where row R = gid.z * rowsPad + r, texel kq lands in the panel layout (see Panels): texel
 * (panel * kq_count + kq) * rows + (R % rows) of the texture read in rows of 2^wshift texels.
 */
const panelTexel = `  let rr = gid.z * p.rowsPad + r;
  let pt = (((rr >> p.pshift) * p.kq + kq) << p.pshift) + (rr & ((1u << p.pshift) - 1u));
  let tx = pt & ((1u << p.wshift) - 1u);
  let ty = pt >> p.wshift;
`;
/**
 * Four values of one row, K values k0..k0+3 (`p.sK` apart from index `at`), zero past K and
 * where `live` (a condition prefix) is false: four loads with constant component indices (a loop
 * writing v[i] stays a loop over memory on llvmpipe); reads past the edge are clamped by WebGPU's
 * robustness and then replaced by zero.
 */
function maskedTexel(read: (index: string) => string, at: string, live = ''): string {
  const lanes = [0, 1, 2, 3].map((i) => `select(0.0, ${read(i ? `${at} + ${i > 1 ? `${i}u * ` : ''}p.sK` : at)}, ${live}k0${i ? ` + ${i}u` : ''} < p.k)`);
  return `vec4<f32>(${lanes.join(', ')})`;
}

function packHeader(src: DType, element: string, toTexture: boolean): string {
  return `${enableF16(src)}struct P { rows: u32, k: u32, rowsPad: u32, kq: u32, sR: u32, sK: u32, sB: u32, pitch: u32, off: u32, pshift: u32, wshift: u32 }
@group(0) @binding(0) var<storage, read> src: array<${element}>;
@group(0) @binding(1) var ${toTexture ? 'dst: texture_storage_2d<rgba32float, write>' : '<storage, read_write> dst: array<vec4<f32>>'};
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(8, 8)`;
}

/**
 * Four neighbouring rows (rows contiguous in memory, their count, the K and batch strides
 * multiples of 4) per invocation: one vec4 load per K value, transposed in registers into the
 * four rows' texels (four scalar loads per texel took 2.7 ms of a 1024^2 product).
 */
function packRowsShader(panel: boolean): string {
  const k = [0, 1, 2, 3];
  return `${packHeader('f32', 'vec4<f32>', false)}
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let kq = gid.y;
  let r = gid.x * 4u;
  if (kq >= p.kq || r >= p.rowsPad) { return; }
  let k0 = kq * 4u;
  let live = r < p.rows;
  let sk = p.sK / 4u;
  let at = (p.off + gid.z * p.sB + r) / 4u + k0 * sk;
${k.map((i) => `  let c${i} = select(vec4<f32>(0.0), src[at + ${i}u * sk], live && k0 + ${i}u < p.k);`).join('\n')}
${panel ? `${panelTexel}  let o = ty * p.pitch + tx;` : '  let o = (gid.z * p.rowsPad + r) * p.pitch + kq;'}
${['x', 'y', 'z', 'w'].map((c, j) => `  dst[o + ${j}u${panel ? '' : ' * p.pitch'}] = vec4<f32>(${k.map((i) => `c${i}.${c}`).join(', ')});`).join('\n')}
}`;
}

/**
 * How the kernel reads A: from its texture, or straight from A's storage buffer, which spares
 * packing A (as slow as a copy of it: 15 ms of a 30 ms product at 16 x 724 x 32 x 362) at the
 * cost of buffer loads in the loop: four vec4 loads per step when rows of K contiguous values
 * allow ('vec4'), else sixteen scalar loads masked past K ('scalar').
 */
export type ALoad = 'texture' | 'vec4' | 'scalar';

/** One K step's multiply-adds: each row r of the A tile (lane r % lanes of a{r / lanes}, broadcast) times the lane's eight columns b0..b7. */
export function fmaRows(tileM: number, lanes: Lanes): string {
  const rows: string[] = [];
  for (let r = 0; r < tileM; r++) {
    rows.push(
      `    { let x = subgroupBroadcast(a${Math.floor(r / lanes)}, ${r % lanes}u);`,
      `      acc[${2 * r}] += vec4<f32>(dot(x, b0), dot(x, b1), dot(x, b2), dot(x, b3));`,
      `      acc[${2 * r + 1}] += vec4<f32>(dot(x, b4), dot(x, b5), dot(x, b6), dot(x, b7)); }`,
    );
  }
  return rows.join('\n');
}

/** The lane's eight texels of B^T at texel column `col`: rows `row` .. `row` + 7. */
export const bLoads = (col: string, row: string): string =>
  Array.from({ length: LANE_N }, (_, c) => `    let b${c} = textureLoad(tb, vec2<i32>(${col}, ${row} + ${c}), 0);`).join('\n');

/** Stores the lane's block of C (`acc`) of row tile `mt`, column tile `nt`, batch `bat`, each value through the epilogue (EPILOGUE_HOOK); nothing past M or N. */
export function storeTile(out: DType, tileM: number, lanes: Lanes): string {
  return `  let row0 = mt * ${tileM}u;
  let col0 = nt * ${tileN(lanes)}u + lane * ${LANE_N}u;
  let base = p.outOff + bat * p.m * p.n;
  for (var r = 0u; r < ${tileM}u; r++) {
    let row = row0 + r;
    if (row >= p.m) { break; }
    for (var c = 0u; c < ${LANE_N}u; c++) {
      let col = col0 + c;
      if (col < p.n) {
        let i = base + row * p.n + col;
        out[i] = ${storage(out)}(epilogue(i, acc[2u * r + c / 4u][c % 4u]));
      }
    }
  }`;
}

/** The kernel's entry: one workgroup = one subgroup, on a grid of (column tile, row tile, batch). */
export const mmEntry = (lanes: Lanes) => `@compute @workgroup_size(${lanes})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  // the grid is (column tile, row tile, batch): decoding one flat tile index by divisions by
  // uniforms made the whole kernel 10% slower on llvmpipe
  let nt = wg.x;
  let mt = wg.y;
  let bat = wg.z;`;

/**
 * Where operand `v`'s texels of K step kq are (see Panels): its tile's panel starts at texel
 * `${v}panel`, a step is `rows` texels, the texture 2^p.w${v} wide; the lane's first texel at
 * (`${v}x`, `${v}y`), `lane` texels in.
 */
const panelAt = (v: 'a' | 'b', rows: number, lane: string) => `    let p${v} = ${v}panel + u32(kq) * ${rows}u;
    let ${v}x = i32(p${v} & ((1u << p.w${v}) - 1u)) + i32(${lane});
    let ${v}y = i32(p${v} >> p.w${v});
`;

function mmShader(out: DType, tileM: number, lanes: Lanes, aLoad: ALoad = 'texture', bFromBuffer = false): string {
  const na = tileM / lanes;
  const aRows = Array.from({ length: na }, (_, i) => {
    const at = `abase + min(mt * ${tileM}u + lane${i ? ` + ${lanes * i}u` : ''}, p.m - 1u) * p.sR`;
    return `  let ar${i} = ${aLoad === 'vec4' ? `(${at}) / 4u` : at};`;
  });
  const aLoads = Array.from({ length: na }, (_, i) =>
    aLoad === 'texture'
      ? `    let a${i} = textureLoad(ta, vec2<i32>(ax + ${lanes * i}, ay), 0);`
      : aLoad === 'vec4'
        ? `    let a${i} = srcA[ar${i} + u32(kq)];`
        : `    let at${i} = ar${i} + k0 * p.sK;
    let a${i} = ${maskedTexel((at) => `srcA[${at}]`, `at${i}`)};`,
  );
  const fromBuffer = aLoad !== 'texture';
  return `enable subgroups;
${enableF16(out)}struct P { m: u32, n: u32, kq: u32, mpad: u32, npad: u32, outOff: u32${fromBuffer ? ', k: u32, aOff: u32, sR: u32, sK: u32, sB: u32' : ''}${bFromBuffer ? ', bOff: u32, bsR: u32, bsB: u32' : ''}, mtn: u32, ntn: u32, wa: u32, wb: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<${storage(out)}>;
${fromBuffer ? `@group(0) @binding(1) var<storage, read> srcA: array<${aLoad === 'vec4' ? 'vec4<f32>' : 'f32'}>;` : '@group(0) @binding(1) var ta: texture_2d<f32>;'}
${bFromBuffer ? '@group(0) @binding(2) var<storage, read> srcB: array<vec4<f32>>;' : '@group(0) @binding(2) var tb: texture_2d<f32>;'}
@group(0) @binding(3) var<uniform> p: P;
${EPILOGUE_HOOK}
${mmEntry(lanes)}
${fromBuffer ? `  // rows past M read row M - 1 (their products are not stored)
  let abase = p.aOff + bat * p.sB;
${aRows.join('\n')}` : `  // the A tile is panel bat * mtn + mt (see Panels), its K loop one run of texels from \`apanel\`
  let apanel = (bat * p.mtn + mt) * p.kq * ${tileM}u;`}
${bFromBuffer ? `  // B^T's rows (K contiguous, vec4 loads): columns past N read column N - 1 (not stored)
  let bbase = p.bOff + bat * p.bsB;
${Array.from({ length: LANE_N }, (_, c) => `  let br${c} = (bbase + min(nt * ${tileN(lanes)}u + lane * ${LANE_N}u + ${c}u, p.n - 1u) * p.bsR) / 4u;`).join('\n')}` : `  let bpanel = (bat * p.ntn + nt) * p.kq * ${tileN(lanes)}u;`}
  var acc: array<vec4<f32>, ${2 * tileM}>;
  // a loop that tests its bound at the end (K > 0 always): the same loop as a for statement ran
  // 25% slower on llvmpipe (measured at 1024^2: 45 -> 36 ms)
  let kqn = i32(p.kq);
  var kq = 0i;
  loop {
${aLoad === 'scalar' ? '    let k0 = u32(kq) * 4u;\n' : ''}${!fromBuffer ? panelAt('a', tileM, 'lane') : ''}${!bFromBuffer ? panelAt('b', tileN(lanes), `lane * ${LANE_N}u`) : ''}${aLoads.join('\n')}
${bFromBuffer ? Array.from({ length: LANE_N }, (_, c) => `    let b${c} = srcB[br${c} + u32(kq)];`).join('\n') : Array.from({ length: LANE_N }, (_, c) => `    let b${c} = textureLoad(tb, vec2<i32>(bx + ${c}, by), 0);`).join('\n')}
${fmaRows(tileM, lanes)}
    kq++;
    if (kq >= kqn) { break; }
  }
${storeTile(out, tileM, lanes)}
}`;
}

/** A workgroup's tile: `rows` of C (a multiple of the lanes) by lanes x LANE_N columns. */
export interface MatmulTile {
  readonly rows: number;
  readonly lanes: Lanes;
}

export interface TextureMatmulOptions {
  readonly tile: MatmulTile;
  readonly maxScratchBytes?: number;
  readonly maxDim?: number;
  readonly aLoad?: ALoad;
  readonly bFromBuffer?: boolean;
}

export interface TextureMatmulShape {
  batches: number;
  m: number;
  n: number;
  k: number;
  ta: boolean;
  tb: boolean;
}

/** Whether the texture path can take this product on a device with this texture limit. */
export function textureMatmulFits(s: TextureMatmulShape, maxDim: number, tile: MatmulTile): boolean {
  const mpad = Math.ceil(s.m / tile.rows) * tile.rows;
  const npad = Math.ceil(s.n / tileN(tile.lanes)) * tileN(tile.lanes);
  return s.k > 0 && s.m > 0 && s.n > 0 && Math.ceil(s.k / 4) <= maxDim && mpad <= maxDim && npad <= maxDim;
}

/** how many K values of a row one load of the packing kernel takes (see packShader) */
function packWidth(dt: DType, [sR, sK, sB]: readonly number[], k: number, rows: number): number {
  if (dt !== 'f32') return 1;
  if (sR === 1 && sK !== 1) return rows % 4 === 0 && sK % 4 === 0 && sB % 4 === 0 ? 4 : 1;
  if (sK !== 1) return 1;
  return [4, 2].find((w) => k % w === 0 && sR % w === 0 && sB % w === 0) ?? 1;
}

const TEXEL_BYTES = 16;
/** buffer-to-texture copies need rows a multiple of 256 bytes apart */
const COPY_ROW_ALIGN = 256;

/** One operand into its texture: `batches` batches from batch `b0` on, rows `rowsPad` apart. */
export interface PackRequest {
  readonly input: number;
  /** the texture */
  readonly key: string;
  readonly label: string;
  readonly rows: number;
  readonly rowsPad: number;
  /** values per row (the texture holds ceil(k / 4) texels per row, zero past k) */
  readonly k: number;
  /** (row stride, k stride, batch stride) over the stored buffer */
  readonly str: readonly number[];
  readonly dt: DType;
  readonly b0: number;
  readonly batches: number;
  /** the texture's height in rows (the largest group of batches it holds) */
  readonly height: number;
  readonly maxScratchBytes: number;
  /** the panel layout to pack into (matmul's operands), else rows of the texture are rows of the operand */
  readonly panel?: Panels;
}

/**
 * Panels: a matmul operand as panels of `rows` rows (a tile's rows of A, or columns of B), each
 * panel K step by K step, a step's `rows` texels side by side: texel (panel * kq_count + kq) *
 * rows + j of a texture `width` texels wide (a power of two, as `rows` is). One K step of a tile is
 * then `rows` neighbouring texels and a tile's whole K loop one stream through memory, which the
 * CPU prefetches, where rows of the operand along texture rows made each row of the tile a
 * stream of its own (raw kernel, 1024^2: 40.4 -> 33.0 ms at 8 lanes, 29.2 -> 26.0 at 16 lanes
 * with 128-row tiles). Panels side by side in a wider texture, each K step a texture row, were
 * as slow as rows once two shared a row (K steps 2 kB apart alias in the L1 cache).
 */
export interface Panels {
  readonly rows: number;
  readonly width: number;
  readonly height: number;
}

const log2 = (x: number) => Math.round(Math.log2(x));

/**
 * The panel layout for `totalRows` rows (a multiple of `rows`, a power of two) of `kq` texels:
 * the narrowest texture whose height stays within `maxDim`. It fits whenever the rows would
 * (totalRows and kq at most maxDim: at most maxDim^2 texels).
 */
export function panelsFor(totalRows: number, rows: number, kq: number, maxDim: number): Panels {
  const texels = totalRows * kq;
  let width = rows;
  while (Math.ceil(texels / width) > maxDim) width *= 2;
  if (width > maxDim) throw new Error(`matmul operand of ${totalRows} x ${kq} texels exceeds a ${maxDim}^2 texture`);
  return { rows, width, height: Math.ceil(texels / width) };
}

/**
 * The kernel (or copy) that puts one operand into its texture: a plain copy when the rows are
 * already in the texture's layout (f32, K contiguous, rows 256-byte aligned), else a packing
 * kernel into a scratch buffer that a copy moves into the texture, else (scratch too large for a
 * binding) a packing kernel with texture stores.
 */
export function packOperand(q: PackRequest): RawKernel {
  const { input, key, label, rows, rowsPad, k, str, dt, b0, batches, panel } = q;
  const kq = Math.ceil(k / 4);
  if (!panel && copyable(dt, str, k)) {
    const regions = Array.from({ length: batches }, (_, b) => ({ offset: (b0 + b) * str[2] * 4, y: b * rowsPad, rows }));
    return { wgsl: '', bindings: [{ kind: 'in', input }], groups: 0, label: `copy${label}`, copy: { key, from: 'in', width: kq, bytesPerRow: k * 4, regions } };
  }
  const rowsAcross = str[0] === 1;
  const width = packWidth(dt, str, k, rows);
  const [gx, gy] = rowsAcross ? [width === 4 ? rowsPad / 4 : rowsPad, kq] : [kq, rowsPad];
  const groups = [Math.ceil(gx / 8), Math.ceil(gy / 8), batches] as const;
  // the texture, and the scratch buffer holding this group's texture rows, `pitch` texels apart
  const [texWidth, texHeight] = panel ? [panel.width, panel.height] : [kq, q.height];
  const texRows = panel ? Math.ceil((batches * rowsPad * kq) / panel.width) : batches * rowsPad;
  const pitch = Math.ceil((texWidth * TEXEL_BYTES) / COPY_ROW_ALIGN) * (COPY_ROW_ALIGN / TEXEL_BYTES);
  const shifts = panel ? [log2(panel.rows), log2(panel.width)] : [0, 0];
  const uniform = { kind: 'uniform' as const, data: Uint32Array.from([rows, k, rowsPad, kq, str[0], str[1], str[2], pitch, b0 * str[2], ...shifts]) };
  const scratch = pitch * TEXEL_BYTES * texRows;
  if (scratch <= q.maxScratchBytes) {
    return {
      wgsl: packShader(dt, rowsAcross, false, width, !!panel),
      bindings: [{ kind: 'in', input }, { kind: 'scratch', bytes: scratch }, uniform],
      groups,
      label: `pack${label}`,
      copy: { key, from: 'scratch', width: texWidth, bytesPerRow: pitch * TEXEL_BYTES, regions: [{ offset: 0, y: 0, rows: texRows }] },
    };
  }
  return {
    wgsl: packShader(dt, rowsAcross, true, 1, !!panel),
    bindings: [{ kind: 'in', input }, { kind: 'texture', key, access: 'write', width: texWidth, height: texHeight }, uniform],
    groups,
    label: `pack${label}`,
  };
}

/** The ways this product's kernel may read A (see ALoad): straight from the buffer only for f32 A. */
export function aLoadsFor(s: TextureMatmulShape, inA: DType): ALoad[] {
  if (inA !== 'f32') return ['texture'];
  const [sR, sK, sB] = aStrides(s);
  return sK === 1 && s.k % 4 === 0 && sR % 4 === 0 && sB % 4 === 0 ? ['texture', 'vec4', 'scalar'] : ['texture', 'scalar'];
}

/** Whether B^T can be read straight from its buffer with vec4 loads: f32 rows of K contiguous values, K a multiple of 4. */
export const bReadable = (s: TextureMatmulShape, inB: DType) => inB === 'f32' && s.tb && s.k % 4 === 0;

/**
 * Whether A is stored as f32 rows of K contiguous values, 256-byte aligned: the layout a row
 * texture takes by a plain copy, and the cheapest to pack into panels (the matmul's fallback
 * rules that test it were measured when such an operand was copied into rows).
 */
export const alignedRowsA = (s: TextureMatmulShape, inA: DType) => copyable(inA, aStrides(s), s.k);
/** The same for B^T. */
export const alignedRowsB = (s: TextureMatmulShape, inB: DType) => copyable(inB, bStrides(s), s.k);
const copyable = (dt: DType, str: readonly number[], k: number) => dt === 'f32' && str[1] === 1 && str[0] === k && (k * 4) % COPY_ROW_ALIGN === 0;

/** logical A [M, K] as (row stride, k stride, batch stride) over the stored buffer */
const aStrides = (s: TextureMatmulShape) => (s.ta ? [1, s.m, s.m * s.k] : [s.k, 1, s.m * s.k]);
/** logical B^T [N, K] likewise */
const bStrides = (s: TextureMatmulShape) => (s.tb ? [s.k, 1, s.n * s.k] : [1, s.n, s.n * s.k]);

/**
 * The kernels of one product: per group of batches whose operands fit a texture's height (all
 * of them, mostly), pack or copy A and B into the two textures (A only when it is read from its
 * texture), then multiply.
 */
export function textureMatmulKernels(s: TextureMatmulShape, inA: DType, inB: DType, out: DType, o: TextureMatmulOptions): RawKernel[] {
  const { batches, m, n, k } = s;
  const { maxScratchBytes = 1 << 27, maxDim = 8192, tile, aLoad = 'texture', bFromBuffer = false } = o;
  const { rows: tileM, lanes } = tile;
  const kq = Math.ceil(k / 4);
  const mpad = Math.ceil(m / tileM) * tileM;
  const npad = Math.ceil(n / tileN(lanes)) * tileN(lanes);
  const aStr = aStrides(s);
  const bStr = bStrides(s);
  const per = Math.min(batches, Math.max(1, Math.floor(maxDim / Math.max(mpad, npad))));
  const chunked = per < batches;
  const fromBuffer = aLoad !== 'texture';
  const aPanels = panelsFor(per * mpad, tileM, kq, maxDim);
  const bPanels = panelsFor(per * npad, tileN(lanes), kq, maxDim);
  const pack = (input: number, key: string, rows: number, rowsPad: number, str: number[], dt: DType, b0: number, batchesHere: number, panel: Panels): RawKernel =>
    packOperand({ input, key, label: chunked ? `${key}@${b0}` : key, rows, rowsPad, k, str, dt, b0, batches: batchesHere, height: per * rowsPad, maxScratchBytes, panel });
  const texture = (key: string, panel: Panels) => ({ kind: 'texture', key, access: 'read', width: panel.width, height: panel.height }) as const;
  const mt = mpad / tileM;
  const nt = npad / tileN(lanes);
  // every group of batches reuses the same two textures (sized for the largest group)
  const kernels: RawKernel[] = [];
  for (let b0 = 0; b0 < batches; b0 += per) {
    const nb = Math.min(per, batches - b0);
    kernels.push(...(fromBuffer ? [] : [pack(0, 'A', m, mpad, aStr, inA, b0, nb, aPanels)]), ...(bFromBuffer ? [] : [pack(1, 'B', n, npad, bStr, inB, b0, nb, bPanels)]), {
      wgsl: mmShader(out, tileM, lanes, aLoad, bFromBuffer),
      bindings: [
        { kind: 'out' },
        fromBuffer ? { kind: 'in', input: 0 } : texture('A', aPanels),
        bFromBuffer ? { kind: 'in', input: 1 } : texture('B', bPanels),
        { kind: 'uniform', data: Uint32Array.from([m, n, kq, mpad, npad, b0 * m * n, ...(fromBuffer ? [k, b0 * aStr[2], ...aStr] : []), ...(bFromBuffer ? [b0 * bStr[2], bStr[0], bStr[2]] : []), mt, nt, log2(aPanels.width), log2(bPanels.width)]) },
      ],
      groups: [nt, mt, nb],
      label: chunked ? `mm@${b0}` : 'mm',
    });
  }
  return kernels;
}
