/**
 * readWav: PCM (8/16/24/32-bit) and IEEE float (32/64-bit) WAV read in TypeScript, block by
 * block, without ffmpeg. Mono is returned as is and stereo is mixed as ffmpeg mixes it,
 * (L + R) / sqrt(2), so the result equals decodeAudio's when no resampling is needed. Only a
 * file at another rate (or with more than 2 channels) goes to ffmpeg, which does both.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { decodeAudio } from './audio';
import { MediaError } from './errors';
import { checkFile } from './probe';

export interface WavFormat {
  /** 1 = integer PCM, 3 = IEEE float (WAVE_FORMAT_EXTENSIBLE is resolved to these) */
  codec: 1 | 3;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** byte offset of the sample data */
  dataOffset: number;
  /** bytes of sample data (streamed WAVs that say 0 or 0xffffffff: up to the end of the file) */
  dataBytes: number;
}

export interface Wav {
  samples: Float32Array;
  /** rate of `samples` */
  sampleRate: number;
  /** the file's own format */
  format: WavFormat;
  /** true when ffmpeg resampled or downmixed it */
  viaFfmpeg: boolean;
}

const BLOCK = 1 << 16;

async function readAt(fh: FileHandle, pos: number, n: number): Promise<Buffer> {
  const b = Buffer.alloc(n);
  const { bytesRead } = await fh.read(b, 0, n, pos);
  return b.subarray(0, bytesRead);
}

/** Walks the RIFF chunks up to `data`; `fmt ` must come before it (as the spec requires). */
export async function readWavHeader(file: string, fh: FileHandle, fileBytes: number): Promise<WavFormat> {
  const riff = await readAt(fh, 0, 12);
  if (riff.length < 12 || riff.toString('latin1', 0, 4) !== 'RIFF' || riff.toString('latin1', 8, 12) !== 'WAVE') {
    const what = riff.toString('latin1', 0, 4) === 'RF64' ? 'an RF64 file (use decodeAudio)' : 'not a RIFF/WAVE file';
    throw new MediaError(riff.toString('latin1', 0, 4) === 'RF64' ? 'unsupported' : 'corrupt', file, what);
  }
  let pos = 12;
  let fmt: Omit<WavFormat, 'dataOffset' | 'dataBytes'> | undefined;
  while (pos + 8 <= fileBytes) {
    const h = await readAt(fh, pos, 8);
    const id = h.toString('latin1', 0, 4);
    const size = h.readUInt32LE(4);
    if (id === 'fmt ') {
      const f = await readAt(fh, pos + 8, Math.min(size, 40));
      if (f.length < 16) throw new MediaError('corrupt', file, 'WAV fmt chunk is truncated');
      let codec = f.readUInt16LE(0);
      // WAVE_FORMAT_EXTENSIBLE: the real codec is the first two bytes of the sub-format GUID.
      if (codec === 0xfffe && f.length >= 26) codec = f.readUInt16LE(24);
      const bitsPerSample = f.readUInt16LE(14);
      const ok = (codec === 1 && [8, 16, 24, 32].includes(bitsPerSample)) || (codec === 3 && (bitsPerSample === 32 || bitsPerSample === 64));
      if (!ok) throw new MediaError('unsupported', file, `WAV codec ${codec} with ${bitsPerSample}-bit samples is not PCM or float (use decodeAudio)`);
      fmt = { codec: codec as 1 | 3, channels: f.readUInt16LE(2), sampleRate: f.readUInt32LE(4), bitsPerSample };
      if (fmt.channels < 1 || fmt.sampleRate < 1) throw new MediaError('corrupt', file, 'WAV header has no channels or no sample rate');
    } else if (id === 'data') {
      if (!fmt) throw new MediaError('corrupt', file, "WAV data chunk comes before its 'fmt ' chunk");
      const rest = fileBytes - (pos + 8);
      const dataBytes = size === 0 || size === 0xffffffff || size > rest ? rest : size;
      return { ...fmt, dataOffset: pos + 8, dataBytes };
    }
    pos += 8 + size + (size & 1); // chunks are padded to even sizes
  }
  throw new MediaError('corrupt', file, fmt ? 'WAV file has no data chunk' : 'WAV file has no fmt chunk');
}

/** One sample as float, the way ffmpeg converts each integer width. */
function sampleReader(f: WavFormat): (b: Buffer, o: number) => number {
  if (f.codec === 3) return f.bitsPerSample === 32 ? (b, o) => b.readFloatLE(o) : (b, o) => b.readDoubleLE(o);
  switch (f.bitsPerSample) {
    case 8: return (b, o) => (b[o] - 128) / 128;
    case 16: return (b, o) => b.readInt16LE(o) / 32768;
    case 24: return (b, o) => b.readIntLE(o, 3) / 8388608;
    default: return (b, o) => b.readInt32LE(o) / 2147483648;
  }
}

/** Reads a WAV file as mono float32 at `sampleRate` (default 16000; null keeps the file's rate). */
export async function readWav(file: string, opts: { sampleRate?: number | null } = {}): Promise<Wav> {
  const bytes = await checkFile(file);
  const fh = await open(file, 'r');
  try {
    const format = await readWavHeader(file, fh, bytes);
    const target = opts.sampleRate === undefined ? 16000 : opts.sampleRate;
    if ((target !== null && target !== format.sampleRate) || format.channels > 2) {
      const sr = target ?? format.sampleRate;
      return { samples: await decodeAudio(file, { sampleRate: sr }), sampleRate: sr, format, viaFfmpeg: true };
    }
    const width = format.bitsPerSample / 8;
    const frameBytes = width * format.channels;
    const n = Math.floor(format.dataBytes / frameBytes);
    if (n === 0) throw new MediaError('empty', file, 'WAV file has no samples');
    const samples = new Float32Array(n);
    const read = sampleReader(format);
    const stereo = format.channels === 2;
    // Whole frames per block, so a frame never straddles two reads.
    const block = Math.max(1, Math.floor(BLOCK / frameBytes)) * frameBytes;
    for (let i = 0; i < n; ) {
      const want = Math.min(block, (n - i) * frameBytes);
      const b = await readAt(fh, format.dataOffset + i * frameBytes, want);
      const frames = Math.floor(b.length / frameBytes);
      if (frames === 0) throw new MediaError('corrupt', file, 'WAV data ends early');
      for (let k = 0; k < frames; k++, i++) {
        const o = k * frameBytes;
        samples[i] = stereo ? (read(b, o) + read(b, o + width)) * Math.SQRT1_2 : read(b, o);
      }
    }
    return { samples, sampleRate: format.sampleRate, format, viaFfmpeg: false };
  } finally {
    await fh.close();
  }
}
