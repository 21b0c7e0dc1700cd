/**
 * decodeFrames: N frames sampled uniformly over a clip, resized by ffmpeg, as packed RGB.
 * The frame indices are LLaVA-OneVision's: linspace(0, total-1, N) truncated to integers.
 * One ffmpeg pass decodes the clip and keeps only those frames (select filter), so memory holds
 * the N output frames, never the file or the other frames.
 */
import { MediaError, ffmpegError } from './errors';
import { probeMedia, type MediaInfo } from './probe';
import { mediaTools, runTool } from './tools';

export interface FrameOptions {
  /** how many frames to return (default 8, the project's default) */
  count?: number;
  /** output size; the frame is stretched to it (no crop, no padding); default: the source size */
  width?: number;
  height?: number;
  /** the file's probe, when the caller has it already (saves an ffprobe run) */
  info?: MediaInfo;
}

export interface Frames {
  /** count x height x width x 3, row-major RGB */
  data: Uint8Array;
  count: number;
  width: number;
  height: number;
  /** source frame index of each returned frame */
  indices: number[];
  /** source time of each frame in seconds (index / fps) */
  times: number[];
}

/** LLaVA-OV's np.linspace(0, total - 1, count, dtype=int). */
export function uniformIndices(total: number, count: number): number[] {
  if (count === 1) return [0];
  return Array.from({ length: count }, (_, i) => Math.floor(((total - 1) * i) / (count - 1)));
}

export async function decodeFrames(file: string, opts: FrameOptions = {}): Promise<Frames> {
  const count = opts.count ?? 8;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`decodeFrames: count must be a positive integer, got ${count}`);
  const info = opts.info ?? (await probeMedia(file));
  if (!info.hasVideo) throw new MediaError('no-video', file, 'has no video stream');
  if (info.frameCount < 1) throw new MediaError('empty', file, 'has a video stream with no frames');
  const width = opts.width ?? info.width;
  const height = opts.height ?? info.height;
  const indices = uniformIndices(info.frameCount, count);
  // A frame can be asked for twice (count > frames): decode each once, copy afterwards.
  const unique = [...new Set(indices)];
  const frameBytes = width * height * 3;
  const buf = new Uint8Array(unique.length * frameBytes);
  let filled = 0;
  const select = unique.map((n) => `eq(n\\,${n})`).join('+');
  const args = [
    '-v', 'error', '-nostdin', '-i', file, '-map', '0:v:0',
    '-vf', `select=${select},scale=${width}:${height}:flags=bicubic`,
    // one output frame per selected frame: no duplication or dropping to keep a frame rate
    '-vsync', '0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ];
  const r = await runTool(mediaTools().ffmpeg, args, {
    onStdout: (chunk) => {
      const n = Math.min(chunk.length, buf.length - filled);
      buf.set(chunk.subarray(0, n), filled);
      filled += n;
      return filled < buf.length; // all frames in: stop ffmpeg decoding the rest of the clip
    },
  });
  const got = Math.floor(filled / frameBytes);
  if (got < unique.length && r.code !== 0 && r.code !== null) throw ffmpegError(file, r.stderr, 'video');
  if (got === 0) throw new MediaError('corrupt', file, 'no video frame could be decoded');
  // When the frame count was an estimate (or the tail is damaged), the last frames asked for
  // may not exist: repeat the last decoded one rather than fail the item.
  const slot = new Map(unique.map((n, i) => [n, Math.min(i, got - 1)]));
  const data = new Uint8Array(count * frameBytes);
  indices.forEach((n, i) => data.set(buf.subarray(slot.get(n)! * frameBytes, (slot.get(n)! + 1) * frameBytes), i * frameBytes));
  const fps = info.fps || 1;
  const used = indices.map((n) => unique[slot.get(n)!]);
  return { data, count, width, height, indices: used, times: used.map((n) => n / fps) };
}
