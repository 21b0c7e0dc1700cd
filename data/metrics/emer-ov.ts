/**
 * EMER-OV set-level metrics (PAPER.md 4.1; reference MERTools `MER2024/main-ov.py`), with the GPT
 * steps replaced by pluggable deterministic defaults:
 *
 *   step 1  label extraction from a free-text description: GPT-3.5 in the reference; here
 *           `extractEmotionLabels` (table words found in the text, negation-aware), or any
 *           `LabelExtractor`.
 *   step 2  per sample, U = set(GT) U set(Pred) after lowercasing; a Grouper maps every word of U
 *           to its group representative; unlisted words map to themselves. Reference: GPT-3.5;
 *           default here: the built-in table (emotion-wheel.ts).
 *   step 3  G_i, P_i = mapped sets;  Accuracy_s,i = |G_i n P_i| / |P_i|,
 *           Recall_s,i = |G_i n P_i| / |G_i|;  both 0 when P_i is empty.
 *   step 4  Accuracy_s, Recall_s = means over samples; Avg = (Accuracy_s + Recall_s) / 2;
 *           reported x100 (the *Pct fields).
 *
 * One case the reference leaves undefined: an empty G_i with a non-empty P_i raises
 * ZeroDivisionError in main-ov.py. Here such a sample scores accuracy 0 and recall 0 by default,
 * or is left out of the means with `skipEmptyGt: true`. (The 332 EMER-OV GT sets are all non-empty,
 * so this does not affect the benchmark.)
 */
import { cleanEmotionWord, EMOTION_GROUPS, EMOTION_LEMMAS, lemmatizeEmotion, tableGrouper, type AsyncGrouper, type Grouper } from './emotion-wheel';

export interface OvSample {
  id?: string;
  /** Ground-truth open-vocabulary labels. */
  gt: readonly string[];
  /** Predicted labels (a model's list, or extracted from its description). */
  pred: readonly string[];
}

export interface OvSampleScore {
  id?: string;
  /** Mapped (grouped) GT and prediction sets, sorted. */
  gt: string[];
  pred: string[];
  accuracy: number;
  recall: number;
}

export interface OvResult {
  /** Samples in the means. */
  n: number;
  /** Fractions in [0, 1]. */
  accuracy: number;
  recall: number;
  avg: number;
  /** The same x100, as reported. */
  accuracyPct: number;
  recallPct: number;
  avgPct: number;
  samples: OvSampleScore[];
}

export interface OvOptions {
  /** Leave samples with an empty GT set out of the means (default: they score 0 / 0). */
  skipEmptyGt?: boolean;
}

/** Lowercase + trim, as the reference lowercases (and its list parser strips); empties dropped. */
function prepare(words: readonly string[]): string[] {
  return words.map((w) => w.trim().toLowerCase()).filter((w) => w.length > 0);
}

/** Steps 3 for one sample with an already computed word -> representative map. */
export function scoreOvSample(sample: OvSample, mapping: Map<string, string>): OvSampleScore {
  const gtWords = prepare(sample.gt);
  const predWords = prepare(sample.pred);
  const G = new Set(gtWords.map((w) => mapping.get(w) ?? w));
  const P = new Set(predWords.map((w) => mapping.get(w) ?? w));
  let inter = 0;
  for (const p of P) if (G.has(p)) inter++;
  const out: OvSampleScore = {
    gt: [...G].sort(),
    pred: [...P].sort(),
    accuracy: P.size === 0 ? 0 : inter / P.size,
    recall: P.size === 0 || G.size === 0 ? 0 : inter / G.size,
  };
  if (sample.id !== undefined) out.id = sample.id;
  return out;
}

/** The union U of one sample's lowercased GT and predicted words, in first-seen order. */
export function ovUnion(sample: OvSample): string[] {
  return [...new Set([...prepare(sample.gt), ...prepare(sample.pred)])];
}

function aggregate(scores: OvSampleScore[], samples: readonly OvSample[], o: OvOptions): OvResult {
  const kept = o.skipEmptyGt ? scores.filter((_, i) => prepare(samples[i]!.gt).length > 0) : scores;
  const n = kept.length;
  const accuracy = n ? kept.reduce((a, s) => a + s.accuracy, 0) / n : 0;
  const recall = n ? kept.reduce((a, s) => a + s.recall, 0) / n : 0;
  const avg = (accuracy + recall) / 2;
  return { n, accuracy, recall, avg, accuracyPct: accuracy * 100, recallPct: recall * 100, avgPct: avg * 100, samples: scores };
}

