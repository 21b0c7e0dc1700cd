/**
 * What feature extraction makes, per model preset: how many frames, the SigLIP frame side, the
 * face-crop side, the audio window and the face-crop rules. The sizes come from the presets
 * themselves (models/omni/presets.ts `PRESET_INPUTS` and each preset's `num_frames`), so a
 * preset and its features cannot drift apart:
 *
 *   preset  frames  pixel_values        face_values         input_features
 *   tiny    4       [4, 3, 64, 64]      [4, 3, 48, 48]      [128, 300]   (3 s)
 *   small   8       [8, 3, 128, 128]    [8, 3, 64, 64]      [128, 600]   (6 s)
 *   paper   8       [8, 3, 384, 384]    [8, 3, 224, 224]    [128, 3000]  (30 s, Whisper's window)
 *
 * `optionsKey` is a stable string of everything that changes the tensors; the feature cache
 * hashes it, so changing any option rebuilds what it changes.
 */
import { createHash } from 'node:crypto';
import { PRESET_INPUTS, PRESETS, presetJson, type PresetName } from '../../models/omni/presets';
import { UserError } from '../../cli/errors';

export { PRESETS, type PresetName };

/** Bumped whenever preprocessing changes in a way that changes the tensors. */
export const FEATURES_VERSION = 1;

export interface FaceCropOptions {
  /** Fraction of the box's width (height) added in total, half on each side: FaceXFormer's
   * `adjust_bbox(margin_percentage=50)` is 0.5. */
  margin: number;
  /** Make the crop square (side = the longer side after the margin), shifted inside the frame
   * and padded with black where it still does not fit. false: FaceXFormer's crop exactly (clipped
   * to the frame, then stretched to the square input). */
  square: boolean;
  /** Minimum detector score for a box to count (face-api's default is 0.5; the tiny face detector
   * scores SynthEmo's drawn faces 0.36-0.95, and tracking discards stray boxes). */
  scoreThreshold: number;
  /** Detector input side (a multiple of 32); 0 picks it from the frame: the frame's longer side
   * rounded up to 32, at most face-api's 416 (never upscale a small frame). */
  detectorInputSize: number;
  /** 0..1: how much each tracked box is pulled towards the mean of its two neighbours (0: off;
   * frames are sampled sparsely, seconds apart, so smoothing is opt-in). */
  smoothing: number;
  /** Side of the centred square used when no face is found in any frame, as a fraction of the
   * frame's shorter side. */
  fallbackScale: number;
}

export interface FeatureOptions {
  preset: PresetName | 'custom';
  /** frames sampled uniformly per clip (T) */
  frames: number;
  /** SigLIP input side S (pixel_values [T, 3, S, S]) */
  frameSize: number;
  /** face encoder input side Sf (face_values [T, 3, Sf, Sf]) */
  faceSize: number;
  /** audio window in seconds: padded with zeros or trimmed to it (30 = Whisper's 3000 frames) */
  audioSeconds: number;
  /** mel bins (128: whisper-large-v3) */
  nMels: number;
  face: FaceCropOptions;
}

export const DEFAULT_FACE_CROP: FaceCropOptions = {
  margin: 0.5,
  square: true,
  scoreThreshold: 0.3,
  detectorInputSize: 0,
  smoothing: 0,
  fallbackScale: 1,
};

export type FeatureOverrides = Partial<Omit<FeatureOptions, 'face' | 'preset'>> & { face?: Partial<FaceCropOptions> };

/** The options of a preset, with overrides (e.g. `{ frames: 16 }`); checked. */
export function featureOptions(preset: PresetName = 'tiny', overrides: FeatureOverrides = {}): FeatureOptions {
  if (!(PRESETS as readonly string[]).includes(preset)) throw new UserError(`unknown preset '${preset}': expected one of ${PRESETS.join(', ')}`);
  const inputs = PRESET_INPUTS[preset];
  const frames = Number(presetJson(preset).num_frames ?? 8);
  const o: FeatureOptions = {
    preset,
    frames: overrides.frames ?? frames,
    frameSize: overrides.frameSize ?? inputs.frameSize,
    faceSize: overrides.faceSize ?? inputs.faceSize,
    audioSeconds: overrides.audioSeconds ?? inputs.seconds,
    nMels: overrides.nMels ?? 128,
    face: { ...DEFAULT_FACE_CROP, ...(overrides.face ?? {}) },
  };
  checkOptions(o);
  return o;
}

const posInt = (v: number) => Number.isInteger(v) && v > 0;

export function checkOptions(o: FeatureOptions): void {
  const bad = (what: string) => {
    throw new UserError(`feature options: ${what}`);
  };
  if (!posInt(o.frames)) bad(`frames must be a positive integer, got ${o.frames}`);
  if (!posInt(o.frameSize)) bad(`frameSize must be a positive integer, got ${o.frameSize}`);
  if (!posInt(o.faceSize)) bad(`faceSize must be a positive integer, got ${o.faceSize}`);
  if (!(o.audioSeconds > 0) || !Number.isInteger(o.audioSeconds * 16000 / 160)) bad(`audioSeconds must be positive and a multiple of 10 ms, got ${o.audioSeconds}`);
  if (!posInt(o.nMels)) bad(`nMels must be a positive integer, got ${o.nMels}`);
  const f = o.face;
  if (!(f.margin >= 0 && f.margin <= 4)) bad(`face.margin must be in [0, 4], got ${f.margin}`);
  if (!(f.scoreThreshold > 0 && f.scoreThreshold < 1)) bad(`face.scoreThreshold must be in (0, 1), got ${f.scoreThreshold}`);
  if (!(f.detectorInputSize === 0 || (posInt(f.detectorInputSize) && f.detectorInputSize % 32 === 0))) bad(`face.detectorInputSize must be 0 (automatic) or a positive multiple of 32, got ${f.detectorInputSize}`);
  if (!(f.smoothing >= 0 && f.smoothing < 1)) bad(`face.smoothing must be in [0, 1), got ${f.smoothing}`);
  if (!(f.fallbackScale > 0 && f.fallbackScale <= 1)) bad(`face.fallbackScale must be in (0, 1], got ${f.fallbackScale}`);
}

/** Samples of the audio window (16 kHz). */
export const audioSamples = (o: FeatureOptions): number => Math.round(o.audioSeconds * 16000);
/** Log-mel frames of the audio window (hop 160). */
export const melFrames = (o: FeatureOptions): number => Math.floor(audioSamples(o) / 160);

/** The tensor shapes of one clip's features. */
export function featureShapes(o: FeatureOptions): { pixel_values: number[]; face_values: number[]; input_features: number[] } {
  return {
    pixel_values: [o.frames, 3, o.frameSize, o.frameSize],
    face_values: [o.frames, 3, o.faceSize, o.faceSize],
    input_features: [o.nMels, melFrames(o)],
  };
}

/** A stable description of everything that changes the tensors (key order fixed). `detector`
 * names the face detector in use ('tiny-face-detector', 'none', or a custom name). */
export function optionsKey(o: FeatureOptions, detector: string): string {
  const f = o.face;
  return JSON.stringify({
    v: FEATURES_VERSION,
    frames: o.frames,
    frameSize: o.frameSize,
    faceSize: o.faceSize,
    audioSeconds: o.audioSeconds,
    nMels: o.nMels,
    face: [f.margin, f.square, f.scoreThreshold, f.detectorInputSize, f.smoothing, f.fallbackScale],
    detector,
  });
}

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
