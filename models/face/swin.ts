/**
 * torchvision's SwinTransformer (v1, 0.14 semantics) as FaceXFormer uses it: the `features`
 * Sequential, whose stage outputs FaceXFormer taps. Parameter names are torchvision's under
 * `features.` (FaceXFormer stores them under `backbone.0.`):
 *
 *   0.0        Conv2d(3 -> C, k = s = patch), no padding (trailing pixels ignored)
 *   0.2        LayerNorm(C) in NHWC                       (0.1 is a Permute)
 *   1,3,5,7    stages: lists of SwinTransformerBlock (norm1, attn.{qkv, proj,
 *              relative_position_bias_table}, norm2, mlp.0, mlp.3)
 *   2,4,6      PatchMerging (norm [4C], reduction [2C, 4C], no bias)
 *
 * Everything runs in NHWC, as torchvision does. torchvision's block:
 *   y = norm1(x); zero-pad bottom/right to multiples of the window (padded tokens are NOT
 *   masked); per axis the shift (window // 2 on odd blocks) becomes 0 when window >= padded
 *   size; roll by -shift; windows; multi-head attention with the relative position bias and,
 *   when shifted, the -100 mask between regions; proj; reverse the windows, roll back, crop;
 *   x += that; x += mlp.3(gelu(mlp.0(norm2(x)))).
 * Here the same computation is arranged per stage (see StagePlan): the residual stream stays
 * padded for the whole stage and odd blocks run in the rolled frame, so every block of a stage
 * is the same code with different constants and they share all their kernels. Rolls are slices
 * + concat, windows reshape/permute; both fuse into the kernels that read them. The relative
 * position index is built here (the checkpoint's `relative_position_index` buffer is ignored),
 * linears are 2-D matmuls with the weight transpose folded into the matmul.
 */
import type { Shape, Tensor } from '../../dsl/tensor';
import { concat, constant, wrap } from '../../dsl/tensor';
import { apply } from '../../compiler/primitive';
import { gelu, layerNorm, softmax } from '../../compiler/composites';
import { init, param } from '../../dsl/params';
import type { ParamSpec } from '../../dsl/params';

// ------------------------------------------------------------------ config

/** The Swin fields of the face-encoder config (HF SwinConfig names). */
export interface SwinSettings {
  readonly patch_size: number;
  readonly num_channels: number;
  readonly embed_dim: number;
  readonly depths: readonly number[];
  readonly num_heads: readonly number[];
  readonly window_size: number;
  readonly mlp_ratio: number;
  readonly layer_norm_eps: number;
}

/** Channels of stage i: embed_dim * 2^i. */
export const stageChannels = (c: SwinSettings): number[] => c.depths.map((_, i) => c.embed_dim * 2 ** i);
/** torchvision: MLP hidden = int(C * mlp_ratio). */
export const mlpHidden = (c: SwinSettings, dim: number): number => Math.trunc(dim * c.mlp_ratio);

// ------------------------------------------------------------------ parameters

type Lin<T> = { weight: T; bias: T };
type Norm<T> = { weight: T; bias: T };

export interface SwinBlockParams<T = Tensor> {
  norm1: Norm<T>;
  attn: { qkv: Lin<T>; proj: Lin<T>; relative_position_bias_table: T };
  norm2: Norm<T>;
  mlp: { '0': Lin<T>; '3': Lin<T> };
}
export interface PatchMergingParams<T = Tensor> {
  norm: Norm<T>;
  reduction: { weight: T };
}
export interface PatchEmbedParams<T = Tensor> {
  '0': Lin<T>;
  '2': Norm<T>;
}
/** torchvision `features`: index 0 patch embed, odd indices stages, even indices >= 2 merging. */
export type SwinFeaturesParams<T = Tensor> = Record<string, PatchEmbedParams<T> | SwinBlockParams<T>[] | PatchMergingParams<T>>;

const linear = (inF: number, outF: number): Lin<ParamSpec> => ({
  weight: param([outF, inF], init.truncatedNormal(0.02)),
  bias: param([outF], init.zeros()),
});
export const norm = (d: number): Norm<ParamSpec> => ({ weight: param([d], init.ones()), bias: param([d], init.zeros()) });

