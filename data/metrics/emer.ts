/**
 * EMER "Clue Overlap" and "Label Overlap" (PAPER.md 4.2), 1-10 per sample, mean over samples.
 *
 * THE DEFAULT SCORER HERE IS A DETERMINISTIC LEXICAL STAND-IN, NOT THE PUBLISHED METRIC.
 * The reference (AffectGPT `evaluation.py`) asks gpt-3.5-turbo-16k-0613 (temperature 0) to
 * summarise the GT and the predicted descriptions and to rate their overlap 1-10 (clue overlap),
 * and to turn both into emotion words and rate their overlap 1-10 (label overlap). No GPT is
 * available, so `lexicalEmerScorer` computes instead, for one (GT, prediction) pair:
 *
 *   Clue overlap  = 1 + 9 * F1(C_gt, C_pred), where C_x is the set of content words of x:
 *                   lowercased word tokens, minus English stop words and tokens of < 2 letters;
 *                   emotion words (emotion-wheel.ts table, after lemmatisation) are replaced by
 *                   their synonym-group representative, so "joyful" matches "happy"; every other
 *                   word goes through a fixed light stemmer (plural -s/-es/-ies, -ing, -ed, final
 *                   -e, doubled final consonant), so "smiles"/"smiling"/"smiled" match.
 *   Label overlap = 1 + 9 * F1(L_gt, L_pred), where L_x = the emotion labels extracted from x by
 *                   the EMER-OV extractor (negation-aware, emer-ov.ts), mapped through the grouper
 *                   (one grouping call over the union of both label sets, as in EMER-OV step 2).
 *   F1(A, B)      = 2|A n B| / (|A| + |B|); defined as 1 when both sets are empty (nothing to
 *                   disagree on) and 0 when exactly one is empty.
 *
 * So identical descriptions score 10 and descriptions with no shared content word score 1. The
 * values are NOT comparable with GPT-scored numbers in papers (e.g. Emotion-LLaMA 7.83 / 6.25,
 * Omni-Emotion 8.22): a lexical F1 is much harsher than GPT's rating of paraphrases. Use them for
 * relative comparisons (ablations, checkpoints) only. `EmerScorer` is the plug for a judge model;
 * `parseJudgeScore` parses its answer the way the reference does.
 */
import { lemmatizeEmotion, tableGrouper, type Grouper, EMOTION_GROUPS } from './emotion-wheel';
import { tableExtractor, type LabelExtractor } from './emer-ov';

export interface EmerSample {
  id?: string;
  /** Ground-truth description (EMER `english` field). */
  gt: string;
  /** Model description. */
  pred: string;
}

/** A scorer returns 1..10 per pair; async allowed for a judge model. */
export interface EmerScorer {
  clueOverlap(gt: string, pred: string): number | Promise<number>;
  labelOverlap(gt: string, pred: string): number | Promise<number>;
}
export interface SyncEmerScorer extends EmerScorer {
  clueOverlap(gt: string, pred: string): number;
  labelOverlap(gt: string, pred: string): number;
}

export interface EmerSampleScore {
  id?: string;
  clueOverlap: number;
  labelOverlap: number;
}

export interface EmerResult {
  n: number;
  /** Means on the 1..10 scale. */
  clueOverlap: number;
  labelOverlap: number;
  samples: EmerSampleScore[];
}

/** Common English function words; content words are what remains. */
export const STOPWORDS: ReadonlySet<string> = new Set(
  ('a an the and or but if then else of at by for with about against between into through during before after above below ' +
    'to from up down in out on off over under again further once here there when where why how all any both each few more ' +
    'most other some such no nor not only own same so than too very can will just don should now is are was were be been ' +
    'being have has had having do does did doing would could might must shall may i me my myself we our ours ourselves you ' +
    'your yours yourself yourselves he him his himself she her hers herself it its itself they them their theirs themselves ' +
    'what which who whom this that these those am as until while because also although though however yet still even ' +
    'ever there\'s it\'s he\'s she\'s isn\'t aren\'t wasn\'t weren\'t doesn\'t don\'t didn\'t won\'t can\'t cannot ' +
    'one two something someone somewhat rather quite really much many via per whose whether upon onto within without ' +
    'seems seem seemed appears appear appeared shows show showed showing indicates indicate indicating suggests suggest ' +
    'suggesting likely possibly may might character person man woman video scene clip')
    .split(/\s+/)
    .filter((w) => w.length > 0),
);

