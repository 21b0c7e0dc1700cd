/**
 * data/metrics: UAR/WAR (HumanOmni eval_mafw_dfew.py semantics), EMER-OV set metrics (MERTools
 * main-ov.py), the built-in emotion table, label extraction, the lexical EMER stand-in, reports.
 */
import { describe, expect, it } from 'vitest';
import {
  classificationMetrics, classesFromOptions, DFEW_ANSWER_CLASSES, MAFW_ANSWER_CLASSES, foldMean,
} from '../data/metrics/classification';
import {
  EMOTION_GROUPS, EMOTION_LEMMAS, emotionGroupOf, lemmatizeEmotion, mapFromGroups, tableGrouper, groupsGrouper,
} from '../data/metrics/emotion-wheel';
import { emerOvMetrics, emerOvMetricsAsync, extractEmotionLabels, parseLabelList, type OvSample } from '../data/metrics/emer-ov';
import { emerMetrics, emerMetricsAsync, lexicalEmerScorer, parseJudgeScore, setF1, contentWords } from '../data/metrics/emer';
import { ablationTable, confusionTable, markdownTable, perClassTable, toJson } from '../data/metrics/report';

describe('classification: UAR / WAR', () => {
  // classes happy, sad, angry, fear; fear never in y_true, angry never predicted.
  const yTrue = ['happy', 'happy', 'happy', 'sad', 'sad', 'angry', 'angry'];
  const yPred = ['happy', ' happy\n', 'sad', 'sad', '  happy', 'Angry', 'fear'];
  // happy 2/3, sad 1/2, angry 0 ("Angry" is unknown: exact match), fear: not in y_true.
  const uar = (2 / 3 + 1 / 2 + 0) / 3; // 7/18
  const war = 3 / 7;

  it('hand-computed confusion data with an explicit class list', () => {
    const r = classificationMetrics(yTrue, yPred, { classes: ['happy', 'sad', 'angry', 'fear'] });
    expect(r.n).toBe(7);
    expect(r.uar).toBeCloseTo(7 / 18, 12);
    expect(r.uar).toBeCloseTo(uar, 12);
    expect(r.war).toBeCloseTo(war, 12);
    expect(r.perClassRecall).toEqual({ happy: 2 / 3, sad: 0.5, angry: 0, fear: null });
    expect(r.support).toEqual({ happy: 3, sad: 2, angry: 2, fear: 0 });
    expect(r.unknownPredictions).toBe(1);
    expect(r.confusion).toEqual([
      [2, 1, 0, 0, 0],
      [1, 1, 0, 0, 0],
      [0, 0, 0, 1, 1],
      [0, 0, 0, 0, 0],
    ]);
  });

  it('default classes = sorted distinct y_true; a prediction outside them is unknown and wrong', () => {
    const r = classificationMetrics(yTrue, yPred);
    expect(r.classes).toEqual(['angry', 'happy', 'sad']);
    expect(r.uar).toBeCloseTo(uar, 12);
    expect(r.war).toBeCloseTo(war, 12);
    expect(r.unknownPredictions).toBe(2); // "Angry" and "fear"
    expect(r.confusion[0]).toEqual([0, 0, 0, 2]);
  });

  it('WAR equals the support-weighted recall', () => {
    const r = classificationMetrics(yTrue, yPred, { classes: DFEW_ANSWER_CLASSES });
    let w = 0;
    for (const c of r.classes) if (r.perClassRecall[c] !== null) w += (r.support[c]! / r.n) * r.perClassRecall[c]!;
    expect(r.war).toBeCloseTo(w, 12);
  });

  it('lstrip-only normalisation reproduces the reference exactly', () => {
    const r = classificationMetrics(['sad', 'sad'], [' sad', 'sad '], { normalize: (s) => s.trimStart() });
    expect(r.war).toBe(0.5);
  });

  it('class lists from the prompts; errors', () => {
    expect(DFEW_ANSWER_CLASSES).toEqual(['happy', 'surprise', 'neutral', 'angry', 'disgust', 'sad', 'fear']);
    expect(MAFW_ANSWER_CLASSES).toHaveLength(11);
    expect(MAFW_ANSWER_CLASSES.slice(7)).toEqual(['contemptuous', 'disappointed', 'helpless', 'anxious']);
    expect(classesFromOptions(' a ,b, c,')).toEqual(['a', 'b', 'c']);
    expect(() => classificationMetrics(['a'], [])).toThrow(/1 items/);
    expect(() => classificationMetrics(['x'], ['x'], { classes: ['a'] })).toThrow(/not a class/);
    expect(classificationMetrics([], [])).toMatchObject({ n: 0, uar: 0, war: 0 });
    const f = foldMean([0.5, 0.7]);
    expect(f.mean).toBeCloseTo(0.6, 12);
    expect(f.std).toBeCloseTo(Math.SQRT2 / 10, 12);
  });
});

