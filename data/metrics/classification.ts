/**
 * DFEW / MAFW closed-set metrics: UAR, WAR, confusion matrix, per-class recall (PAPER.md 4.3).
 *
 * Reference: HumanOmni `humanomni/eval/eval_mafw_dfew.py` (same team as Omni-Emotion):
 *   response = result["response"].lstrip()                    # prediction string, no other cleaning
 *   unique_classes = np.unique(y_true)
 *   recalls = recall_score(y_true, y_pred, average=None, labels=unique_classes)
 *   UAR = mean(recalls); WAR = sum_k (n_k / N) * recall_k (= overall accuracy)
 * So: the prediction must equal a class name exactly (case-sensitive) after whitespace trimming
 * (we trim both ends, per the project brief; the reference strips only the start, which differs
 * only for answers with trailing whitespace: pass `normalize: (s) => s.trimStart()` to reproduce
 * it bit-exactly). Anything else ("Happy", "happy.", "I think happy") is an unknown prediction
 * and counts as wrong. Recall is averaged over the classes present in y_true only: a class that
 * never occurs in y_true contributes nothing to UAR (its recall is `null` here), a class that is
 * never predicted contributes recall 0.
 *
 * All returned rates are fractions in [0, 1]; papers report them x100 (see report.ts).
 */

export interface ClassificationOptions {
  /**
   * The closed label set the model was asked to choose from (e.g. the DFEW/MAFW prompt options),
   * in the row/column order wanted for the confusion matrix. Default: the sorted distinct y_true
   * values. A prediction outside this set counts as unknown (wrong). Every y_true value must be
   * in it.
   */
  classes?: readonly string[];
  /** Applied to predictions and to y_true before matching. Default: `(s) => s.trim()`. */
  normalize?: (s: string) => string;
}

export interface ClassificationResult {
  /** Number of samples. */
  n: number;
  /** Row/column labels of `confusion` (without the unknown column). */
  classes: string[];
  /**
   * confusion[i][j] = number of samples with true class classes[i] predicted as classes[j];
   * the extra last column j = classes.length counts predictions matching no class.
   */
  confusion: number[][];
  /** Samples per true class. */
  support: Record<string, number>;
  /** Recall per class; `null` when the class has no sample in y_true (excluded from UAR). */
  perClassRecall: Record<string, number | null>;
  /** Predictions that matched no class. */
  unknownPredictions: number;
  /** Unweighted average recall: mean of per-class recall over classes present in y_true. */
  uar: number;
  /** Weighted average recall = overall accuracy (correct / n). */
  war: number;
}

/** Splits a prompt option string such as `happy ,surprise ,neutral` into class names. */
export function classesFromOptions(options: string): string[] {
  return options.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** DFEW answer classes, from the sibling prompt `happy ,surprise ,neutral ,angry ,disgust ,sad ,fear`. */
export const DFEW_ANSWER_CLASSES: readonly string[] = classesFromOptions('happy ,surprise ,neutral ,angry ,disgust ,sad ,fear');
/** MAFW answer classes, from the sibling prompt (DFEW's 7 + contemptuous, disappointed, helpless, anxious). */
export const MAFW_ANSWER_CLASSES: readonly string[] = classesFromOptions(
  'happy ,surprise ,neutral ,angry ,disgust ,sad ,fear ,contemptuous, disappointed, helpless, anxious',
);

const defaultNormalize = (s: string): string => s.trim();

export function classificationMetrics(
  yTrue: readonly string[],
  yPred: readonly string[],
  options: ClassificationOptions = {},
): ClassificationResult {
  if (yTrue.length !== yPred.length) {
    throw new Error(`classificationMetrics: y_true has ${yTrue.length} items, y_pred ${yPred.length}`);
  }
  const norm = options.normalize ?? defaultNormalize;
  const truth = yTrue.map(norm);
  const preds = yPred.map(norm);
  const classes = options.classes ? [...options.classes] : [...new Set(truth)].sort();
  const index = new Map<string, number>();
  classes.forEach((c, i) => {
    if (index.has(c)) throw new Error(`classificationMetrics: duplicate class ${JSON.stringify(c)}`);
    index.set(c, i);
  });
  const K = classes.length;
  const confusion = classes.map(() => new Array<number>(K + 1).fill(0));
  let correct = 0;
  let unknown = 0;
  truth.forEach((t, s) => {
    const i = index.get(t);
    if (i === undefined) throw new Error(`classificationMetrics: true label ${JSON.stringify(t)} (sample ${s}) is not a class`);
    const j = index.get(preds[s]!);
    if (j === undefined) unknown++;
    if (j === i) correct++;
    confusion[i]![j ?? K]!++;
  });
  const support: Record<string, number> = {};
  const perClassRecall: Record<string, number | null> = {};
  const present: number[] = [];
  classes.forEach((c, i) => {
    const row = confusion[i]!;
    const nk = row.reduce((a, b) => a + b, 0);
    support[c] = nk;
    if (nk === 0) {
      perClassRecall[c] = null;
    } else {
      const r = row[i]! / nk;
      perClassRecall[c] = r;
      present.push(r);
    }
  });
  const n = truth.length;
  return {
    n,
    classes,
    confusion,
    support,
    perClassRecall,
    unknownPredictions: unknown,
    uar: present.length ? present.reduce((a, b) => a + b, 0) / present.length : 0,
    war: n ? correct / n : 0,
  };
}

/** Mean and sample standard deviation of a metric over folds (standard DFER protocol: 5 folds). */
export function foldMean(values: readonly number[]): { mean: number; std: number; folds: number } {
  const k = values.length;
  if (k === 0) return { mean: 0, std: 0, folds: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / k;
  const std = k > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (k - 1)) : 0;
  return { mean, std, folds: k };
}