/** Fixed light stemmer (deterministic; both sides get the same treatment). */
export function lightStem(word: string): string {
  let w = word;
  if (w.length > 4 && w.endsWith('ies')) w = `${w.slice(0, -3)}y`;
  else if (w.length > 4 && /(?:ss|x|ch|sh)es$/.test(w)) w = w.slice(0, -2);
  else if (w.length > 3 && w.endsWith('s') && !/(?:ss|us|is)$/.test(w)) w = w.slice(0, -1);
  if (w.length > 5 && w.endsWith('ing')) w = w.slice(0, -3);
  else if (w.length > 4 && w.endsWith('ed')) w = w.slice(0, -2);
  if (w.length > 3 && w.endsWith('e')) w = w.slice(0, -1);
  if (w.length > 3 && /([b-df-hj-np-tv-z])\1$/.test(w)) w = w.slice(0, -1);
  return w;
}

const TABLE_WORDS: ReadonlySet<string> = new Set(EMOTION_GROUPS.flat());

export interface LexicalOptions {
  grouper?: Grouper;
  extractor?: LabelExtractor;
  stopwords?: ReadonlySet<string>;
}

/** Content-word set of a description (see the file comment). */
export function contentWords(text: string, options: LexicalOptions = {}): Set<string> {
  const grouper = options.grouper ?? tableGrouper;
  const stop = options.stopwords ?? STOPWORDS;
  const tokens = (text.toLowerCase().replace(/[\u2018\u2019]/g, "'").match(/[a-z]+(?:['-][a-z]+)*/g) ?? [])
    .filter((w) => w.length >= 2 && !stop.has(w));
  const emotionTokens = tokens.filter((w) => TABLE_WORDS.has(lemmatizeEmotion(w)));
  const groups = grouper([...new Set(emotionTokens)]);
  return new Set(tokens.map((w) => (groups.has(w) ? `emo:${groups.get(w)}` : lightStem(w))));
}

/** Set F1: 2|A n B| / (|A| + |B|); 1 when both empty, 0 when one is. */
export function setF1(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let inter = 0;
  for (const x of a) if (b.has(x)) inter++;
  return (2 * inter) / (a.size + b.size);
}

/** Maps an F1 in [0, 1] to the 1..10 judge scale. */
export function f1ToScore(f1: number): number {
  return 1 + 9 * Math.min(1, Math.max(0, f1));
}

/** The deterministic lexical stand-in for the GPT scorer (see the file comment). */
export function lexicalEmerScorer(options: LexicalOptions = {}): SyncEmerScorer {
  const grouper = options.grouper ?? tableGrouper;
  const extractor = options.extractor ?? tableExtractor;
  return {
    clueOverlap: (gt, pred) => f1ToScore(setF1(contentWords(gt, options), contentWords(pred, options))),
    labelOverlap: (gt, pred) => {
      const g = extractor(gt).map((w) => w.toLowerCase());
      const p = extractor(pred).map((w) => w.toLowerCase());
      const map = grouper([...new Set([...g, ...p])]);
      const G = new Set(g.map((w) => map.get(w) ?? w));
      const P = new Set(p.map((w) => map.get(w) ?? w));
      return f1ToScore(setF1(G, P));
    },
  };
}

function aggregate(scores: EmerSampleScore[]): EmerResult {
  const n = scores.length;
  const mean = (k: 'clueOverlap' | 'labelOverlap'): number => (n ? scores.reduce((a, s) => a + s[k], 0) / n : 0);
  return { n, clueOverlap: mean('clueOverlap'), labelOverlap: mean('labelOverlap'), samples: scores };
}

function sampleScore(s: EmerSample, clue: number, label: number): EmerSampleScore {
  const out: EmerSampleScore = { clueOverlap: clue, labelOverlap: label };
  if (s.id !== undefined) out.id = s.id;
  return out;
}

/** Mean clue / label overlap with a synchronous scorer (default: the lexical stand-in). */
export function emerMetrics(samples: readonly EmerSample[], scorer: SyncEmerScorer = lexicalEmerScorer()): EmerResult {
  return aggregate(samples.map((s) => sampleScore(s, scorer.clueOverlap(s.gt, s.pred), scorer.labelOverlap(s.gt, s.pred))));
}

/** The same with any scorer, e.g. a judge model behind an API (samples scored one after another). */
export async function emerMetricsAsync(samples: readonly EmerSample[], scorer: EmerScorer): Promise<EmerResult> {
  const scores: EmerSampleScore[] = [];
  for (const s of samples) scores.push(sampleScore(s, await scorer.clueOverlap(s.gt, s.pred), await scorer.labelOverlap(s.gt, s.pred)));
  return aggregate(scores);
}

/**
 * Parses a judge's answer like the reference: the first match of `[\d][.]*[\d]*` (e.g.
 * "'预测分数'：7；'原因'：..." -> 7, "8.5" -> 8.5). Undefined when there is no digit.
 */
export function parseJudgeScore(answer: string): number | undefined {
  const m = /[\d][.]*[\d]*/.exec(answer);
  if (!m) return undefined;
  const v = Number.parseFloat(m[0]);
  return Number.isFinite(v) ? v : undefined;
}