export function swinBlockParams(c: SwinSettings, dim: number, heads: number): SwinBlockParams<ParamSpec> {
  const ws = c.window_size;
  const hid = mlpHidden(c, dim);
  return {
    norm1: norm(dim),
    attn: {
      qkv: linear(dim, 3 * dim),
      proj: linear(dim, dim),
      relative_position_bias_table: param([(2 * ws - 1) ** 2, heads], init.truncatedNormal(0.02)),
    },
    norm2: norm(dim),
    mlp: { '0': linear(dim, hid), '3': linear(hid, dim) },
  };
}

/** The parameter tree of torchvision's `features` (keys '0'..'2n-1'). */
export function swinFeaturesParams(c: SwinSettings): SwinFeaturesParams<ParamSpec> {
  const ch = stageChannels(c);
  const p = c.patch_size;
  const out: SwinFeaturesParams<ParamSpec> = {
    '0': {
      '0': { weight: param([c.embed_dim, c.num_channels, p, p], init.kaimingUniform(Math.sqrt(5))), bias: param([c.embed_dim], init.zeros()) },
      '2': norm(c.embed_dim),
    },
  };
  c.depths.forEach((depth, i) => {
    out[String(2 * i + 1)] = Array.from({ length: depth }, () => swinBlockParams(c, ch[i], c.num_heads[i]));
    if (i < c.depths.length - 1) out[String(2 * i + 2)] = { norm: norm(4 * ch[i]), reduction: { weight: param([2 * ch[i], 4 * ch[i]], init.truncatedNormal(0.02)) } };
  });
  return out;
}

/** Parameters of `features` from the config alone. */
export function swinFeaturesParamCount(c: SwinSettings): number {
  const ch = stageChannels(c);
  const ws = c.window_size;
  let n = c.embed_dim * c.num_channels * c.patch_size ** 2 + c.embed_dim + 2 * c.embed_dim;
  c.depths.forEach((depth, i) => {
    const d = ch[i];
    const h = mlpHidden(c, d);
    const block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (2 * ws - 1) ** 2 * c.num_heads[i] + 2 * d + (d * h + h) + (h * d + d);
    n += depth * block;
    if (i < c.depths.length - 1) n += 8 * d + 8 * d * d;
  });
  return n;
}

// ------------------------------------------------------------------ constants

/** torchvision's relative_position_index: idx(p, q) = (yp - yq + ws - 1) * (2ws - 1) + (xp - xq + ws - 1), [ws^4]. */
export function relativePositionIndex(ws: number): Int32Array {
  const N = ws * ws;
  const out = new Int32Array(N * N);
  for (let p = 0; p < N; p++)
    for (let q = 0; q < N; q++) {
      const [yp, xp, yq, xq] = [Math.floor(p / ws), p % ws, Math.floor(q / ws), q % ws];
      out[p * N + q] = (yp - yq + ws - 1) * (2 * ws - 1) + (xp - xq + ws - 1);
    }
  return out;
}

/** The padded size of a side and its effective shift (0 when window >= padded size). */
export function windowGeometry(side: number, ws: number, shift: number): { padded: number; shift: number } {
  const padded = side + ((ws - (side % ws)) % ws);
  return { padded, shift: ws >= padded ? 0 : shift };
}

/**
 * The shifted-window mask [nW, N, N] in the padded, rolled frame: -100 where the query's and
 * the key's regions differ. Per axis a position is labelled 0 below P - ws, 1 below P - s, 2
 * from P - s (all 0 on an axis whose shift is 0).
 */
export function shiftedWindowMask(Hp: number, Wp: number, ws: number, sh: number, sw: number): Float64Array {
  const label = (i: number, P: number, s: number) => (s === 0 ? 0 : i < P - ws ? 0 : i < P - s ? 1 : 2);
  const nh = Hp / ws;
  const nw = Wp / ws;
  const N = ws * ws;
  const out = new Float64Array(nh * nw * N * N);
  for (let wy = 0; wy < nh; wy++)
    for (let wx = 0; wx < nw; wx++) {
      const lab = Array.from({ length: N }, (_, t) => 3 * label(wy * ws + Math.floor(t / ws), Hp, sh) + label(wx * ws + (t % ws), Wp, sw));
      const base = (wy * nw + wx) * N * N;
      for (let p = 0; p < N; p++) for (let q = 0; q < N; q++) out[base + p * N + q] = lab[p] === lab[q] ? 0 : -100;
    }
  return out;
}

