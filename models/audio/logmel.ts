/**
 * Whisper's log-mel front end (HF WhisperFeatureExtractor / OpenAI `log_mel_spectrogram`)
 * computed with our own kernels, so it runs on the adapter with the rest of the model:
 *
 *   16 kHz mono audio [B, N]
 *   -> (whisper variant) zero-pad or trim to 30 s = 480000 samples
 *   -> reflect-pad n_fft/2 = 200 samples on both sides  (torch.stft center=True, pad_mode reflect)
 *   -> frames of 400 samples every 160, the last frame dropped: F = N // 160
 *   -> periodic Hann window and a 400-point real DFT, as one matmul with a constant
 *      [400, 2 * 201] matrix (window * cos | window * sin)
 *   -> power |X|^2 -> Slaney mel filterbank [201, n_mels] (0-8000 Hz, Slaney norm)
 *   -> log10(max(mel, 1e-10)) -> max(x, max_over_utterance - 8) -> (x + 4) / 4
 *   -> input_features [B, n_mels, F]   (3000 frames for the 30 s variant)
 *
 * Framing uses no gather: the padded signal is cut into 160-sample blocks [B, F + 2, 160] and
 * frame f is blocks f, f + 1 and the first 80 samples of f + 2 (three strided slices,
 * concatenated), which fuse into the matmul's input.
 *
 * The max of the clamp is taken per utterance (per batch row), over all mels and frames, as HF's
 * batched extractor does. Constants (window, DFT, filterbank) are computed in float64 here and
 * stored as f32.
 */
import type { Tensor } from '../../dsl/tensor';
import { concat, constant } from '../../dsl/tensor';
import { compile } from '../../runtime/compile';
import { spec } from '../../compiler/trace';
import type { BackendName } from '../../runtime/gpu';
import type { HostTensor } from '../../runtime/host';

export const SAMPLE_RATE = 16000;
export const N_FFT = 400;
export const HOP_LENGTH = 160;
export const N_FREQ = N_FFT / 2 + 1; // 201
/** 30 s at 16 kHz: Whisper's fixed input, 3000 frames */
export const CHUNK_SAMPLES = 480000;
export const CHUNK_FRAMES = CHUNK_SAMPLES / HOP_LENGTH;

// ------------------------------------------------------------------ constants

/** Hann window of length n; periodic (torch.hann_window default, scipy `sym=False`) or symmetric. */
export function hannWindow(n: number, periodic = true): Float64Array {
  const m = periodic ? n : n - 1;
  return Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / m));
}

// Slaney mel scale (librosa `htk=False`): linear below 1 kHz, logarithmic above.
const F_SP = 200 / 3;
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP; // 15
const LOG_STEP = Math.log(6.4) / 27;
export const hzToMelSlaney = (f: number): number => (f >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(f / MIN_LOG_HZ) / LOG_STEP : f / F_SP);
export const melToHzSlaney = (m: number): number => (m >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOG_STEP * (m - MIN_LOG_MEL)) : F_SP * m);

export interface MelOptions {
  sampleRate?: number;
  nFft?: number;
  fMin?: number;
  fMax?: number;
}

/**
 * librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm='slaney') transposed:
 * [n_freq, n_mels] row-major (frequency bin f, filter m at f * n_mels + m), float64.
 * This is also HF's `mel_filter_bank(..., norm="slaney", mel_scale="slaney")`.
 */
export function melFilterBank(nMels: number, opts: MelOptions = {}): Float64Array {
  const sr = opts.sampleRate ?? SAMPLE_RATE;
  const nFft = opts.nFft ?? N_FFT;
  const fMin = opts.fMin ?? 0;
  const fMax = opts.fMax ?? sr / 2;
  const nFreq = Math.floor(nFft / 2) + 1;
  const fftFreqs = Float64Array.from({ length: nFreq }, (_, i) => ((sr / 2) * i) / (nFreq - 1));
  const melMin = hzToMelSlaney(fMin);
  const melMax = hzToMelSlaney(fMax);
  const pts = Float64Array.from({ length: nMels + 2 }, (_, i) => melToHzSlaney(melMin + ((melMax - melMin) * i) / (nMels + 1)));
  const out = new Float64Array(nFreq * nMels);
  for (let m = 0; m < nMels; m++) {
    const [lo, c, hi] = [pts[m], pts[m + 1], pts[m + 2]];
    const enorm = 2 / (hi - lo);
    for (let f = 0; f < nFreq; f++) {
      const down = (fftFreqs[f] - lo) / (c - lo);
      const up = (hi - fftFreqs[f]) / (hi - c);
      out[f * nMels + m] = Math.max(0, Math.min(down, up)) * enorm;
    }
  }
  return out;
}

/**
 * The windowed real DFT as a matrix [n_fft, 2 * n_freq]: column k is w[n] cos(2 pi n k / N),
 * column n_freq + k is w[n] sin(2 pi n k / N) (the sign of the imaginary part does not matter
 * for the power). The angle uses (n k) mod N, so it stays exact.
 */
