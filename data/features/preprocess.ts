/**
 * Image preprocessing for the two visual encoders, from packed RGB frames [T, H, W, 3]:
 *
 * - SigLIP (LLaVA-OneVision's SigLipImageProcessor, PAPER.md 1.3): resize to S x S with no
 *   aspect preservation, bicubic as PIL, rescale 1/255, normalise with mean 0.5 / std 0.5,
 *   CHW float32 -> pixel_values [T, 3, S, S]. The resize is sharp's `cubic` kernel (Catmull-Rom,
 *   PIL's a = -0.5) on the raw RGB; ECOSYSTEM.md 4 measured it against PIL BICUBIC at 1920 -> 384:
 *   max difference 15, mean 0.24 grey levels, i.e. ~0.1% of the value range after normalisation.
 * - Face (FaceXFormer's inference.py, PAPER.md 1.2): one face box per frame from a detector
 *   (trackFaces), grown by a margin (FaceXFormer: 50%, half on each side), made square, cropped,
 *   resized to Sf x Sf (bicubic), ImageNet mean/std -> face_values [T, 3, Sf, Sf].
 *
 * Face tracking (trackFaces): every frame is run through the detector; the clip's best box
 * anchors a track that is followed frame by frame towards both ends, each frame taking the box
 * that best overlaps the previous one (IoU, then score; a frame whose boxes all miss the track
 * takes its best-scoring box, as after a cut). Frames with no box get one from their neighbours:
 * linear interpolation between the nearest tracked frames on both sides, or a copy of the nearest
 * one at the ends. When no frame has a face, every frame gets a centred square and the result
 * says so (`fallback: true`), so a data set report can list such clips.
 */
import sharp from 'sharp';
import type { FaceCropOptions } from './options';
import { DEFAULT_FACE_CROP } from './options';

// ------------------------------------------------------------------ constants

export const SIGLIP_MEAN = [0.5, 0.5, 0.5] as const;
export const SIGLIP_STD = [0.5, 0.5, 0.5] as const;
/** ImageNet statistics (torchvision; FaceXFormer's transforms). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** Packed RGB frames, as data/media decodeFrames returns them. */
export interface RgbFrames {
  /** count x height x width x 3 */
  data: Uint8Array;
  count: number;
  width: number;
  height: number;
}

/** [x, y, width, height] in pixels of the frame */
export type Box = [number, number, number, number];

// ------------------------------------------------------------------ resize and normalise

/** Bicubic resize of a packed RGB image with sharp (no aspect preservation). */
export async function resizeRgb(rgb: Uint8Array, width: number, height: number, outWidth: number, outHeight: number): Promise<Uint8Array> {
  if (rgb.length !== width * height * 3) throw new Error(`resizeRgb: expected ${width * height * 3} bytes for ${width}x${height} RGB, got ${rgb.length}`);
  if (width === outWidth && height === outHeight) return rgb;
  const buf = await sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width, height, channels: 3 } })
    .resize(outWidth, outHeight, { kernel: 'cubic', fit: 'fill' })
    .raw()
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Packed RGB uint8 [S, S, 3] -> planar float (v / 255 - mean) / std written at `out[offset..]`
 * as [3, S, S] (float64 arithmetic, stored as float32).
 */
export function rgbToChw(rgb: Uint8Array, side: number, mean: readonly number[], std: readonly number[], out: Float32Array, offset = 0): void {
  const plane = side * side;
  if (rgb.length !== plane * 3) throw new Error(`rgbToChw: expected ${plane * 3} bytes for ${side}x${side} RGB, got ${rgb.length}`);
  if (out.length < offset + 3 * plane) throw new Error(`rgbToChw: output too small`);
  for (let c = 0; c < 3; c++) {
    // one table per channel: 256 possible inputs
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = (v / 255 - mean[c]) / std[c];
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = lut[rgb[i * 3 + c]];
  }
}

const frameAt = (f: RgbFrames, t: number): Uint8Array => {
  const n = f.width * f.height * 3;
  return f.data.subarray(t * n, (t + 1) * n);
};

/** SigLIP's pixel_values [T, 3, S, S] from frames of any size. */
export async function siglipPixelValues(frames: RgbFrames, size: number): Promise<Float32Array> {
  const plane = 3 * size * size;
  const out = new Float32Array(frames.count * plane);
  for (let t = 0; t < frames.count; t++) {
    const img = await resizeRgb(frameAt(frames, t), frames.width, frames.height, size, size);
    rgbToChw(img, size, SIGLIP_MEAN, SIGLIP_STD, out, t * plane);
  }
  return out;
}

