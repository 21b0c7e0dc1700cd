/**
 * From Whisper's encoder output to LLM tokens (the Omni-Emotion audio path, as HumanOmni builds it):
 *
 *   input_features [B, mels, 3000] -> Whisper encoder -> [B, 1500, d]
 *   -> avg_pool1d(kernel 3, stride 3) over time (PyTorch floor mode, no padding) -> [B, 500, d]
 *   -> audio projector `mlp2x_gelu`: Linear(d -> H) - GELU (exact erf) - Linear(H -> H) -> [B, 500, H]
 *
 * The projector's parameter names are those of HumanOmni's `nn.Sequential(Linear, GELU, Linear)`:
 * `0.weight` [H, d], `0.bias` [H], `2.weight` [H, H], `2.bias` [H] (the GELU, index 1, holds none).
 */
import type { Tensor } from '../../dsl/tensor';
import { avgPool1d } from '../../dsl/ops';
import { gelu } from '../../compiler/composites';
import { init, param } from '../../dsl/params';
import type { ParamSpec } from '../../dsl/params';
import type { WhisperEncoderConfig, WhisperEncoderParams } from './whisper';
import { whisperEncoder, whisperEncoderParams, whisperOutputFrames } from './whisper';

/** Average pooling over the time axis of [B, T, d]: [B, floor((T - k) / s) + 1, d]. */
export function avgPoolTime(x: Tensor, kernel = 3, stride = kernel): Tensor {
  if (x.rank !== 3) throw new Error(`avgPoolTime: expected [B, T, d], got [${x.shape.join(', ')}]`);
  return avgPool1d(x.transpose(1, 2), kernel, stride).transpose(1, 2);
}

/** Tokens after pooling `frames` encoder frames. */
export const pooledLength = (frames: number, kernel = 3, stride = kernel): number => Math.floor((frames - kernel) / stride) + 1;

export interface AudioProjectorParams<T = Tensor> {
  '0': { weight: T; bias: T };
  '2': { weight: T; bias: T };
}

const linear = (inF: number, outF: number) => {
  const bound = 1 / Math.sqrt(inF);
  return { weight: param([outF, inF], init.kaimingUniform(Math.sqrt(5))), bias: param([outF], init.uniform(-bound, bound)) };
};

/** mlp2x_gelu: Linear(d -> H), GELU, Linear(H -> H), with PyTorch's default initialisation. */
export function audioProjectorParams(d: number, hidden: number): AudioProjectorParams<ParamSpec> {
  return { '0': linear(d, hidden), '2': linear(hidden, hidden) };
}

/** x [..., d] -> [..., H]. */
export function audioProjector(p: AudioProjectorParams, x: Tensor): Tensor {
  const h = gelu(x.matmul(p['0'].weight.transpose()).add(p['0'].bias));
  return h.matmul(p['2'].weight.transpose()).add(p['2'].bias);
}

export interface AudioPathConfig {
  /** the Whisper encoder (whisperLargeV3Config in Omni-Emotion) */
  readonly whisper: WhisperEncoderConfig;
  /** the LLM width H (3584 for Qwen2-7B) */
  readonly hidden_size: number;
  /** temporal pooling, kernel = stride (default 3: 20 ms frames -> 60 ms tokens) */
  readonly pool?: number;
}

export interface AudioPathParams<T = Tensor> {
  encoder: WhisperEncoderParams<T>;
  projector: AudioProjectorParams<T>;
}

export function audioPathParams(c: AudioPathConfig): AudioPathParams<ParamSpec> {
  return { encoder: whisperEncoderParams(c.whisper), projector: audioProjectorParams(c.whisper.d_model, c.hidden_size) };
}

/** Number of audio tokens for `melFrames` input frames (3000 -> 1500 -> 500). */
export const audioTokenCount = (c: AudioPathConfig, melFrames: number): number => pooledLength(whisperOutputFrames(melFrames), c.pool ?? 3);

/** input_features [B, mels, T] -> audio tokens [B, ((T - 1) // 2 + 1) // 3, H]. */
export function audioTokens(c: AudioPathConfig, p: AudioPathParams, inputFeatures: Tensor): Tensor {
  const k = c.pool ?? 3;
  const frames = whisperEncoder(c.whisper, p.encoder, inputFeatures);
  if (frames.shape[1] < k) throw new Error(`audioTokens: ${frames.shape[1]} encoder frames are fewer than the pooling kernel ${k}`);
  return audioProjector(p.projector, avgPoolTime(frames, k, k));
}