/** EMER-OV accuracy / recall / avg with a synchronous grouper (default: the built-in table). */
export function emerOvMetrics(samples: readonly OvSample[], grouper: Grouper = tableGrouper, options: OvOptions = {}): OvResult {
  const scores = samples.map((s) => scoreOvSample(s, grouper(ovUnion(s))));
  return aggregate(scores, samples, options);
}

/** The same with an asynchronous grouper (a judge model); samples are grouped one after another. */
export async function emerOvMetricsAsync(samples: readonly OvSample[], grouper: AsyncGrouper, options: OvOptions = {}): Promise<OvResult> {
  const scores: OvSampleScore[] = [];
  for (const s of samples) scores.push(scoreOvSample(s, await grouper(ovUnion(s))));
  return aggregate(scores, samples, options);
}

/**
 * Parses a label list as a model or a CSV writes it: `[happy, sad]`, `['happy', 'sad']`,
 * `happy, sad and relaxed`, `happy; sad`. Quotes and brackets are dropped, items trimmed.
 */
export function parseLabelList(text: string): string[] {
  const t = text.trim().replace(/^\[|\]$/g, '');
  return t
    .split(/\s*(?:[,;\n|/]|\band\b)\s*/)
    .map((s) => s.trim().replace(/^["'`]+|["'`.!]+$/g, '').trim())
    .filter((s) => s.length > 0);
}

// ---------------------------------------------------------------------------------------------
// Step 1 without GPT: label extraction from a description.

/** Maps a free-text description to emotion labels (pluggable: a judge model can replace it). */
export type LabelExtractor = (text: string) => string[];

/**
 * Table forms not taken from free text: ambiguous words ("content", "down", "kind"), and
 * behavioural cues rather than emotions ("smiling", "crying", "laughter"), which the reference
 * prompt asks to leave out ("only the clearly identifiable emotional categories").
 */
export const EXTRACTION_EXCLUDE: ReadonlySet<string> = new Set([
  'content', 'down', 'blue', 'cross', 'lost', 'trapped', 'warm', 'warmth', 'kind', 'kindness', 'sweet', 'moved', 'touched',
  'grave', 'formal', 'strict', 'severe', 'firm', 'focus', 'focused', 'attention', 'attentive', 'interest', 'interested',
  'hope', 'love', 'pain', 'smile', 'smiles', 'smiling', 'laugh', 'laughs', 'laughing', 'laughter', 'cry', 'cries',
  'crying', 'sob', 'sobbing', 'weeping', 'tears', 'tearful', 'stress', 'peace', 'positive', 'negative', 'sorry', 'hurt',
  'casual', 'comfortable', 'gentle', 'understanding', 'supportive', 'caring', 'bold', 'brave', 'tender', 'funny',
  'silly', 'boring', 'intimate', 'friendly', 'plain', 'complain', 'complains', 'blame', 'focus', 'attention',
  'expectation', 'caution', 'fears', 'care',
]);

const NEGATORS = new Set(['not', 'no', 'never', 'neither', 'nor', 'without', 'hardly', 'barely', 'cannot', 'lack', 'lacks', 'lacking', 'nothing', 'none']);
/** Words that end a negation's scope (besides punctuation). */
const SCOPE_BREAKS = new Set(['but', 'however', 'yet', 'although', 'though', 'whereas', 'while', 'and', 'instead', 'rather']);
/** Contrast markers that split a sentence into segments for the "looks X but is Y" rule. */
const CONTRAST = new Set(['but', 'however', 'yet', 'although', 'though', 'whereas', 'actually', 'instead', 'underneath']);
/** Appearance words: emotions in a segment with one of them are dropped when a later contrasting segment of the sentence names an emotion. */
const APPEARANCE = new Set(['looks', 'look', 'looked', 'seems', 'seem', 'seemed', 'appears', 'appear', 'appeared', 'pretends', 'pretend', 'pretended', 'pretending', 'seemingly', 'outwardly', 'superficially', 'feigns', 'feigned', 'forced', 'fake', 'faked', 'masks', 'masking', 'hides', 'hiding', 'surface']);

export interface ExtractOptions {
  /** Base-form lookup; must return a table word for emotion words (default: the built-in table). */
  lemmatize?: (w: string) => string;
  /** Set of base forms that count as emotions (default: all words of EMOTION_GROUPS). */
  vocabulary?: ReadonlySet<string>;
  exclude?: ReadonlySet<string>;
  /** Word tokens looked back for a negator (default 4). */
  negationWindow?: number;
  /** Longest multi-word phrase matched (default 3). */
  maxPhrase?: number;
}

const TABLE_WORDS: ReadonlySet<string> = new Set(EMOTION_GROUPS.flat());
const MULTIWORD_FORMS: string[] = [...TABLE_WORDS, ...Object.keys(EMOTION_LEMMAS)].filter((w) => w.includes(' '));

type Tok = { w: string; punct: boolean };

function tokenize(text: string): Tok[] {
  const t = text.toLowerCase().replace(/[\u2018\u2019]/g, "'").replace(/[\u2010-\u2015]/g, '-');
  const toks: Tok[] = [];
  for (const m of t.matchAll(/[a-z]+(?:['-][a-z]+)*|[.,;:!?()"]/g)) toks.push({ w: m[0], punct: !/^[a-z]/.test(m[0]) });
  return toks;
}

function isNegator(w: string): boolean {
  return NEGATORS.has(w) || w.endsWith("n't");
}

/**
 * Finds emotion words of the table in a description and returns their base forms (lemmas, not
 * group representatives: grouping is step 2), unique, in order of first appearance.
 * - Multi-word forms ("at ease", "taken aback") are matched first; hyphenated words are one token.
 * - Negation: a word is skipped when a negator (not, no, never, neither, nor, without, hardly,
 *   barely, cannot, lack(s/ing), nothing, none, any "n't" form) occurs among the preceding
 *   `negationWindow` word tokens with no punctuation or scope break (but, however, yet, although,
 *   though, whereas, while, and, instead, rather) in between. "not only X" is not a negation.
 *   A negated occurrence is skipped; another, un-negated occurrence of the word still counts.
 * - Appearance vs actual (the reference 1-shot: "He looks happy, but he is actually anxious" ->
 *   [anxious]): in a sentence split at contrast markers, the emotions of a segment containing an
 *   appearance word (looks, seems, appears, pretends, forced, ...) are dropped when a later segment
 *   of the same sentence yields an emotion.
 */
export function extractEmotionLabels(text: string, options: ExtractOptions = {}): string[] {
  const lemmatize = options.lemmatize ?? lemmatizeEmotion;
  const vocab = options.vocabulary ?? TABLE_WORDS;
  const exclude = options.exclude ?? EXTRACTION_EXCLUDE;
  const window = options.negationWindow ?? 4;
  const maxPhrase = options.maxPhrase ?? 3;
  const toks = tokenize(text);

  const asEmotion = (surface: string): string | undefined => {
    const c = cleanEmotionWord(surface);
    if (exclude.has(c)) return undefined;
    const base = lemmatize(c);
    return vocab.has(base) && !exclude.has(base) ? base : undefined;
  };
  const negated = (i: number): boolean => {
    let seen = 0;
    for (let j = i - 1; j >= 0 && seen < window; j--) {
      const t = toks[j]!;
      if (t.punct || SCOPE_BREAKS.has(t.w)) return false;
      if (isNegator(t.w)) return !(t.w === 'not' && toks[j + 1]?.w === 'only');
      seen++;
    }
    return false;
  };

  // Walk sentences; within each, segments separated by contrast markers.
  type Hit = { base: string; segment: number };
  const result: string[] = [];
  const seen = new Set<string>();
  let sentence: Hit[] = [];
  let segment = 0;
  let appearanceSegments = new Set<number>();
  const flush = (): void => {
    const lastWithEmotion = sentence.length ? Math.max(...sentence.map((h) => h.segment)) : -1;
    for (const h of sentence) {
      if (appearanceSegments.has(h.segment) && h.segment < lastWithEmotion) continue;
      if (!seen.has(h.base)) {
        seen.add(h.base);
        result.push(h.base);
      }
    }
    sentence = [];
    segment = 0;
    appearanceSegments = new Set();
  };

  let i = 0;
  while (i < toks.length) {
    const t = toks[i]!;
    if (t.punct) {
      if ('.;!?'.includes(t.w)) flush();
      i++;
      continue;
    }
    if (CONTRAST.has(t.w)) segment++;
    if (APPEARANCE.has(t.w)) appearanceSegments.add(segment);
    let matched = 0;
    for (let n = Math.min(maxPhrase, toks.length - i); n >= 1 && !matched; n--) {
      const span = toks.slice(i, i + n);
      if (span.some((s) => s.punct)) continue;
      const phrase = span.map((s) => s.w).join(' ');
      if (n > 1 && !MULTIWORD_FORMS.includes(phrase) && !vocab.has(phrase)) continue;
      const base = asEmotion(phrase);
      if (base !== undefined) {
        matched = n;
        if (!negated(i)) sentence.push({ base, segment });
      }
    }
    i += matched || 1;
  }
  flush();
  return result;
}

/** The default extractor as a LabelExtractor. */
export const tableExtractor: LabelExtractor = (text) => extractEmotionLabels(text);
