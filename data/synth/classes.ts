/**
 * SynthEmo's classes: the cells of a 3 x 3 valence x arousal grid. The face carries only
 * valence and the voice only arousal, so each modality alone narrows a sample to one row or
 * column (3 classes) and only both together name the class. Valence -1 x arousal 0 is
 * "fearful" in its anxious, worried sense: the grid has one cell per class, so it cannot also
 * sit beside "angry" at high arousal.
 */
export type Level = -1 | 0 | 1;

export interface EmotionClass {
  name: string;
  valence: Level;
  arousal: Level;
  /** open-vocabulary words for the class; the first is the class name */
  synonyms: readonly string[];
}

export const CLASSES: readonly EmotionClass[] = [
  { name: 'excited', valence: 1, arousal: 1, synonyms: ['excited', 'thrilled', 'enthusiastic', 'elated', 'exhilarated'] },
  { name: 'happy', valence: 1, arousal: 0, synonyms: ['happy', 'joyful', 'cheerful', 'delighted', 'pleased'] },
  { name: 'calm', valence: 1, arousal: -1, synonyms: ['calm', 'content', 'relaxed', 'serene', 'peaceful'] },
  { name: 'surprised', valence: 0, arousal: 1, synonyms: ['surprised', 'astonished', 'amazed', 'startled'] },
  { name: 'neutral', valence: 0, arousal: 0, synonyms: ['neutral', 'composed', 'unemotional', 'matter-of-fact'] },
  { name: 'tired', valence: 0, arousal: -1, synonyms: ['tired', 'weary', 'bored', 'sleepy', 'listless'] },
  { name: 'angry', valence: -1, arousal: 1, synonyms: ['angry', 'furious', 'irritated', 'enraged', 'hostile'] },
  { name: 'fearful', valence: -1, arousal: 0, synonyms: ['fearful', 'anxious', 'worried', 'nervous', 'uneasy'] },
  { name: 'sad', valence: -1, arousal: -1, synonyms: ['sad', 'unhappy', 'sorrowful', 'gloomy', 'dejected'] },
];

/** What the face shows at each valence level (these are what face.ts draws): mouth, brows, eyes.
 * No clue holds an emotion word, so the labels read from an answer are its conclusion's. */
export const FACE_CLUES: Record<Level, readonly string[]> = {
  [1]: ['raised mouth corners', 'slightly raised brows', 'slightly narrowed, smiling eyes'],
  [0]: ['a straight mouth', 'level brows', 'eyes open as usual'],
  [-1]: ['lowered mouth corners', 'lowered, drawn-in brows', 'slightly widened eyes'],
};

/** What the voice shows at each arousal level (these are what voice.ts makes espeak-ng do).
 * Pitch is relative: the speaker's own register is drawn independently of the class. */
export const VOICE_CLUES: Record<Level, string> = {
  [1]: 'fast, loud, high-pitched speech',
  [0]: 'steady speech at a moderate pace and volume',
  [-1]: 'slow, quiet, low-pitched speech',
};

export const PROMPT = "<video>\n<audio>\nDescribe the person's emotional state and the clues for it.";

/** Neutral sentences: the words never hint at the emotion. */
export const SENTENCES: readonly string[] = [
  'The meeting starts at three.',
  'I left the keys on the table.',
  'The train arrives at noon.',
  'We walked to the station.',
  'She opened the window.',
  'The box is in the kitchen.',
  'He called me this morning.',
  'The store closes at nine.',
  'It is on the second floor.',
  'They moved the chairs outside.',
  'I read the letter again.',
  'The bus was on time today.',
];
