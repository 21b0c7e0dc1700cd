/**
 * extractFeatures: one clip -> the three inputs of the Omni-Emotion encoders.
 *
 *   video --decodeFrames (T frames, uniform, source size)--+--> SigLIP preprocessing   -> pixel_values   [T, 3, S, S]
 *                                                          +--> face track + crops     -> face_values    [T, 3, Sf, Sf]
 *   audio --decodeAudio (16 kHz mono)-- pad/trim to the preset's window -- log-mel     -> input_features [n_mels, frames]
 *
 * The audio window is the preset's (tiny 3 s -> 300 frames, small 6 s -> 600, paper 30 s ->
 * Whisper's 3000); the log-mel runs on the adapter (models/audio/logmel.ts), its max clamp taken
 * over the padded window as Hugging Face's extractor does. A video without an audio stream gets
 * the features of silence and `meta.audioMissing` (the `<audio>` placeholder still needs tokens).
 *
 * It runs in two phases so that a data set pass can overlap them: `decodeMedia` (ffmpeg, child
 * processes) and `computeFeatures` (sharp, the face detector and the log-mel on the adapter).
 */
import { probeMedia, decodeFrames, decodeAudio, MediaError, type Frames, type MediaInfo } from '../media/index';
import { computeLogMel } from '../../models/audio/logmel';
import type { BackendName } from '../../runtime/gpu';
import { writeSafetensorsAtomic, type TensorToWrite } from '../../runtime/safetensors';
import { audioSamples, featureShapes, melFrames, optionsKey, type FeatureOptions } from './options';
import { faceValues, siglipPixelValues, trackFaces, type BoxSource, type CropRegion, type FaceDetector } from './preprocess';
import { tinyFaceDetector } from './detector';

export const FEATURE_FIELDS = ['input_features', 'pixel_values', 'face_values'] as const;
export type FeatureField = (typeof FEATURE_FIELDS)[number];

/** Where a sample's media is: a video (frames, and its audio unless `audio` is given) and/or audio. */
export interface MediaSources {
  video?: string;
  audio?: string;
}

export interface FeatureMeta {
  preset: string;
  /** of the video stream (0 without video) */
  fps: number;
  /** seconds, of the video file (else the audio file) as the container says */
  duration: number;
  width: number;
  height: number;
  /** source frame index and time (s) of each sampled frame */
  frameIndices: number[];
  frameTimes: number[];
  /** samples decoded (at most the window; 16 kHz) and whether the window was padded */
  audioSamples: number;
  audioPadded: boolean;
  /** the video has no audio stream: input_features are those of silence */
  audioMissing: boolean;
  /** no face was found in any frame: the face crops are centred squares */
  faceFallback: boolean;
  /** frames where the detector found the tracked face */
  facesDetected: number;
  /** per frame: the face box [x, y, w, h] (before the margin), how it was obtained, and the crop */
  faceBoxes: number[][];
  faceSources: BoxSource[];
  faceCrops: CropRegion[];
  detector: string;
}

export interface Features {
  /** [n_mels, frames] */
  input_features?: Float32Array;
  /** [T, 3, S, S] */
  pixel_values?: Float32Array;
  /** [T, 3, Sf, Sf] */
  face_values?: Float32Array;
  shapes: Partial<Record<FeatureField, number[]>>;
  meta: FeatureMeta;
}

export interface ExtractContext {
  /** the face detector; null: always the centre crop. Default: the tiny face detector. */
  detector?: FaceDetector | null;
  /** adapter for the log-mel and the detector (default: the runtime's default) */
  backend?: BackendName;
}

export interface DecodedMedia {
  sources: MediaSources;
  video?: { frames: Frames; info: MediaInfo };
  /** 16 kHz mono, at most the window; undefined without an audio source */
  audio?: Float32Array;
  audioMissing: boolean;
  duration: number;
}

const sourcesOf = (media: string | MediaSources): MediaSources => (typeof media === 'string' ? { video: media } : media);