// ------------------------------------------------------------------ face boxes

/** A detected face: box in pixels, score in (0, 1). */
export interface Detection {
  box: Box;
  score: number;
}

/** Anything that finds faces in one packed RGB frame (the tiny face detector, or a test stub). */
export interface FaceDetector {
  /** names the detector in cache keys and reports */
  readonly name: string;
  detect(rgb: Uint8Array, width: number, height: number, opts: { scoreThreshold: number; inputSize: number }): Promise<Detection[]>;
}

/** How a frame's face box was obtained. */
export type BoxSource = 'detected' | 'interpolated' | 'held' | 'centre';

export interface FaceTrack {
  /** one box per frame, in pixels (before the crop margin) */
  boxes: Box[];
  sources: BoxSource[];
  /** the detector's score where `detected`, else 0 */
  scores: number[];
  /** true when no frame had a face: every box is the centred square */
  fallback: boolean;
  /** frames with a detection */
  detected: number;
}

export function iou(a: Box, b: Box): number {
  const w = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

/** The detector's input side for a frame: the longer side rounded up to 32, within [64, 416]. */
export function autoDetectorSize(width: number, height: number): number {
  return Math.min(416, Math.max(64, Math.ceil(Math.max(width, height) / 32) * 32));
}

/** The centred square fallback box. */
export function centreBox(width: number, height: number, scale = 1): Box {
  const side = Math.max(1, Math.round(Math.min(width, height) * scale));
  return [Math.floor((width - side) / 2), Math.floor((height - side) / 2), side, side];
}

/**
 * One box per frame from per-frame detections (see the file comment). Pure: the detections are
 * given, so the tracking rules are tested without a detector.
 */
export function trackFromDetections(detections: readonly (readonly Detection[])[], width: number, height: number, opts: Pick<FaceCropOptions, 'smoothing' | 'fallbackScale'> = DEFAULT_FACE_CROP): FaceTrack {
  const T = detections.length;
  let best: { t: number; d: Detection } | undefined;
  detections.forEach((ds, t) => ds.forEach((d) => (best === undefined || d.score > best.d.score ? (best = { t, d }) : undefined)));
  if (best === undefined) {
    const c = centreBox(width, height, opts.fallbackScale);
    return { boxes: Array.from({ length: T }, () => [...c] as Box), sources: Array(T).fill('centre'), scores: Array(T).fill(0), fallback: true, detected: 0 };
  }
  const chosen: (Detection | undefined)[] = Array(T).fill(undefined);
  chosen[best.t] = best.d;
  const follow = (from: number, step: number) => {
    let ref = best!.d.box;
    for (let t = from; t >= 0 && t < T; t += step) {
      const ds = detections[t];
      if (ds.length === 0) continue;
      const ranked = [...ds].sort((a, b) => iou(b.box, ref) - iou(a.box, ref) || b.score - a.score);
      const pick = iou(ranked[0].box, ref) > 0 ? ranked[0] : [...ds].sort((a, b) => b.score - a.score)[0];
      chosen[t] = pick;
      ref = pick.box;
    }
  };
  follow(best.t + 1, 1);
  follow(best.t - 1, -1);
  const boxes: Box[] = [];
  const sources: BoxSource[] = [];
  const known = chosen.map((c, t) => (c ? t : -1)).filter((t) => t >= 0);
  for (let t = 0; t < T; t++) {
    const c = chosen[t];
    if (c) {
      boxes.push([...c.box] as Box);
      sources.push('detected');
      continue;
    }
    const prev = [...known].reverse().find((k) => k < t);
    const next = known.find((k) => k > t);
    if (prev !== undefined && next !== undefined) {
      const w = (t - prev) / (next - prev);
      const a = chosen[prev]!.box;
      const b = chosen[next]!.box;
      boxes.push(a.map((v, i) => v + (b[i] - v) * w) as Box);
      sources.push('interpolated');
    } else {
      boxes.push([...chosen[(prev ?? next)!]!.box] as Box);
      sources.push('held');
    }
  }
  if (opts.smoothing > 0 && T > 2) {
    const s = opts.smoothing;
    const raw = boxes.map((b) => [...b]);
    for (let t = 0; t < T; t++) {
      const nb = [raw[t - 1], raw[t + 1]].filter((b): b is number[] => b !== undefined);
      boxes[t] = raw[t].map((v, i) => (1 - s) * v + (s * nb.reduce((acc, b) => acc + b[i], 0)) / nb.length) as Box;
    }
  }
  return { boxes, sources, scores: chosen.map((c) => c?.score ?? 0), fallback: false, detected: known.length };
}

/** Runs the detector on every frame and tracks one face through the clip. */
export async function trackFaces(frames: RgbFrames, detector: FaceDetector | null, opts: FaceCropOptions = DEFAULT_FACE_CROP): Promise<FaceTrack> {
  const detections: Detection[][] = [];
  const inputSize = opts.detectorInputSize || autoDetectorSize(frames.width, frames.height);
  for (let t = 0; t < frames.count; t++) {
    detections.push(detector ? await detector.detect(frameAt(frames, t), frames.width, frames.height, { scoreThreshold: opts.scoreThreshold, inputSize }) : []);
  }
  return trackFromDetections(detections, frames.width, frames.height, opts);
}

// ------------------------------------------------------------------ crops

/** A whole-pixel region, which may reach outside the frame (padded with black there). */
export interface CropRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The crop of a face box: grown by `margin` (half on each side, FaceXFormer's adjust_bbox), then
 * either squared (side = the longer side, centred on the box, shifted inside the frame when it
 * fits, else centred and padded) or, with `square: false`, clipped to the frame with each corner
 * truncated to an integer as FaceXFormer's `image.crop((int(x_min), ...))`.
 */
export function cropRegion(box: Box, width: number, height: number, opts: Pick<FaceCropOptions, 'margin' | 'square'>): CropRegion {
  const [bx, by, bw, bh] = box;
  const gw = (bw * opts.margin) / 2;
  const gh = (bh * opts.margin) / 2;
  if (!opts.square) {
    const x0 = Math.trunc(Math.max(0, bx - gw));
    const y0 = Math.trunc(Math.max(0, by - gh));
    const x1 = Math.trunc(Math.min(width, bx + bw + gw));
    const y1 = Math.trunc(Math.min(height, by + bh + gh));
    return { x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0) };
  }
  const side = Math.max(1, Math.round(Math.max(bw + 2 * gw, bh + 2 * gh)));
  const cx = bx + bw / 2;
  const cy = by + bh / 2;
  const place = (centre: number, extent: number) => {
    const start = Math.round(centre - side / 2);
    // inside the frame when it fits; otherwise centred on the frame (padding on both sides)
    return side <= extent ? Math.min(Math.max(start, 0), extent - side) : Math.floor((extent - side) / 2);
  };
  return { x: place(cx, width), y: place(cy, height), width: side, height: side };
}

/** Copies a region of a packed RGB frame, with black outside the frame. */
export function cutRegion(rgb: Uint8Array, width: number, height: number, r: CropRegion): Uint8Array {
  const out = new Uint8Array(r.width * r.height * 3);
  const x0 = Math.max(0, r.x);
  const x1 = Math.min(width, r.x + r.width);
  if (x1 <= x0) return out;
  for (let y = 0; y < r.height; y++) {
    const sy = r.y + y;
    if (sy < 0 || sy >= height) continue;
    out.set(rgb.subarray((sy * width + x0) * 3, (sy * width + x1) * 3), (y * r.width + (x0 - r.x)) * 3);
  }
  return out;
}

/** The face path's face_values [T, 3, Sf, Sf] for a tracked clip, and the regions cut. */
export async function faceValues(frames: RgbFrames, track: FaceTrack, size: number, opts: Pick<FaceCropOptions, 'margin' | 'square'> = DEFAULT_FACE_CROP): Promise<{ values: Float32Array; regions: CropRegion[] }> {
  const plane = 3 * size * size;
  const values = new Float32Array(frames.count * plane);
  const regions: CropRegion[] = [];
  for (let t = 0; t < frames.count; t++) {
    // the centre fallback is already the region: no margin on top of it
    const r = track.sources[t] === 'centre' ? cropRegion(track.boxes[t], frames.width, frames.height, { margin: 0, square: true }) : cropRegion(track.boxes[t], frames.width, frames.height, opts);
    regions.push(r);
    const crop = cutRegion(frameAt(frames, t), frames.width, frames.height, r);
    const img = await resizeRgb(crop, r.width, r.height, size, size);
    rgbToChw(img, size, IMAGENET_MEAN, IMAGENET_STD, values, t * plane);
  }
  return { values, regions };
}
