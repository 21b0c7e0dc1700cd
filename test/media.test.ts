/**
 * data/media against clips made here with ffmpeg (testsrc + sine), plus the bad files a real
 * dataset holds: a clip without audio, a corrupt file, an empty file, a missing one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLeft, isRight } from 'fp-ts/lib/Either';
import { MediaError, decodeAudio, decodeFrames, probeMedia, readWav, safeDecode, uniformIndices } from '../data/media/index';

let dir = '';
const p = (name: string) => join(dir, name);
const ff = (...args: string[]) => execFileSync('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...args]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'omni-media-'));
  ff('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=2', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=2',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', p('av.mp4'));
  ff('-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10:duration=1', '-c:v', 'mpeg4', p('silent.mp4'));
  ff('-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10:duration=1', '-c:v', 'libvpx-vp9', '-deadline', 'realtime', p('silent.mkv'));
  ff('-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=16000:duration=1.5', '-c:a', 'pcm_s16le', p('mono16k.wav'));
  ff('-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=16000:duration=1', '-c:a', 'pcm_s32le', p('mono16k-s32.wav'));
  ff('-f', 'lavfi', '-i', 'sine=frequency=300:sample_rate=16000:duration=1', '-c:a', 'pcm_f32le', p('mono16k-f32.wav'));
  ff('-f', 'lavfi', '-i', 'sine=frequency=300:sample_rate=16000:duration=1', '-f', 'lavfi', '-i', 'sine=frequency=700:sample_rate=16000:duration=1',
    '-filter_complex', '[0][1]amerge=inputs=2', '-c:a', 'pcm_s16le', p('stereo16k.wav'));
  ff('-f', 'lavfi', '-i', 'sine=frequency=500:sample_rate=22050:duration=1', '-c:a', 'pcm_s16le', p('mono22k.wav'));
  // corrupt: an mp4-looking name over bytes no demuxer accepts
  writeFileSync(p('corrupt.mp4'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 251)));
  writeFileSync(p('empty.mp4'), '');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Frequency from the count of sign changes (two per period). */