/** Phase 1: ffmpeg decoding (throws MediaError for a bad file). */
export async function decodeMedia(media: string | MediaSources, o: FeatureOptions): Promise<DecodedMedia> {
  const sources = sourcesOf(media);
  if (sources.video === undefined && sources.audio === undefined) throw new Error('decodeMedia: no video and no audio given');
  let video: DecodedMedia['video'];
  let duration = 0;
  let audioFrom = sources.audio;
  let audioMissing = false;
  let info: MediaInfo | undefined;
  if (sources.video !== undefined) {
    info = await probeMedia(sources.video);
    if (!info.hasVideo) throw new MediaError('no-video', sources.video, 'has no video stream');
    duration = info.duration;
    if (audioFrom === undefined) {
      if (info.hasAudio) audioFrom = sources.video;
      else audioMissing = true;
    }
  }
  // the frames and the audio come from two ffmpeg processes: run them side by side
  const [frames, audio] = await Promise.all([
    sources.video !== undefined ? decodeFrames(sources.video, { count: o.frames, info: info! }) : undefined,
    audioFrom !== undefined ? decodeAudio(audioFrom, { maxSeconds: o.audioSeconds }) : undefined,
  ]);
  if (frames) video = { frames, info: info! };
  if (sources.video === undefined && audioFrom !== undefined) duration = (await probeMedia(audioFrom)).duration;
  return { sources, video, audio, audioMissing, duration };
}

/** Pads with zeros or trims to n samples. */
export function padOrTrimAudio(samples: Float32Array, n: number): Float32Array {
  if (samples.length === n) return samples;
  const out = new Float32Array(n);
  out.set(samples.subarray(0, Math.min(n, samples.length)));
  return out;
}

/** Phase 2: preprocessing, face tracking and the log-mel. */
export async function computeFeatures(d: DecodedMedia, o: FeatureOptions, ctx: ExtractContext = {}): Promise<Features> {
  const detector = ctx.detector === undefined ? tinyFaceDetector(ctx.backend) : ctx.detector;
  const shapes = featureShapes(o);
  const out: Features = {
    shapes: {},
    meta: {
      preset: o.preset, fps: 0, duration: d.duration, width: 0, height: 0, frameIndices: [], frameTimes: [],
      audioSamples: 0, audioPadded: false, audioMissing: d.audioMissing, faceFallback: false, facesDetected: 0,
      faceBoxes: [], faceSources: [], faceCrops: [], detector: detector?.name ?? 'none',
    },
  };
  if (d.video) {
    const { frames, info } = d.video;
    out.pixel_values = await siglipPixelValues(frames, o.frameSize);
    const track = await trackFaces(frames, detector, o.face);
    const faces = await faceValues(frames, track, o.faceSize, o.face);
    out.face_values = faces.values;
    out.shapes.pixel_values = shapes.pixel_values;
    out.shapes.face_values = shapes.face_values;
    Object.assign(out.meta, {
      fps: info.fps, width: frames.width, height: frames.height, frameIndices: frames.indices, frameTimes: frames.times,
      faceFallback: track.fallback, facesDetected: track.detected,
      faceBoxes: track.boxes.map((b) => b.map((v) => Math.round(v * 100) / 100)), faceSources: track.sources, faceCrops: faces.regions,
    });
  }
  if (d.audio !== undefined || d.audioMissing) {
    const n = audioSamples(o);
    const got = d.audio?.length ?? 0;
    const samples = padOrTrimAudio(d.audio ?? new Float32Array(0), n);
    const mel = await computeLogMel(samples, { nMels: o.nMels, backend: ctx.backend });
    if (mel.shape[1] !== o.nMels || mel.shape[2] !== melFrames(o)) throw new Error(`log-mel gave [${mel.shape.join(', ')}], expected [1, ${o.nMels}, ${melFrames(o)}]`);
    out.input_features = mel.data as Float32Array;
    out.shapes.input_features = shapes.input_features;
    out.meta.audioSamples = Math.min(got, n);
    out.meta.audioPadded = got < n;
  }
  return out;
}

/** One clip's features (a video path, or separate video and audio files). */
export async function extractFeatures(media: string | MediaSources, o: FeatureOptions, ctx: ExtractContext = {}): Promise<Features> {
  return computeFeatures(await decodeMedia(media, o), o, ctx);
}

/** The tensors of one clip as safetensors entries, under `prefix` + field name. */
export function featureTensors(f: Features, prefix = ''): Record<string, TensorToWrite> {
  const t: Record<string, TensorToWrite> = {};
  for (const k of FEATURE_FIELDS) {
    const data = f[k];
    const shape = f.shapes[k];
    if (data && shape) t[`${prefix}${k}`] = { dtype: 'F32', shape, data };
  }
  return t;
}

/** Writes a clip's features to one safetensors file (atomic: a temporary file, then a rename);
 * the metadata holds `meta` (JSON) and the options key. */
export function writeFeatures(file: string, f: Features, o: FeatureOptions): void {
  writeSafetensorsAtomic(file, featureTensors(f), {
    format: 'omni-emotion-features',
    meta: JSON.stringify(f.meta),
    options: optionsKey(o, f.meta.detector),
  });
}