describe('emotion table', () => {
  it('groups are disjoint, lowercase, and cover DFEW / MAFW classes', () => {
    const all = EMOTION_GROUPS.flat();
    expect(new Set(all).size).toBe(all.length);
    for (const w of all) expect(w).toBe(w.toLowerCase());
    for (const c of [...DFEW_ANSWER_CLASSES, ...MAFW_ANSWER_CLASSES, 'anger', 'happiness', 'sadness', 'contempt', 'anxiety', 'helplessness', 'disappointment']) {
      expect(emotionGroupOf(c), c).toBeDefined();
    }
    for (const base of Object.values(EMOTION_LEMMAS)) expect(all).toContain(base);
  });

  it('lemmatises simple forms', () => {
    expect(lemmatizeEmotion('Happiness')).toBe('happy');
    expect(lemmatizeEmotion('anger')).toBe('angry');
    expect(lemmatizeEmotion('sadness')).toBe('sad');
    expect(lemmatizeEmotion('fear')).toBe('fearful');
    expect(lemmatizeEmotion('surprise')).toBe('surprised');
    expect(lemmatizeEmotion('frustration')).toBe('frustrated');
    expect(lemmatizeEmotion('joyously')).toBe('joyous'); // -ly rule
    expect(lemmatizeEmotion('gloominess')).toBe('gloomy'); // -iness rule
    expect(lemmatizeEmotion(' "Zany" ')).toBe('zany'); // unknown: cleaned, unchanged
  });

  it('groups the brief synonym sets together', () => {
    const sets = [
      ['happy', 'joyful', 'cheerful', 'pleased', 'delighted', 'content', 'excited', 'enthusiastic'],
      ['sad', 'unhappy', 'sorrowful', 'depressed', 'disappointed', 'gloomy'],
      ['angry', 'irritated', 'annoyed', 'furious', 'frustrated'],
      ['fearful', 'afraid', 'scared', 'anxious', 'nervous', 'worried', 'tense'],
      ['surprised', 'astonished', 'amazed', 'shocked'],
      ['disgusted', 'contemptuous'],
      ['neutral', 'calm', 'relaxed', 'peaceful'],
      ['tired', 'bored'],
    ];
    const reps = sets.map((s) => {
      const m = tableGrouper(s);
      const r = new Set(s.map((w) => m.get(w)));
      expect(r.size, s.join()).toBe(1);
      return [...r][0];
    });
    expect(new Set(reps).size).toBe(sets.length);
    const m = tableGrouper(['Happiness', 'ANGER', 'zany']);
    expect(m.get('Happiness')).toBe('happy');
    expect(m.get('ANGER')).toBe('angry');
    expect(m.get('zany')).toBe('zany');
  });

  it('mapFromGroups follows the reference (first element; unlisted -> itself; last group wins)', () => {
    const m = mapFromGroups(['a', 'b', 'c', 'd'], [['a', 'b'], ['c', 'a']]);
    expect([...m]).toEqual([['a', 'c'], ['b', 'a'], ['c', 'c'], ['d', 'd']]);
    const g = groupsGrouper([['good', 'fine']]);
    expect(g(['Fine', 'goodness'])).toEqual(new Map([['Fine', 'good'], ['goodness', 'good']]));
  });
});

