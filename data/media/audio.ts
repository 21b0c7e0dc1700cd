/**
 * decodeAudio: any file's audio as mono float32 at 16 kHz, streamed from ffmpeg through a pipe:
 * `-vn -ac 1 -ar 16000 -f f32le`, the command Whisper's load_audio runs except that Whisper asks
 * for s16le and divides by 32768 (`pcm16: true` reproduces that bit for bit). The two differ
 * beyond quantisation for stereo input: ffmpeg normalises its downmix matrix only for integer
 * output, so f32 mono is (L + R) / sqrt(2) while s16 (Whisper's) is (L + R) / 2.
 */
import { MediaError, ffmpegError } from './errors';
import { checkFile } from './probe';
import { mediaTools, runTool } from './tools';

export interface AudioOptions {
  /** output rate in Hz (default 16000) */
  sampleRate?: number;
  /** stop after this many seconds */
  maxSeconds?: number;
  /** decode to s16 and scale by 1/32768, exactly as Whisper's load_audio (default false) */
  pcm16?: boolean;
}

/** A byte buffer that doubles when full, so the decoded length need not be known up front. */
class Growable {
  buf = new Uint8Array(1 << 18);
  length = 0;
  push(chunk: Uint8Array): void {
    if (this.length + chunk.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + chunk.length));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(chunk, this.length);
    this.length += chunk.length;
  }
}

export async function decodeAudio(file: string, opts: AudioOptions = {}): Promise<Float32Array> {
  await checkFile(file);
  const sr = opts.sampleRate ?? 16000;
  const pcm16 = opts.pcm16 === true;
  const args = ['-v', 'error', '-nostdin', '-threads', '0', '-i', file, '-vn', '-map', '0:a:0', '-ac', '1', '-ar', String(sr)];
  if (opts.maxSeconds !== undefined) args.push('-t', String(opts.maxSeconds));
  args.push(...(pcm16 ? ['-f', 's16le', '-acodec', 'pcm_s16le'] : ['-f', 'f32le']), 'pipe:1');
  const out = new Growable();
  const r = await runTool(mediaTools().ffmpeg, args, { onStdout: (c) => out.push(c) });
  if (r.code !== 0) throw ffmpegError(file, r.stderr, 'audio');
  const width = pcm16 ? 2 : 4;
  const n = Math.floor(out.length / width);
  if (n === 0) throw new MediaError('empty', file, 'has an audio stream with no samples');
  if (!pcm16) return new Float32Array(out.buf.buffer.slice(0, n * 4));
  const ints = new Int16Array(out.buf.buffer, 0, n);
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = ints[i] / 32768;
  return f;
}
