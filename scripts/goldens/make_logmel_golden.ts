/**
 * Makes the log-mel goldens `test/goldens/logmel/*.safetensors` with the oracle
 * `@huggingface/transformers` WhisperFeatureExtractor (a devDependency; runs offline), so
 * test/logmel.test.ts needs neither espeak-ng nor transformers.js at run time.
 *
 *   npx tsx scripts/goldens/make_logmel_golden.ts
 *
 * Needs espeak-ng and ffmpeg (`apt-get install -y espeak-ng ffmpeg`). Files:
 * - speech.safetensors: `audio` F32 [N] (espeak-ng English speech, 22050 Hz resampled to 16 kHz by
 *   ffmpeg, the first 1.5 s + 123 samples so N is not a multiple of the hop), and its features
 *   `mel128` [128, N // 160] and `mel80` [80, N // 160] without the 30 s padding (HF
 *   `max_length = N`); `mel128_30s_head` [128, H], the first H = N // 160 + 8 frames of HF's default
 *   30 s-padded output [128, 3000], and `mel128_30s_tail` [128], the column every later frame
 *   equals (checked here).
 * - sine.safetensors: `audio` F32 [8000] (0.5 s of a 440 Hz sine of amplitude 0.5 plus a 3 kHz one
 *   of amplitude 0.05) and `mel128` [128, 50].
 * The metadata names the oracle's version and the text spoken.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WhisperFeatureExtractor, env } from '@huggingface/transformers';
import { decodeAudio } from '../../data/media';
import { writeSafetensorsAtomic } from '../../runtime/safetensors';
import type { TensorToWrite } from '../../runtime/safetensors';

const OUT = fileURLToPath(new URL('../../test/goldens/logmel', import.meta.url));
const TEXT = 'The quick brown fox jumps over the lazy dog. I am so happy today!';
const SPEECH_SAMPLES = 24123;

const extractor = (featureSize: number) =>
  new WhisperFeatureExtractor({ feature_size: featureSize, sampling_rate: 16000, hop_length: 160, n_fft: 400, chunk_length: 30, n_samples: 480000, nb_max_frames: 3000, padding_value: 0 });

async function features(audio: Float32Array, featureSize: number, pad30s: boolean): Promise<{ data: Float32Array; shape: number[] }> {
  const fe = extractor(featureSize);
  const r = await fe(audio, pad30s ? {} : { max_length: audio.length });
  const t = r.input_features;
  return { data: Float32Array.from(t.data as Float32Array), shape: (t.dims as number[]).slice(1) };
}

/** Columns [0, n) of a row-major [rows, cols] array. */
function head(data: Float32Array, rows: number, cols: number, n: number): Float32Array {
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * cols, r * cols + n), r * n);
  return out;
}

const f32 = (data: Float32Array, shape: number[]): TensorToWrite => ({ dtype: 'F32', shape, data });

async function main() {
  mkdirSync(OUT, { recursive: true });
  const version = env.version;
  const espeak = execFileSync('espeak-ng', ['--version'], { encoding: 'utf8' }).trim();

  // speech: espeak-ng at 22050 Hz, resampled by ffmpeg (Whisper's load_audio path)
  const dir = mkdtempSync(join(tmpdir(), 'logmel-golden-'));
  try {
    const wav = join(dir, 'speech.wav');
    execFileSync('espeak-ng', ['-w', wav, TEXT]);
    const all = await decodeAudio(wav, { sampleRate: 16000 });
    if (all.length < SPEECH_SAMPLES) throw new Error(`espeak-ng gave only ${all.length} samples`);
    const audio = all.slice(0, SPEECH_SAMPLES);
    const F = Math.floor(audio.length / 160);
    const m128 = await features(audio, 128, false);
    const m80 = await features(audio, 80, false);
    const p128 = await features(audio, 128, true);
    if (m128.shape.join() !== `128,${F}` || m80.shape.join() !== `80,${F}` || p128.shape.join() !== '128,3000') throw new Error(`unexpected shapes ${m128.shape} ${m80.shape} ${p128.shape}`);
    const H = F + 8;
    const tail = new Float32Array(128);
    for (let r = 0; r < 128; r++) {
      tail[r] = p128.data[r * 3000 + H];
      for (let c = H; c < 3000; c++) if (p128.data[r * 3000 + c] !== tail[r]) throw new Error(`30 s features are not constant after frame ${H} (mel ${r}, frame ${c})`);
    }
    writeSafetensorsAtomic(
      join(OUT, 'speech.safetensors'),
      {
        audio: f32(audio, [audio.length]),
        mel128: f32(m128.data, [128, F]),
        mel80: f32(m80.data, [80, F]),
        mel128_30s_head: f32(head(p128.data, 128, 3000, H), [128, H]),
        mel128_30s_tail: f32(tail, [128]),
      },
      { generator: 'scripts/goldens/make_logmel_golden.ts', oracle: `@huggingface/transformers ${version} WhisperFeatureExtractor`, text: TEXT, tts: espeak, resample: 'ffmpeg -ar 16000 (f32le)' },
    );
    console.log(`speech: ${audio.length} samples, ${F} frames`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // sine
  const n = 8000;
  const sine = Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 16000) + 0.05 * Math.sin((2 * Math.PI * 3000 * i) / 16000));
  const s128 = await features(sine, 128, false);
  writeSafetensorsAtomic(
    join(OUT, 'sine.safetensors'),
    { audio: f32(sine, [n]), mel128: f32(s128.data, [128, n / 160]) },
    { generator: 'scripts/goldens/make_logmel_golden.ts', oracle: `@huggingface/transformers ${version} WhisperFeatureExtractor`, signal: '0.5 sin(2 pi 440 t) + 0.05 sin(2 pi 3000 t), 16 kHz' },
  );
  console.log(`sine: ${n} samples, ${n / 160} frames; written to ${OUT}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