describe('EMER-OV', () => {
  const samples: OvSample[] = [
    { id: 's1', gt: ['joyful', 'relaxed'], pred: ['happy', 'calm', 'angry'] }, // G={happy,neutral} P={happy,neutral,angry}: 2/3, 1
    { id: 's2', gt: ['sad'], pred: [] }, // empty prediction: 0, 0
    { id: 's3', gt: ['Anger', 'worried', 'surprised'], pred: ['angry', 'Nervous'] }, // G={angry,fearful,surprised} P={angry,fearful}: 1, 2/3
    { id: 's4', gt: ['zany'], pred: ['Zany', 'sad'] }, // unlisted word maps to itself: 1/2, 1
  ];

  it('the sanity sample from the brief', () => {
    const r = emerOvMetrics([samples[0]!]);
    expect(r.samples[0]).toEqual({ id: 's1', gt: ['happy', 'neutral'], pred: ['angry', 'happy', 'neutral'], accuracy: 2 / 3, recall: 1 });
    expect(r.avg).toBeCloseTo(5 / 6, 12);
  });

  it('hand-computed means over samples, x100', () => {
    const r = emerOvMetrics(samples);
    expect(r.n).toBe(4);
    expect(r.samples.map((s) => [s.accuracy, s.recall])).toEqual([[2 / 3, 1], [0, 0], [1, 2 / 3], [0.5, 1]]);
    expect(r.accuracy).toBeCloseTo(13 / 24, 12);
    expect(r.recall).toBeCloseTo(2 / 3, 12);
    expect(r.avg).toBeCloseTo(29 / 48, 12);
    expect(r.avgPct).toBeCloseTo(2900 / 48, 10);
    expect(r.accuracyPct).toBeCloseTo(1300 / 24, 10);
  });

  it('without grouping (identity), synonyms do not match', () => {
    const identity = (words: string[]) => new Map(words.map((w) => [w, w]));
    const r = emerOvMetrics([samples[0]!], identity);
    expect(r.accuracy).toBe(0);
    expect(r.recall).toBe(0);
  });

  it('a judge-style async grouper (list-of-lists output) gives the same numbers', async () => {
    const judge = async (words: string[]) => mapFromGroups(words, [['joyful', 'happy'], ['relaxed', 'calm']]);
    const r = await emerOvMetricsAsync([samples[0]!], judge);
    expect(r.accuracy).toBeCloseTo(2 / 3, 12);
    expect(r.recall).toBe(1);
  });

  it('empty predictions and empty GT', () => {
    expect(emerOvMetrics([{ gt: ['happy'], pred: ['', '  '] }]).avg).toBe(0);
    const withEmptyGt = [{ gt: [], pred: ['happy'] }, { gt: ['happy'], pred: ['glad'] }];
    expect(emerOvMetrics(withEmptyGt)).toMatchObject({ n: 2, accuracy: 0.5, recall: 0.5 });
    expect(emerOvMetrics(withEmptyGt, tableGrouper, { skipEmptyGt: true })).toMatchObject({ n: 1, accuracy: 1, recall: 1 });
    expect(emerOvMetrics([])).toMatchObject({ n: 0, accuracy: 0, recall: 0, avg: 0 });
  });

  it('parses label lists', () => {
    expect(parseLabelList("['pleasurable', 'relaxed', 'happy']")).toEqual(['pleasurable', 'relaxed', 'happy']);
    expect(parseLabelList('[happy, sad, angry]')).toEqual(['happy', 'sad', 'angry']);
    expect(parseLabelList('Happy, sad and relaxed.')).toEqual(['Happy', 'sad', 'relaxed']);
    expect(parseLabelList('[]')).toEqual([]);
  });
});

describe('label extraction from descriptions', () => {
  it('finds table words and their lemmas', () => {
    expect(extractEmotionLabels('His emotional state is happy, sad, and angry.')).toEqual(['happy', 'sad', 'angry']);
    expect(extractEmotionLabels('Her voice shows anxiety and her face frustration.')).toEqual(['anxious', 'frustrated']);
    expect(extractEmotionLabels('We cannot recognize his emotional state.')).toEqual([]);
  });

  it('handles negation', () => {
    expect(extractEmotionLabels('He is not happy; he is angry and frustrated.')).toEqual(['angry', 'frustrated']);
    expect(extractEmotionLabels("He doesn't show any fear. His sadness is obvious.")).toEqual(['sad']);
    expect(extractEmotionLabels('She is neither happy nor sad, just calm.')).toEqual(['calm']);
    expect(extractEmotionLabels('no longer worried')).toEqual([]);
    expect(extractEmotionLabels('not only happy but also excited')).toEqual(['happy', 'excited']);
    expect(extractEmotionLabels("He isn't angry, but he is upset")).toEqual(['upset']);
    // a negated occurrence does not block a later plain one
    expect(extractEmotionLabels('Not angry at first. Later he becomes angry.')).toEqual(['angry']);
  });

  it('appearance vs actual state (the reference 1-shot example)', () => {
    expect(extractEmotionLabels('He looks happy, but he is actually anxious.')).toEqual(['anxious']);
    expect(extractEmotionLabels('He looks happy.')).toEqual(['happy']);
  });

  it('multi-word forms, exclusions of cues and ambiguous words', () => {
    expect(extractEmotionLabels('He was taken aback, then at ease.')).toEqual(['taken aback', 'at ease']);
    expect(extractEmotionLabels('The content of the clip: he is smiling and laughing.')).toEqual([]);
  });
});

