/**
 * probeMedia: what a file holds (duration, streams, frame size and rate) without decoding it.
 * ffprobe's JSON when ffprobe exists; otherwise the stream lines `ffmpeg -i` prints (the npm
 * ffmpeg build ships no ffprobe). Both paths are tested against the same files.
 */
import { stat } from 'node:fs/promises';
import { MediaError, ffmpegError } from './errors';
import { mediaTools, runTool } from './tools';

export interface MediaInfo {
  file: string;
  /** bytes on disk */
  bytes: number;
  /** seconds; 0 when the container does not say */
  duration: number;
  container: string;
  hasVideo: boolean;
  hasAudio: boolean;
  /** of the first video stream (0 when there is none) */
  width: number;
  height: number;
  fps: number;
  /** frames in the first video stream: exact when the container says, else duration x fps */
  frameCount: number;
  frameCountExact: boolean;
  /** of the first audio stream (0 when there is none) */
  sampleRate: number;
  channels: number;
}

/** Fails early, and by name, on files ffmpeg would only call "Invalid data". */
export async function checkFile(file: string): Promise<number> {
  let size: number;
  try {
    const s = await stat(file);
    if (s.isDirectory()) throw new MediaError('missing', file, 'is a folder, not a media file');
    size = s.size;
  } catch (e) {
    if (e instanceof MediaError) throw e;
    throw new MediaError('missing', file, 'no such file');
  }
  if (size === 0) throw new MediaError('empty', file, 'is empty (0 bytes)');
  return size;
}

/** "30000/1001" or "10" -> frames per second; 0 for "0/0" or nonsense. */
function rate(s: string | undefined): number {
  if (!s) return 0;
  const [n, d] = s.split('/').map(Number);
  const r = d === undefined ? n : d === 0 ? 0 : n / d;
  return Number.isFinite(r) && r > 0 ? r : 0;
}

function num(s: unknown): number {
  const n = Number(s);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

interface ProbeJson {
  format?: { duration?: string; format_name?: string };
  streams?: {
    codec_type?: string;
    width?: number;
    height?: number;
    avg_frame_rate?: string;
    r_frame_rate?: string;
    nb_frames?: string;
    duration?: string;
    sample_rate?: string;
    channels?: number;
  }[];
}

export async function probeMedia(file: string, opts: { useFfprobe?: boolean } = {}): Promise<MediaInfo> {
  const bytes = await checkFile(file);
  const { ffprobe } = mediaTools();
  return ffprobe && opts.useFfprobe !== false ? viaFfprobe(ffprobe, file, bytes) : viaFfmpeg(file, bytes);
}

async function viaFfprobe(ffprobe: string, file: string, bytes: number): Promise<MediaInfo> {
  let out = '';
  const r = await runTool(ffprobe, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], {
    onStdout: (c) => void (out += c.toString('utf8')),
  });
  if (r.code !== 0) throw ffmpegError(file, r.stderr, 'media');
  const j = JSON.parse(out) as ProbeJson;
  const streams = j.streams ?? [];
  const v = streams.find((s) => s.codec_type === 'video');
  const a = streams.find((s) => s.codec_type === 'audio');
  const duration = num(j.format?.duration) || num(v?.duration) || num(a?.duration);
  const fps = rate(v?.avg_frame_rate) || rate(v?.r_frame_rate);
  const nb = num(v?.nb_frames);
  let frameCount = nb;
  let exact = nb > 0;
  // Matroska and some others do not store a frame count: count packets (a demux, no decode).
  if (v && !exact) {
    const counted = await countPackets(ffprobe, file);
    if (counted > 0) [frameCount, exact] = [counted, true];
    else frameCount = Math.round(duration * fps);
  }
  return {
    file, bytes, duration, container: j.format?.format_name ?? '',
    hasVideo: v !== undefined, hasAudio: a !== undefined,
    width: v?.width ?? 0, height: v?.height ?? 0, fps, frameCount, frameCountExact: exact,
    sampleRate: num(a?.sample_rate), channels: a?.channels ?? 0,
  };
}

async function countPackets(ffprobe: string, file: string): Promise<number> {
  let out = '';
  const r = await runTool(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', file], {
    onStdout: (c) => void (out += c.toString('utf8')),
  });
  return r.code === 0 ? num(out.trim()) : 0;
}

/** Parses the banner `ffmpeg -i FILE` prints (it then exits 1: no output file was given). */
export function parseFfmpegBanner(file: string, bytes: number, stderr: string): MediaInfo {
  const d = /Duration: (\d+):(\d+):(\d+(?:\.\d+)?)/.exec(stderr);
  const duration = d ? Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]) : 0;
  const video = /Stream #\d+:\d+.*?: Video: (.*)/.exec(stderr)?.[1];
  const audio = /Stream #\d+:\d+.*?: Audio: (.*)/.exec(stderr)?.[1];
  const size = video ? /, (\d{2,5})x(\d{2,5})[ ,]/.exec(video) : null;
  const fps = video ? num(/([\d.]+) fps/.exec(video)?.[1]) || num(/([\d.]+) tbr/.exec(video)?.[1]) : 0;
  const ch = audio ? /Hz, (mono|stereo|(\d+) channels|[^,]+)/.exec(audio) : null;
  const channels = !ch ? 0 : ch[1] === 'mono' ? 1 : ch[1] === 'stereo' ? 2 : ch[2] ? Number(ch[2]) : 2;
  return {
    file, bytes, duration, container: /Input #0, ([^,]+(?:,[^,]+)*?), from/.exec(stderr)?.[1] ?? '',
    hasVideo: video !== undefined, hasAudio: audio !== undefined,
    width: size ? Number(size[1]) : 0, height: size ? Number(size[2]) : 0,
    fps, frameCount: Math.round(duration * fps), frameCountExact: false,
    sampleRate: audio ? num(/(\d+) Hz/.exec(audio)?.[1]) : 0, channels,
  };
}

async function viaFfmpeg(file: string, bytes: number): Promise<MediaInfo> {
  const r = await runTool(mediaTools().ffmpeg, ['-hide_banner', '-nostdin', '-i', file]);
  if (!/Input #0/.test(r.stderr)) throw ffmpegError(file, r.stderr, 'media');
  return parseFfmpegBanner(file, bytes, r.stderr);
}