// ------------------------------------------------------------------ forward pieces

/**
 * a @ b^T for operands of the same rank and batch dims, with the transpose folded into the
 * matmul primitive's `tb` flag (the DSL's `a.matmul(b.transpose())` materialises b^T as a copy
 * kernel first, and its gradient as another).
 */
export function matmulNT(a: Tensor, b: Tensor): Tensor {
  return wrap(apply('matmul', [a.node, b.node], { ta: false, tb: true }));
}

/** x [..., in] @ W^T (+ b) as one 2-D matmul. */
export function lin(p: { weight: Tensor; bias?: Tensor }, x: Tensor): Tensor {
  const lead = x.shape.slice(0, -1);
  const [outF, inF] = p.weight.shape;
  let y = matmulNT(x.reshape([-1, inF]), p.weight);
  if (p.bias) y = y.add(p.bias);
  return y.reshape([...lead, outF]);
}

/**
 * torch.roll by (sh, sw) (positive: towards higher indices) on axes 1 and 2 of [B, H, W, C], as
 * slices + concat in one level, so it fuses into one kernel.
 */
function roll2d(x: Tensor, sh: number, sw: number): Tensor {
  const [, H, W] = x.shape;
  const kh = ((sh % H) + H) % H;
  const kw = ((sw % W) + W) % W;
  if (kh === 0 && kw === 0) return x;
  const rows = kh === 0 ? [[0, H]] : [[H - kh, H], [0, H - kh]];
  const cols = kw === 0 ? [[0, W]] : [[W - kw, W], [0, W - kw]];
  return concat(rows.map((r) => concat(cols.map((cc) => x.slice([null, r, cc])), 2)), 1);
}

/** Patch embedding: pixels [B, 3, H, W] -> [B, H/p, W/p, C] (conv k = s = p as reshape + matmul), then LayerNorm. */
export function patchEmbed(c: SwinSettings, p: PatchEmbedParams, pixels: Tensor): Tensor {
  const ps = c.patch_size;
  const [B, Cin, Hi, Wi] = pixels.shape;
  const [H, W] = [Math.floor(Hi / ps), Math.floor(Wi / ps)];
  const C = c.embed_dim;
  const patches = pixels
    .slice([null, null, [0, H * ps], [0, W * ps]])
    .reshape([B, Cin, H, ps, W, ps])
    .permute([0, 2, 4, 1, 3, 5])
    .reshape([B * H * W, Cin * ps * ps]);
  const y = matmulNT(patches, p['0'].weight.reshape([C, Cin * ps * ps])).add(p['0'].bias).reshape([B, H, W, C]);
  return layerNorm(y, p['2'].weight, p['2'].bias, c.layer_norm_eps);
}

/**
 * The window geometry of one stage: padded sides, the (per-axis) shift of its odd blocks, and
 * the constants its blocks read. torchvision pads norm1's output and rolls it inside every
 * block; here the residual stream of the whole stage lives in the padded frame and odd blocks
 * run in the rolled frame (roll before, roll back after), which is the same computation because
 * LayerNorm and the MLP act on each token alone, and padded tokens never reach a real one: norm1's
 * output is multiplied by a 0/1 validity mask (rolled with the frame), so they enter attention as
 * zeros, exactly torchvision's zero padding, and they are cropped at the end of the stage. Every
 * block of a stage is then the same code with different constants (the validity mask, the
 * attention mask: zeros on even blocks), so they share all their kernels, forward and backward.
 */
export interface StagePlan {
  readonly H: number;
  readonly W: number;
  readonly Hp: number;
  readonly Wp: number;
  readonly sh: number;
  readonly sw: number;
  readonly ws: number;
  readonly padded: boolean;
  readonly shifted: boolean;
}

export function stagePlan(c: SwinSettings, H: number, W: number): StagePlan {
  const ws = c.window_size;
  const shift = Math.floor(ws / 2);
  const gh = windowGeometry(H, ws, shift);
  const gw = windowGeometry(W, ws, shift);
  return { H, W, Hp: gh.padded, Wp: gw.padded, sh: gh.shift, sw: gw.shift, ws, padded: gh.padded !== H || gw.padded !== W, shifted: gh.shift > 0 || gw.shift > 0 };
}

