/**
 * The visual fusion module of Omni-Emotion (PAPER.md 1.5 and "Decisions"): how the general visual
 * tokens V_t (SigLIP -> projector -> 2x pooling, Nv per frame) and the face tokens F_t (face
 * encoder -> pooling -> face projector, Nf per frame) of the T frames become the sequence that
 * replaces `<video>`. Face and visual sequences differ in length, so they are joined along the
 * sequence:
 *
 *   video_concat    (default, best in the paper)  [V_1 .. V_T] newline [F_1 .. F_T]
 *   frame_concat                                  [V_1 F_1 V_2 F_2 .. V_T F_T] newline
 *   cross_attention                               [V_1 .. V_T] newline [F'_1 .. F'_T],
 *        F'_t = F_t + out_proj(MHA(q = q_proj(LN_q(F_t)), k = k_proj(LN_kv(V_t)), v = v_proj(LN_kv(V_t))))
 *        one layer, residual, multi-head (`fusion_num_heads`), the face tokens of frame t query
 *        that frame's visual tokens only.
 *
 * "newline" is LLaVA-OneVision's one learned `image_newline` token (mm_newline_position
 * "one_token"; none with "no_token"). With only one of the two streams (a modality ablation, or
 * stage 2's face-only samples) the sequence is that stream, the newline after the visual tokens.
 * The cross-attention's parameters are `fusion.cross_attn.{norm_q, norm_kv, q_proj, k_proj,
 * v_proj, out_proj}.{weight, bias}` (PyTorch default initialisation).
 */
import type { Tensor } from '../../dsl/tensor';
import { concat } from '../../dsl/tensor';
import { attention, layerNorm } from '../../compiler/composites';
import { init, param } from '../../dsl/params';
import type { ParamSpec } from '../../dsl/params';
import type { Fusion } from './config';

// ------------------------------------------------------------------ parameters

type Lin<T> = { weight: T; bias: T };
type Norm<T> = { weight: T; bias: T };

export interface CrossAttentionParams<T = Tensor> {
  norm_q: Norm<T>;
  norm_kv: Norm<T>;
  q_proj: Lin<T>;
  k_proj: Lin<T>;
  v_proj: Lin<T>;
  out_proj: Lin<T>;
}
export interface FusionParams<T = Tensor> {
  cross_attn: CrossAttentionParams<T>;
}

const linear = (inF: number, outF: number): Lin<ParamSpec> => {
  const bound = 1 / Math.sqrt(inF);
  return { weight: param([outF, inF], init.kaimingUniform(Math.sqrt(5))), bias: param([outF], init.uniform(-bound, bound)) };
};
const norm = (d: number): Norm<ParamSpec> => ({ weight: param([d], init.ones()), bias: param([d], init.zeros()) });

/** The fusion's own parameters: only cross-attention has any. */
export function fusionParams(kind: Fusion, hidden: number): FusionParams<ParamSpec> | undefined {
  if (kind !== 'cross_attention') return undefined;
  return { cross_attn: { norm_q: norm(hidden), norm_kv: norm(hidden), q_proj: linear(hidden, hidden), k_proj: linear(hidden, hidden), v_proj: linear(hidden, hidden), out_proj: linear(hidden, hidden) } };
}

/** 4 linears H x H with bias and two LayerNorms for cross-attention, 0 otherwise. */
export const fusionParamCount = (kind: Fusion, hidden: number): number => (kind === 'cross_attention' ? 4 * (hidden * hidden + hidden) + 4 * hidden : 0);

// ------------------------------------------------------------------ forward

/** Length of the `<video>` sequence: visual tokens, newline and face tokens of `frames` frames. */
export function fusedLength(kind: Fusion, frames: number, visualPerFrame: number, facePerFrame: number, newline: boolean): number {
  void kind; // every variant keeps both streams' lengths (cross-attention's output has the face tokens' length)
  return frames * (visualPerFrame + facePerFrame) + (newline && visualPerFrame > 0 ? 1 : 0);
}