describe('EMER lexical stand-in', () => {
  const scorer = lexicalEmerScorer();
  const gt = 'The man frowns and raises his voice; his tone is sharp. He is angry and frustrated with his colleague.';

  it('identical descriptions score 10 on both', () => {
    expect(scorer.clueOverlap(gt, gt)).toBe(10);
    expect(scorer.labelOverlap(gt, gt)).toBe(10);
  });

  it('unrelated descriptions score low; partial overlap scores in between (monotonic)', () => {
    const unrelated = 'A woman sits quietly reading a book in the garden, calm and relaxed.';
    const partial = 'The man frowns while talking to his colleague; he seems annoyed.';
    const lo = scorer.clueOverlap(gt, unrelated);
    const mid = scorer.clueOverlap(gt, partial);
    expect(lo).toBeLessThan(2);
    expect(mid).toBeGreaterThan(lo);
    expect(mid).toBeLessThan(10);
    expect(scorer.labelOverlap(gt, unrelated)).toBe(1);
    // annoyed groups with angry/frustrated: G={angry}, P={angry}
    expect(scorer.labelOverlap(gt, partial)).toBe(10);
    expect(scorer.labelOverlap('She is joyful.', 'She is happy and nervous.')).toBeCloseTo(1 + 9 * (2 / 3), 12);
  });

  it('content words: stop words dropped, stems and emotion groups unified', () => {
    expect(contentWords('He smiles; she smiled, smiling.')).toEqual(new Set(['smil']));
    expect(setF1(contentWords('she is joyful'), contentWords('she was happy'))).toBe(1);
    expect(setF1(new Set(), new Set())).toBe(1);
    expect(setF1(new Set(['a']), new Set())).toBe(0);
  });

  it('means, async judge plug, judge-answer parsing', async () => {
    const r = emerMetrics([{ id: 'a', gt, pred: gt }, { gt, pred: 'A woman reads a book in the garden.' }]);
    expect(r.n).toBe(2);
    expect(r.samples[0]).toEqual({ id: 'a', clueOverlap: 10, labelOverlap: 10 });
    expect(r.clueOverlap).toBeCloseTo((10 + r.samples[1]!.clueOverlap) / 2, 12);
    const judge = { clueOverlap: async () => parseJudgeScore("'预测分数'：7；'原因'：...") ?? 0, labelOverlap: () => 6.5 };
    expect(await emerMetricsAsync([{ gt, pred: gt }], judge)).toMatchObject({ clueOverlap: 7, labelOverlap: 6.5 });
    expect(parseJudgeScore('score: 8.5 because')).toBe(8.5);
    expect(parseJudgeScore('10')).toBe(10);
    expect(parseJudgeScore('none')).toBeUndefined();
  });
});

describe('report', () => {
  it('markdownTable: alignment, number formatting, missing values, escaping', () => {
    const md = markdownTable(
      [{ setting: 'V', acc: 50, note: 'a|b' }, { setting: 'V+A+F', acc: 62.345, note: undefined }],
      ['setting', { key: 'acc', header: 'Acc %', digits: 1 }, 'note'],
    );
    expect(md).toBe(
      '| setting | Acc % | note |\n' +
      '| --- | ---: | --- |\n' +
      '| V | 50.0 | a\\|b |\n' +
      '| V+A+F | 62.3 | - |',
    );
  });

  it('ablation table from metric results, JSON, per-class and confusion tables', () => {
    const ov = emerOvMetrics([{ gt: ['joyful', 'relaxed'], pred: ['happy', 'calm', 'angry'] }]);
    const cls = classificationMetrics(['happy', 'sad'], ['happy', 'happy'], { classes: ['happy', 'sad'] });
    const t = ablationTable('Modality', [['V', { emerOv: ov }], ['V+A+F', { emerOv: ov, dfew: cls }]]);
    expect(t.markdown.split('\n')[0]).toBe('| Modality | EMER-OV Acc | EMER-OV Recall | EMER-OV Avg | DFEW UAR | DFEW WAR |');
    expect(t.markdown.split('\n')[2]).toBe('| V | 66.67 | 100.00 | 83.33 | - | - |');
    expect(t.markdown.split('\n')[3]).toBe('| V+A+F | 66.67 | 100.00 | 83.33 | 50.00 | 50.00 |');
    expect(JSON.parse(toJson({ x: Number.NaN, rows: t.rows }))).toEqual({ x: null, rows: JSON.parse(JSON.stringify(t.rows)) });
    expect(perClassTable(cls)).toBe('| class | support | recall % |\n| --- | ---: | ---: |\n| happy | 1 | 100.00 |\n| sad | 1 | 0.00 |');
    expect(confusionTable(cls).split('\n')[3]).toBe('| sad | 1 | 0 | 0 |');
  });
});