function zeroCrossingHz(x: Float32Array, rate: number): number {
  let n = 0;
  for (let i = 1; i < x.length; i++) if (x[i] >= 0 !== x[i - 1] >= 0) n++;
  return n / 2 / (x.length / rate);
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('probeMedia', () => {
  it('reads duration, streams, size and frame count; ffprobe and the ffmpeg banner agree', async () => {
    const a = await probeMedia(p('av.mp4'));
    expect(a).toMatchObject({ hasVideo: true, hasAudio: true, width: 320, height: 240, fps: 25, frameCount: 50, frameCountExact: true, sampleRate: 44100, channels: 1 });
    expect(a.duration).toBeCloseTo(2, 1);
    const b = await probeMedia(p('av.mp4'), { useFfprobe: false });
    expect(b).toMatchObject({ hasVideo: true, hasAudio: true, width: 320, height: 240, fps: 25, frameCount: 50, sampleRate: 44100, channels: 1 });
    const s = await probeMedia(p('silent.mkv'));
    // Matroska stores no frame count: it is counted from the packets
    expect(s).toMatchObject({ hasVideo: true, hasAudio: false, frameCount: 10, frameCountExact: true, width: 160, height: 120 });
  });
});

describe('decodeFrames', () => {
  it('samples N frames uniformly (LLaVA-OV indices) at the requested size', async () => {
    const f = await decodeFrames(p('av.mp4'), { count: 8, width: 64, height: 48 });
    expect(f.count).toBe(8);
    expect(f.data.length).toBe(8 * 48 * 64 * 3);
    expect(f.indices).toEqual([0, 7, 14, 21, 28, 35, 42, 49]);
    expect(f.times[7]).toBeCloseTo(49 / 25, 6);
    const frame = (k: number) => f.data.subarray(k * 48 * 64 * 3, (k + 1) * 48 * 64 * 3);
    // testsrc moves: the first and the last frame differ
    expect(Buffer.compare(frame(0), frame(7))).not.toBe(0);
  });

  it('matches a single frame seeked to by ffmpeg itself', async () => {
    const f = await decodeFrames(p('av.mp4'), { count: 3, width: 32, height: 24 });
    const ref = execFileSync('ffmpeg', ['-v', 'error', '-i', p('av.mp4'), '-vf', 'select=eq(n\\,24),scale=32:24:flags=bicubic', '-vsync', '0', '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
    expect(f.indices[1]).toBe(24);
    expect(Buffer.from(f.data.subarray(32 * 24 * 3, 2 * 32 * 24 * 3)).equals(ref)).toBe(true);
  });

  it('repeats frames when more are asked for than the clip has, and keeps the source size by default', async () => {
    const f = await decodeFrames(p('silent.mp4'), { count: 16 });
    expect(f.count).toBe(16);
    expect([f.width, f.height]).toEqual([160, 120]);
    expect(f.indices).toEqual(uniformIndices(10, 16));
    expect(f.data.length).toBe(16 * 120 * 160 * 3);
  });
});

describe('decodeAudio', () => {
  it('gives mono 16 kHz float32 with the sine at its frequency', async () => {
    const a = await decodeAudio(p('av.mp4'));
    expect(Math.abs(a.length - 32000)).toBeLessThan(2048); // AAC adds up to a frame of padding
    expect(zeroCrossingHz(a.subarray(2000, 30000), 16000)).toBeCloseTo(440, -1);
    const w = await decodeAudio(p('mono16k.wav'));
    expect(w.length).toBe(24000);
    expect(Math.abs(zeroCrossingHz(w, 16000) - 1000)).toBeLessThan(2);
  });

  it('pcm16 reproduces Whisper load_audio: s16 quantisation, and a stereo downmix of (L + R) / 2', async () => {
    const f = await decodeAudio(p('av.mp4'));
    const q = await decodeAudio(p('av.mp4'), { pcm16: true });
    expect(q.length).toBe(f.length);
    expect(maxAbsDiff(f, q)).toBeLessThanOrEqual(1 / 32768 + 1e-7);
    for (const v of q) expect(Number.isInteger(v * 32768)).toBe(true);
    // ffmpeg normalises the downmix matrix for integer output only: f32 stereo is louder by sqrt(2)
    const fs = await decodeAudio(p('stereo16k.wav'));
    const qs = await decodeAudio(p('stereo16k.wav'), { pcm16: true });
    expect(maxAbsDiff(fs.map((v) => v * Math.SQRT1_2), qs)).toBeLessThanOrEqual(1 / 32768 + 1e-6);
  });
});

describe('readWav', () => {
  it('reads PCM16, PCM32 and float WAV in TypeScript exactly as ffmpeg decodes them', async () => {
    for (const name of ['mono16k.wav', 'mono16k-s32.wav', 'mono16k-f32.wav']) {
      const w = await readWav(p(name));
      expect(w.viaFfmpeg).toBe(false);
      const ref = await decodeAudio(p(name));
      expect(w.samples.length).toBe(ref.length);
      expect(maxAbsDiff(w.samples, ref), name).toBe(0);
    }
    expect((await readWav(p('mono16k-s32.wav'))).format).toMatchObject({ codec: 1, bitsPerSample: 32 });
    expect((await readWav(p('mono16k-f32.wav'))).format).toMatchObject({ codec: 3, bitsPerSample: 32 });
  });

  it('mixes stereo the way ffmpeg does, (L + R) / sqrt(2)', async () => {
    const w = await readWav(p('stereo16k.wav'));
    expect(w.format.channels).toBe(2);
    expect(maxAbsDiff(w.samples, await decodeAudio(p('stereo16k.wav')))).toBeLessThan(1e-6);
  });

  it('leaves resampling to ffmpeg only when the rate differs', async () => {
    const w = await readWav(p('mono22k.wav'));
    expect(w.viaFfmpeg).toBe(true);
    expect(w.sampleRate).toBe(16000);
    expect(Math.abs(w.samples.length - 16000)).toBeLessThanOrEqual(1);
    expect(zeroCrossingHz(w.samples.subarray(100, 15900), 16000)).toBeCloseTo(500, -1);
    const native = await readWav(p('mono22k.wav'), { sampleRate: null });
    expect([native.viaFfmpeg, native.sampleRate, native.samples.length]).toEqual([false, 22050, 22050]);
  });
});

describe('bad media', () => {
  const kindOf = async (f: () => Promise<unknown>) => {
    const e = await f().then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(MediaError);
    return e as MediaError;
  };

  it('names the file and the problem', async () => {
    const noAudio = await kindOf(() => decodeAudio(p('silent.mp4')));
    expect(noAudio.kind).toBe('no-audio');
    expect(noAudio.message).toBe(`${p('silent.mp4')}: has no audio stream`);
    expect((await kindOf(() => decodeFrames(p('mono16k.wav')))).kind).toBe('no-video');
    const corrupt = await kindOf(() => decodeFrames(p('corrupt.mp4')));
    expect(corrupt.kind).toBe('corrupt');
    expect(corrupt.message.startsWith(`${p('corrupt.mp4')}: `)).toBe(true);
    expect((await kindOf(() => decodeAudio(p('corrupt.mp4')))).kind).toBe('corrupt');
    expect((await kindOf(() => probeMedia(p('empty.mp4')))).kind).toBe('empty');
    expect((await kindOf(() => decodeAudio(p('empty.mp4')))).message).toContain('empty.mp4: is empty (0 bytes)');
    expect((await kindOf(() => decodeFrames(p('nope.mp4')))).kind).toBe('missing');
    expect((await kindOf(() => readWav(p('av.mp4')))).kind).toBe('corrupt');
  });

  it('safeDecode turns them into Lefts, so a loader skips them and keeps going', async () => {
    const files = ['av.mp4', 'silent.mp4', 'corrupt.mp4', 'empty.mp4', 'nope.mp4', 'mono16k.wav'].map(p);
    const results = await Promise.all(files.map((f) => safeDecode(() => decodeAudio(f))));
    expect(results.map(isRight)).toEqual([true, false, false, false, false, true]);
    const errors = results.filter(isLeft).map((r) => r.left);
    expect(errors.map((e) => e.kind)).toEqual(['no-audio', 'corrupt', 'empty', 'missing']);
    errors.forEach((e, i) => expect(e.file).toBe(files[i + 1]));
  });
});
