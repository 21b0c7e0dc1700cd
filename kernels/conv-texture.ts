/**
 * Convolution as an implicit GEMM on the texture matmul (matmul-texture.ts): the windows are
 * never written out. The zero-padded input, channels last, is packed once into texture A (one
 * texture row per input position, four channels per texel); the weights into texture B (one row
 * per output channel, texels ordered tap by tap, four channels each). Row r of the product is
 * output position o; at tap (kh, kw) its A row is the input position o's window starts at plus
 * the tap's offset, so the K loop runs over taps and, within a tap, over the channel texels,
 * with the matmul's multiply-adds unchanged. Channels are padded to a multiple of four by the
 * caller, so a texel never straddles two taps.
 */
import type { DType } from '../compiler/ir';
import type { RawKernel } from '../compiler/primitive';
import { EPILOGUE_HOOK } from '../compiler/primitive';
import { LANE_N, bLoads, enableF16, fmaRows, mmEntry, packOperand, storage, storeTile, tileN } from './matmul-texture';
import type { Lanes } from './matmul-texture';

/** rows of a tile: four texels of A per lane */
const tileM = (lanes: Lanes) => 4 * lanes;

/** A 2-D window walk (1-D convolutions have one row: hp = oh = kh = 1). */
export interface ConvWindow {
  readonly batches: number;
  /** padded input rows and columns (texture rows per batch: hp * wp) */
  readonly hp: number;
  readonly wp: number;
  /** channels, a multiple of 4 */
  readonly c: number;
  readonly oh: number;
  readonly ow: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly dh: number;
  readonly dw: number;
  /** output channels */
  readonly n: number;
}

/** Whether the texture path can take this convolution on a device with this texture limit. */
export function convTextureFits(w: ConvWindow, maxDim: number, lanes: Lanes): boolean {
  const rows = w.hp * w.wp;
  const cq = w.c / 4;
  return w.c % 4 === 0 && w.oh * w.ow > 0 && w.n > 0 && cq > 0 && rows <= maxDim && cq * w.kh * w.kw <= maxDim && Math.ceil(w.n / tileN(lanes)) * tileN(lanes) <= maxDim;
}

function convMmShader(out: DType, lanes: Lanes): string {
  const TILE_M = tileM(lanes);
  const na = TILE_M / lanes;
  const texels = Array.from({ length: na }, (_, i) => i);
  return `enable subgroups;
${enableF16(out)}struct P { m: u32, n: u32, cq: u32, rows: u32, npad: u32, outOff: u32, ow: u32, kw: u32, taps: u32, shw: u32, sw: u32, dhw: u32, dw: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<${storage(out)}>;
@group(0) @binding(1) var ta: texture_2d<f32>;
@group(0) @binding(2) var tb: texture_2d<f32>;
@group(0) @binding(3) var<uniform> p: P;
${EPILOGUE_HOOK}
${mmEntry(lanes)}
  // each lane's rows of the tile: the input position its output position's window starts at
  // (rows past M take row M - 1's: their products are not stored)
${texels.map((i) => `  let o${i} = min(mt * ${TILE_M}u + lane${i ? ` + ${lanes * i}u` : ''}, p.m - 1u);
  let w${i} = i32(bat * p.rows + (o${i} / p.ow) * p.shw + (o${i} % p.ow) * p.sw);`).join('\n')}
  let brow = i32(nt * ${tileN(lanes)}u + lane * ${LANE_N}u);
  var acc: array<vec4<f32>, ${2 * TILE_M}>;
  // one loop over K = taps x channel texels, the window offset moving on at each tap's end: a
  // loop over taps around a loop over texels ran 10-25% slower on llvmpipe (Whisper's stem:
  // 292 vs 267 ms, 63 vs 59 ms; the im2col matmul 264 and 53 ms)
  let cqn = i32(p.cq);
  let kqn = cqn * i32(p.taps);
  var kq = 0i;
  var cq = 0i;
  var tap = 0u;
${texels.map((i) => `  var arow${i} = w${i};`).join('\n')}
  loop {
${texels.map((i) => `    let a${i} = textureLoad(ta, vec2<i32>(cq, arow${i}), 0);`).join('\n')}
${bLoads('kq', 'brow')}
${fmaRows(TILE_M, lanes)}
    kq++;
    cq++;
    if (cq >= cqn) {
      cq = 0i;
      tap++;
      let off = i32((tap / p.kw) * p.dhw + (tap % p.kw) * p.dw);
${texels.map((i) => `      arow${i} = w${i} + off;`).join('\n')}
    }
    if (kq >= kqn) { break; }
  }
${storeTile(out, TILE_M, lanes)}
}`;
}

/**
 * The kernels of one convolution: input 0 is the padded input [B, hp * wp, c] (channels last),
 * input 1 the weights [n, kh * kw * c] (tap-major); the output [B, oh * ow, n]. The weights are
 * packed once; the input in groups of batches that fit a texture's height.
 */
export function convTextureKernels(w: ConvWindow, out: DType, lanes: Lanes, maxScratchBytes = 1 << 27, maxDim = 8192): RawKernel[] {
  const TILE_N = tileN(lanes);
  const TILE_M = tileM(lanes);
  const rows = w.hp * w.wp;
  const m = w.oh * w.ow;
  const taps = w.kh * w.kw;
  const k = taps * w.c;
  const npad = Math.ceil(w.n / TILE_N) * TILE_N;
  const per = Math.min(w.batches, Math.max(1, Math.floor(maxDim / rows)));
  const chunked = per < w.batches;
  const kernels: RawKernel[] = [
    packOperand({ input: 1, key: 'B', label: 'B', rows: w.n, rowsPad: npad, k, str: [k, 1, 0], dt: 'f32', b0: 0, batches: 1, height: npad, maxScratchBytes }),
  ];
  for (let b0 = 0; b0 < w.batches; b0 += per) {
    const nb = Math.min(per, w.batches - b0);
    const at = chunked ? `@${b0}` : '';
    kernels.push(packOperand({ input: 0, key: 'A', label: `A${at}`, rows, rowsPad: rows, k: w.c, str: [w.c, 1, rows * w.c], dt: 'f32', b0, batches: nb, height: per * rows, maxScratchBytes }), {
      wgsl: convMmShader(out, lanes),
      bindings: [
        { kind: 'out' },
        { kind: 'texture', key: 'A', access: 'read', width: w.c / 4, height: per * rows },
        { kind: 'texture', key: 'B', access: 'read', width: k / 4, height: npad },
        { kind: 'uniform', data: Uint32Array.from([m, w.n, w.c / 4, rows, npad, b0 * m * w.n, w.ow, w.kw, taps, w.sh * w.wp, w.sw, w.dh * w.wp, w.dw]) },
      ],
      groups: [npad / TILE_N, Math.ceil(m / TILE_M), nb],
      label: `mm${at}`,
    });
  }
  return kernels;
}