/** 1 on real tokens, 0 on padding, [Hp, Wp], in the frame rolled by (-sh, -sw). */
export function validityMask(plan: StagePlan, rolled: boolean): Float64Array {
  const { H, W, Hp, Wp } = plan;
  const [sh, sw] = rolled ? [plan.sh, plan.sw] : [0, 0];
  const out = new Float64Array(Hp * Wp);
  for (let i = 0; i < Hp; i++) for (let j = 0; j < Wp; j++) out[i * Wp + j] = (i + sh) % Hp < H && (j + sw) % Wp < W ? 1 : 0;
  return out;
}

export interface BlockConstants {
  /** relative_position_index [N * N] (i32) */
  readonly index: Tensor<Shape, 'i32'>;
  /** 0/1 [Hp, Wp, 1] (padded stages) */
  readonly valid?: Tensor;
  /** additive [nW, heads, N, N] (shifted stages) */
  readonly mask?: Tensor;
}

/** The constants of one block: the validity mask (padded stages) and the attention mask [nW, heads, N, N] (shifted stages). */
function blockConstants(plan: StagePlan, heads: number, odd: boolean, dtype: Tensor['dtype']): BlockConstants {
  const { Hp, Wp, ws } = plan;
  const nW = (Hp / ws) * (Wp / ws);
  const N = ws * ws;
  const rolled = odd && plan.shifted;
  // the index first: kernels bind their buffers in node order, so every block must create its
  // constants in the same order to get the same shaders
  const index = constant(relativePositionIndex(ws), [N * N], 'i32');
  const valid = plan.padded ? constant(validityMask(plan, rolled), [Hp, Wp, 1], dtype) : undefined;
  let mask: Tensor | undefined;
  if (plan.shifted) {
    // built at its full [nW, heads, N, N] shape: a broadcast of a constant would be folded at
    // compile time, and an all-zero one (even blocks) removed, giving even blocks other kernels
    const m = rolled ? shiftedWindowMask(Hp, Wp, ws, plan.sh, plan.sw) : new Float64Array(nW * N * N);
    const full = new Float64Array(nW * heads * N * N);
    for (let w = 0; w < nW; w++) for (let h = 0; h < heads; h++) full.set(m.subarray(w * N * N, (w + 1) * N * N), (w * heads + h) * N * N);
    mask = constant(full, [nW, heads, N, N], dtype);
  }
  return { index, valid, mask };
}

/**
 * Window attention on y [B, Hp, Wp, C] (norm1's output, already padded and rolled): windows,
 * q/k/v, relative position bias (+ mask), softmax, proj, windows merged back -> [B, Hp, Wp, C].
 */
export function windowAttention(c: SwinSettings, p: SwinBlockParams['attn'], heads: number, y: Tensor, index: Tensor<Shape, 'i32'>, mask?: Tensor): Tensor {
  const [B, Hp, Wp, C] = y.shape;
  const ws = c.window_size;
  const [nh, nw] = [Hp / ws, Wp / ws];
  const nW = nh * nw;
  const N = ws * ws;
  const hd = C / heads;
  const windows = y.reshape([B, nh, ws, nw, ws, C]).permute([0, 1, 3, 2, 4, 5]).reshape([B, nW, N, C]);
  // one matmul for q, k and v; each adds its bias slice and splits heads in its own copy kernel
  // (the next matmul's operand), so the biased [.., 3C] tensor is never materialised. Attention
  // runs on [B, nW, heads, N, .] so the bias and the mask broadcast without reshapes.
  const mm = lin({ weight: p.qkv.weight }, windows);
  const part = (i: number) =>
    mm
      .slice([null, null, null, [i * C, (i + 1) * C]])
      .add(p.qkv.bias.slice([[i * C, (i + 1) * C]]))
      .reshape([B, nW, N, heads, hd])
      .transpose(2, 3);
  const [q, k, v] = [part(0).mul(hd ** -0.5), part(1), part(2)];
  // relative position bias [heads, N, N] from the table via the index (+ the shifted-window mask)
  let bias: Tensor = p.relative_position_bias_table.take(index, 0).reshape([N, N, heads]).permute([2, 0, 1]);
  if (mask) bias = bias.add(mask);
  const o = softmax(matmulNT(q, k).add(bias), -1).matmul(v).transpose(2, 3).reshape([B, nW, N, C]);
  const out = lin(p.proj, o);
  return out.reshape([B, nh, nw, ws, ws, C]).permute([0, 1, 3, 2, 4, 5]).reshape([B, Hp, Wp, C]);
}

