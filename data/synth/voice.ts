/**
 * The voice track: espeak-ng speaks a neutral sentence; arousal alone sets pitch (-p), rate (-s)
 * and amplitude (-a). The speaker variant (male/female) is drawn independently of the class,
 * so pitch alone is not a giveaway. The speech is placed at a random offset in a clip of fixed
 * length (so clip length says nothing about arousal) over a faint noise floor.
 */
import { UserError } from '../../cli/errors';
import { runTool } from '../media/tools';
import type { Rng } from './rng';

export interface VoiceSpec {
  sentence: string;
  variant: string;
  pitch: number;
  rate: number;
  amplitude: number;
  /** seconds of silence before the speech starts */
  lead: number;
  /** RMS of the noise floor (full scale = 1) */
  noise: number;
}

const VARIANTS = ['m1', 'm2', 'm3', 'm4', 'm7', 'f1', 'f2', 'f3', 'f4'];

export function makeVoice(rng: Rng, arousal: number, sentence: string): VoiceSpec {
  const round = (v: number) => Math.round(v);
  return {
    sentence,
    variant: rng.pick(VARIANTS),
    pitch: round(Math.min(99, Math.max(0, 50 + 35 * arousal + rng.range(-6, 6)))),
    rate: round(165 + 55 * arousal + rng.range(-8, 8)),
    amplitude: round(100 + 60 * arousal + rng.range(-8, 8)),
    lead: rng.range(0.1, 0.4),
    noise: rng.range(0.002, 0.008),
  };
}

export const ESPEAK_RATE = 22050;

/** espeak-ng's 16-bit mono PCM for the spec (its --stdout WAV, header removed). */
export async function speak(v: VoiceSpec): Promise<Int16Array> {
  const chunks: Buffer[] = [];
  const args = ['-v', `en-us+${v.variant}`, '-p', String(v.pitch), '-s', String(v.rate), '-a', String(v.amplitude), '--stdout', v.sentence];
  let r;
  try {
    r = await runTool('espeak-ng', args, { onStdout: (c) => void chunks.push(c) });
  } catch {
    throw new UserError('espeak-ng not found: run scripts/setup-media.sh (Debian: apt-get install espeak-ng)', 1);
  }
  const wav = Buffer.concat(chunks);
  const at = wav.indexOf('data', 12, 'latin1');
  if (r.code !== 0 || at < 0) throw new UserError(`espeak-ng failed: ${r.stderr.trim() || `exit code ${r.code}`}`, 1);
  const pcm = wav.subarray(at + 8);
  const n = Math.floor(pcm.length / 2);
  // copy: the Buffer's offset may not be 2-aligned
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = pcm.readInt16LE(2 * i);
  return out;
}

/** The speech without the silence espeak puts around it. */
function trimSilence(s: Int16Array, threshold = 64): Int16Array {
  let a = 0, b = s.length;
  while (a < b && Math.abs(s[a]) < threshold) a++;
  while (b > a && Math.abs(s[b - 1]) < threshold) b--;
  return s.subarray(a, b);
}

/** The clip's audio: `seconds` long at ESPEAK_RATE, speech from `lead` on over a noise floor. */
export function mixTrack(speech: Int16Array, v: VoiceSpec, seconds: number, rng: Rng): Int16Array {
  const n = Math.round(seconds * ESPEAK_RATE);
  const out = new Int16Array(n);
  const s = trimSilence(speech);
  const start = Math.round(v.lead * ESPEAK_RATE);
  const len = Math.min(s.length, n - start);
  const fade = Math.round(0.05 * ESPEAK_RATE); // when cut short, fade out instead of clicking
  const noise = v.noise * 32768 * Math.sqrt(3); // uniform noise with this RMS
  for (let i = 0; i < n; i++) {
    let x = (rng.next() * 2 - 1) * noise;
    const k = i - start;
    if (k >= 0 && k < len) x += s[k] * (len < s.length ? Math.min(1, (len - k) / fade) : 1);
    out[i] = Math.max(-32768, Math.min(32767, Math.round(x)));
  }
  return out;
}