/**
 * One cross-attention layer, per frame: face [N, Nf, H] queries visual [N, Nv, H] -> [N, Nf, H]
 * (residual on the face tokens).
 */
export function crossAttention(p: CrossAttentionParams, heads: number, face: Tensor, visual: Tensor, eps = 1e-5): Tensor {
  const [N, Nf, H] = face.shape;
  const Nv = visual.shape[1];
  if (visual.rank !== 3 || visual.shape[0] !== N || visual.shape[2] !== H) throw new Error(`fusion cross_attention: visual tokens [${visual.shape.join(', ')}] do not match face tokens [${face.shape.join(', ')}] (frames and width)`);
  if (H % heads !== 0) throw new Error(`fusion cross_attention: ${heads} heads do not divide the width ${H}`);
  const hd = H / heads;
  const lin = (l: Lin<Tensor>, x: Tensor) => x.matmul(l.weight.transpose()).add(l.bias);
  const split = (y: Tensor, n: number) => y.reshape([N, n, heads, hd]).transpose(1, 2);
  const q = lin(p.q_proj, layerNorm(face, p.norm_q.weight, p.norm_q.bias, eps));
  const kv = layerNorm(visual, p.norm_kv.weight, p.norm_kv.bias, eps);
  const o = attention(split(q, Nf), split(lin(p.k_proj, kv), Nv), split(lin(p.v_proj, kv), Nv));
  return face.add(lin(p.out_proj, o.transpose(1, 2).reshape([N, Nf, H])));
}

export interface VideoStreams {
  /** general visual tokens per frame [B, T, Nv, H] (absent: no pixel_values) */
  readonly visual?: Tensor;
  /** LLaVA's image_newline [H] (absent: mm_newline_position no_token) */
  readonly newline?: Tensor;
  /** face tokens per frame [B, T, Nf, H] (absent: no face_values) */
  readonly face?: Tensor;
}

export interface FusionOptions {
  readonly params?: FusionParams;
  readonly heads: number;
  readonly eps?: number;
}

/** The sequence that replaces `<video>`: [B, fusedLength(...), H]. */
export function fuseVideo(kind: Fusion, s: VideoStreams, o: FusionOptions): Tensor {
  const { visual, face } = s;
  const ref = visual ?? face;
  if (!ref) throw new Error('fuseVideo: neither visual nor face tokens');
  const [B, T, , H] = ref.shape;
  for (const [name, x] of [['visual', visual], ['face', face]] as const)
    if (x && (x.rank !== 4 || x.shape[0] !== B || x.shape[1] !== T || x.shape[3] !== H)) throw new Error(`fuseVideo: ${name} tokens must be [B = ${B}, T = ${T}, N, H = ${H}], got [${x.shape.join(', ')}]`);
  const flat = (x: Tensor) => x.reshape([B, T * x.shape[2], H]);
  const nl = visual && s.newline ? [s.newline.reshape([1, 1, H]).broadcastTo([B, 1, H])] : [];
  if (!visual) return flat(face!);
  if (!face) return concat([flat(visual), ...nl], 1);
  switch (kind) {
    case 'video_concat':
      return concat([flat(visual), ...nl, flat(face)], 1);
    case 'frame_concat':
      return concat([flat(concat([visual, face], 2)), ...nl], 1);
    case 'cross_attention': {
      if (!o.params) throw new Error('fuseVideo: cross_attention needs the fusion.cross_attn parameters');
      const [Nv, Nf] = [visual.shape[2], face.shape[2]];
      const attended = crossAttention(o.params.cross_attn, o.heads, face.reshape([B * T, Nf, H]), visual.reshape([B * T, Nv, H]), o.eps);
      return concat([flat(visual), ...nl, attended.reshape([B, T * Nf, H])], 1);
    }
  }
}