/** One SwinTransformerBlock on the stage's padded (and, on odd blocks, rolled) residual stream x [B, Hp, Wp, C]. */
export function swinBlock(c: SwinSettings, p: SwinBlockParams, heads: number, x: Tensor, consts: BlockConstants): Tensor {
  const eps = c.layer_norm_eps;
  let y = layerNorm(x, p.norm1.weight, p.norm1.bias, eps);
  if (consts.valid) y = y.mul(consts.valid);
  const x1 = x.add(windowAttention(c, p.attn, heads, y, consts.index, consts.mask));
  const h = gelu(lin(p.mlp['0'], layerNorm(x1, p.norm2.weight, p.norm2.bias, eps)));
  return x1.add(lin(p.mlp['3'], h));
}

/** A stage of blocks on x [B, H, W, C] (torchvision semantics; see StagePlan) -> [B, H, W, C]. */
export function swinStage(c: SwinSettings, blocks: readonly SwinBlockParams[], heads: number, x: Tensor): Tensor {
  const [, H, W] = x.shape;
  const plan = stagePlan(c, H, W);
  let s = x.pad([[0, 0], [0, plan.Hp - H], [0, plan.Wp - W], [0, 0]]);
  blocks.forEach((bp, j) => {
    const odd = j % 2 === 1;
    const rolled = odd && plan.shifted;
    if (rolled) s = roll2d(s, -plan.sh, -plan.sw);
    s = swinBlock(c, bp, heads, s, blockConstants(plan, heads, odd, x.dtype));
    if (rolled) s = roll2d(s, plan.sh, plan.sw);
  });
  return s.slice([null, [0, H], [0, W]]);
}

/** PatchMerging: pad odd sides with zeros, cat (even,even), (odd,even), (even,odd), (odd,odd), LayerNorm(4C), reduction. */
export function patchMerging(c: SwinSettings, p: PatchMergingParams, x: Tensor): Tensor {
  const [B, H, W, C] = x.shape;
  const [H2, W2] = [Math.ceil(H / 2), Math.ceil(W / 2)];
  // [B, H2, 2 (row parity), W2, 2 (col parity), C] -> [B, H2, W2, col, row, C]: channel block
  // index col * 2 + row gives the order x0 (0,0), x1 (row 1), x2 (col 1), x3 (1,1)
  const cat = x
    .pad([[0, 0], [0, H % 2], [0, W % 2], [0, 0]])
    .reshape([B, H2, 2, W2, 2, C])
    .permute([0, 1, 3, 4, 2, 5])
    .reshape([B, H2, W2, 4 * C]);
  return lin(p.reduction, layerNorm(cat, p.norm.weight, p.norm.bias, c.layer_norm_eps));
}

/** torchvision `features` on pixels [B, 3, H, W]: the output [B, H_i, W_i, C_i] of every stage (features[1], [3], ...). */
export function swinStages(c: SwinSettings, p: SwinFeaturesParams, pixels: Tensor): Tensor[] {
  let x: Tensor = patchEmbed(c, p['0'] as PatchEmbedParams, pixels);
  const outs: Tensor[] = [];
  c.depths.forEach((_, i) => {
    if (i > 0) x = patchMerging(c, p[String(2 * i)] as PatchMergingParams, x);
    x = swinStage(c, p[String(2 * i + 1)] as SwinBlockParams[], c.num_heads[i], x);
    outs.push(x);
  });
  return outs;
}

/** Stage sides for an input side: floor(side / patch), then ceil(/2) per merging. */
export function stageSides(c: SwinSettings, side: number): number[] {
  const out: number[] = [];
  let s = Math.floor(side / c.patch_size);
  c.depths.forEach((_, i) => {
    if (i > 0) s = Math.ceil(s / 2);
    out.push(s);
  });
  return out;
}