export function dftMatrix(nFft = N_FFT, window: Float64Array = hannWindow(nFft)): Float64Array {
  const nFreq = Math.floor(nFft / 2) + 1;
  const out = new Float64Array(nFft * 2 * nFreq);
  for (let n = 0; n < nFft; n++) {
    for (let k = 0; k < nFreq; k++) {
      const a = (2 * Math.PI * ((n * k) % nFft)) / nFft;
      out[n * 2 * nFreq + k] = window[n] * Math.cos(a);
      out[n * 2 * nFreq + nFreq + k] = window[n] * Math.sin(a);
    }
  }
  return out;
}

const constants = new Map<string, Float64Array>();
const cached = (key: string, make: () => Float64Array) => {
  let v = constants.get(key);
  if (!v) constants.set(key, (v = make()));
  return v;
};

// ------------------------------------------------------------------ the front end

export interface LogMelOptions {
  /** mel bins: 128 (whisper-large-v3) or 80 (earlier Whisper models); default 128 */
  nMels?: number;
  /** pad with zeros or trim to 30 s (480000 samples, 3000 frames) first, as Whisper does; default false */
  pad30s?: boolean;
}

/** Frames the front end gives for `samples` audio samples (after the optional 30 s pad/trim). */
export const logMelFrames = (samples: number, pad30s = false): number => Math.floor((pad30s ? CHUNK_SAMPLES : samples) / HOP_LENGTH);

/** Pads with zeros or trims the last axis to `n` samples. */
export function padOrTrim(audio: Tensor, n = CHUNK_SAMPLES): Tensor {
  const N = audio.shape[audio.rank - 1];
  return audio.pad([...Array(audio.rank - 1).fill([0, 0]), [0, n - N]]);
}

/**
 * Power spectrogram of 16 kHz audio [B, N] (or [N]): [B, F, 201] with F = N // 160 (torch.stft
 * with n_fft 400, hop 160, periodic Hann, center=True, reflect padding; the last frame dropped).
 */
export function powerSpectrogram(audio: Tensor): Tensor {
  const x = audio.rank === 1 ? audio.reshape([1, audio.shape[0]]) : audio;
  if (x.rank !== 2) throw new Error(`log-mel: audio must be [B, samples] or [samples], got [${audio.shape.join(', ')}]`);
  const [B, N] = x.shape;
  const half = N_FFT / 2;
  if (N <= half) throw new Error(`log-mel: reflect padding needs more than ${half} samples, got ${N}`);
  const F = Math.floor(N / HOP_LENGTH);
  // reflect: x[200], ..., x[1] | x | x[N-2], ..., x[N-201]
  const left = x.slice([null, [half, 0, -1]]);
  const right = x.slice([null, [N - 2, N - 2 - half, -1]]);
  const padded = concat([left, x, right], 1); // [B, N + 400]
  // F + 2 blocks of 160 cover every sample a kept frame reads (160 F + 239 < N + 400)
  const blocks = padded.slice([null, [0, HOP_LENGTH * (F + 2)]]).reshape([B, F + 2, HOP_LENGTH]);
  const frames = concat(
    [blocks.slice([null, [0, F]]), blocks.slice([null, [1, F + 1]]), blocks.slice([null, [2, F + 2], [0, N_FFT - 2 * HOP_LENGTH]])],
    2,
  ); // [B, F, 400]
  const dft = constant(cached('dft', () => dftMatrix()), [N_FFT, 2 * N_FREQ]);
  const spec = frames.matmul(dft); // [B, F, 402]
  const re = spec.slice([null, null, [0, N_FREQ]]);
  const im = spec.slice([null, null, [N_FREQ, 2 * N_FREQ]]);
  return re.mul(re).add(im.mul(im));
}

/**
 * Whisper's normalised log-mel features: audio [B, N] (or [N]) at 16 kHz -> [B, n_mels, F].
 * With `pad30s` the audio is first padded/trimmed to 30 s (F = 3000, HF's default); without it
 * F = N // 160 (HF's `max_length = N`).
 */
export function logMelSpectrogram(audio: Tensor, opts: LogMelOptions = {}): Tensor {
  const nMels = opts.nMels ?? 128;
  const x0 = audio.rank === 1 ? audio.reshape([1, audio.shape[0]]) : audio;
  const x = opts.pad30s ? padOrTrim(x0) : x0;
  const power = powerSpectrogram(x); // [B, F, 201]
  const fb = constant(cached(`mel${nMels}`, () => melFilterBank(nMels)), [N_FREQ, nMels]);
  const mel = power.matmul(fb); // [B, F, n_mels]
  const log = mel.maximum(1e-10).log().mul(1 / Math.LN10);
  const top = log.max([1, 2], true); // per utterance
  return log.maximum(top.sub(8)).add(4).div(4).transpose(1, 2);
}

/** The 30 s variant: exactly HF WhisperFeatureExtractor's default output [B, n_mels, 3000]. */
export const whisperLogMel = (audio: Tensor, nMels = 128): Tensor => logMelSpectrogram(audio, { nMels, pad30s: true });

/**
 * Host convenience: features of one clip (Float32Array of 16 kHz samples), compiled for its
 * length and run on `backend` (compiled executables are cached by shape).
 */
export async function computeLogMel(samples: Float32Array, opts: LogMelOptions & { backend?: BackendName } = {}): Promise<HostTensor> {
  const exe = await compile(({ audio }: { audio: Tensor }) => logMelSpectrogram(audio, opts), { audio: spec([1, samples.length]) }, { backend: opts.backend });
  const out = await exe.run({ audio: samples });
  return out[''];
}
