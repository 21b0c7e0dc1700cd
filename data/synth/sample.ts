/**
 * Planning one SynthEmo sample: everything about it (class, exact valence and arousal, face,
 * background, voice, sentence, target text) drawn from a stream seeded by (seed, index), so it
 * does not depend on n, on the order clips finish, or on how many run at once.
 */
import type { ManifestEntry, Split } from '../manifest/schema';
import { CLASSES, FACE_CLUES, PROMPT, SENTENCES, VOICE_CLUES, type EmotionClass } from './classes';
import { makeBackground } from './background';
import { makeFace } from './face';
import type { Scene } from './frame';
import { Rng } from './rng';
import { makeVoice, type VoiceSpec } from './voice';

export interface SynthShape {
  width: number;
  height: number;
  fps: number;
  /** clip length in seconds (the same for every clip) */
  seconds: number;
  /** per-pixel noise amplitude (0..255) */
  noise: number;
}

export const DEFAULT_SHAPE: SynthShape = { width: 224, height: 224, fps: 10, seconds: 3, noise: 8 };

export interface SamplePlan {
  index: number;
  id: string;
  /** the clip's path relative to the output folder */
  file: string;
  cls: EmotionClass;
  valence: number;
  arousal: number;
  scene: Scene;
  voice: VoiceSpec;
  frames: number;
  entry: ManifestEntry;
}

/** Classes go round in blocks of 9 (each block shuffled), so every class is equally common. */
export function classOf(seed: number, index: number): EmotionClass {
  const k = CLASSES.length;
  const order = Rng.derive(seed, 0xc1a55, Math.floor(index / k)).shuffle(CLASSES.map((_, i) => i));
  return CLASSES[order[index % k]];
}

/** Train/val/test by a seeded permutation: the first `train` fraction, then `val`, then the rest. */
export function assignSplits(n: number, seed: number, fractions = { train: 0.8, val: 0.1 }): Split[] {
  const perm = Rng.derive(seed, 0x5b117).shuffle(Array.from({ length: n }, (_, i) => i));
  const nTrain = Math.round(n * fractions.train);
  const nVal = Math.min(n - nTrain, Math.round(n * fractions.val));
  const split: Split[] = new Array(n);
  perm.forEach((idx, rank) => (split[idx] = rank < nTrain ? 'train' : rank < nTrain + nVal ? 'val' : 'test'));
  return split;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** A level spread into a continuous value: -1 -> [-0.95, -0.55], 0 -> [-0.2, 0.2], 1 -> [0.55, 0.95]. */
function spread(rng: Rng, level: number): number {
  return round2(level * 0.75 + rng.range(-0.2, 0.2));
}

/**
 * The target answer: the clues, one modality at a time in a fixed frame, then the conclusion,
 * "Face: lowered mouth corners, lowered, drawn-in brows. Voice: slow, quiet, low-pitched speech.
 * The person is sad." Each clue depends on one modality (the face's on valence, the voice's on
 * arousal) and the emotion follows from the two clues, so a model that learns the answer from
 * scratch (the tiny presets' byte-level LLM) learns two 3-way readings of one modality each and
 * then a mapping written in the text, instead of a 9-way reading of both at the first token.
 */
function describe(rng: Rng, cls: EmotionClass): { text: string; words: string[]; clues: string[] } {
  const words = rng.next() < 0.3 ? [cls.name, rng.pick(cls.synonyms.filter((w) => w !== cls.name))] : [cls.name];
  const [mouth, brows] = FACE_CLUES[cls.valence];
  const voice = VOICE_CLUES[cls.arousal];
  return { text: `Face: ${mouth}, ${brows}. Voice: ${voice}. The person is ${words.join(' and ')}.`, words, clues: [mouth, brows, voice] };
}

export function planSample(seed: number, index: number, split: Split, shape: SynthShape = DEFAULT_SHAPE): SamplePlan {
  const rng = Rng.derive(seed, index);
  const cls = classOf(seed, index);
  const valence = spread(rng, cls.valence);
  const arousal = spread(rng, cls.arousal);
  const { width, height, fps } = shape;
  const scene: Scene = {
    width, height, fps,
    face: makeFace(rng, width, height, valence),
    background: makeBackground(rng, width, height),
    noise: shape.noise,
    seed: rng.u32(),
  };
  const voice = makeVoice(rng, arousal, rng.pick(SENTENCES));
  const { text, words, clues } = describe(rng, cls);
  const id = `synthemo-${seed}-${String(index).padStart(6, '0')}`;
  const file = `clips/${id}.mp4`;
  const entry: ManifestEntry = {
    id,
    video: file,
    audio: file, // the audio track is inside the mp4
    conversations: [
      { from: 'human', value: PROMPT },
      { from: 'gpt', value: text },
    ],
    labels: { emotion: cls.name, open_vocab: [...new Set([...words, cls.name])], clues, valence, arousal },
    split,
  };
  return { index, id, file, cls, valence, arousal, scene, voice, frames: Math.round(shape.seconds * fps), entry };
}
