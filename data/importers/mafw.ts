/**
 * MAFW (PAPER.md 3.2): 11 single-emotion classes, 5-fold benchmark.
 *
 * Label files: `Train & Test Set/single/no_caption/set_{1..5}/{train,test}.txt`, one clip a line,
 * `<clip file> <class>` separated by white space, e.g. `00019.mp4 anger`; clips in `data/clips/`.
 * Classes: anger, disgust, fear, happiness, neutral, sadness, surprise, contempt, anxiety,
 * helplessness, disappointment (case-insensitive).
 *
 * Each row becomes the sibling model's instruction (HumanOmni `eval_mafw_dfew.py`): the question,
 * then its MAFW options `happy ,surprise ,neutral ,angry ,disgust ,sad ,fear ,contemptuous,
 * disappointed, helpless, anxious`. The answer is the option word of the class (anger -> angry,
 * happiness -> happy, contempt -> contemptuous, ...; MAFW_ANSWER), also in `labels.emotion`, so
 * the scorer compares predictions with the words the model was asked to choose from. The split
 * comes from the file name (train.txt / test.txt) unless given. Ids are `mafw-<clip stem>`.
 */
import { basename, extname } from 'node:path';
import type { ManifestEntry, Split } from '../manifest/index';
import { finish, mediaPath, readText, turns, type ImportIssue, type ImportOptions, type ImportResult } from './common';
import { EMOTION_QUESTION } from './dfew';

export const MAFW_CLASSES = ['anger', 'disgust', 'fear', 'happiness', 'neutral', 'sadness', 'surprise', 'contempt', 'anxiety', 'helplessness', 'disappointment'] as const;
export type MafwClass = (typeof MAFW_CLASSES)[number];

/** The option word the model answers for each class. */
export const MAFW_ANSWER: Record<MafwClass, string> = {
  anger: 'angry', disgust: 'disgust', fear: 'fear', happiness: 'happy', neutral: 'neutral', sadness: 'sad', surprise: 'surprise',
  contempt: 'contemptuous', anxiety: 'anxious', helplessness: 'helpless', disappointment: 'disappointed',
};

export const MAFW_OPTIONS = 'happy ,surprise ,neutral ,angry ,disgust ,sad ,fear ,contemptuous, disappointed, helpless, anxious';
export const MAFW_PROMPT = `${EMOTION_QUESTION}\n${MAFW_OPTIONS}`;

export interface MafwRow {
  line: number;
  /** the clip file as written (e.g. 00019.mp4) */
  file: string;
  label: MafwClass;
}

export function mafwFileSplit(file: string): Split | undefined {
  const b = basename(file).toLowerCase();
  return /train/.test(b) ? 'train' : /test/.test(b) ? 'test' : undefined;
}

export async function readMafwLabels(file: string, issues: ImportIssue[] = []): Promise<MafwRow[]> {
  const text = await readText(file);
  const out: MafwRow[] = [];
  const seen = new Map<string, number>();
  text.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((raw, k) => {
    const line = k + 1;
    const s = raw.trim();
    if (s === '' || s.startsWith('#')) return;
    const parts = s.split(/\s+/);
    if (parts.length !== 2) {
      issues.push({ file, line, message: `expected '<clip file> <class>', got ${parts.length} field${parts.length === 1 ? '' : 's'}` });
      return;
    }
    const [clip, cls] = parts;
    if (!/^[\w.\-]+$/.test(clip)) {
      issues.push({ file, line, message: `${JSON.stringify(clip)} is not a clip file name` });
      return;
    }
    const label = cls.toLowerCase() as MafwClass;
    if (!(MAFW_CLASSES as readonly string[]).includes(label)) {
      issues.push({ file, line, message: `class ${JSON.stringify(cls)} is not one of ${MAFW_CLASSES.join(', ')}` });
      return;
    }
    const first = seen.get(clip);
    if (first !== undefined) {
      issues.push({ file, line, message: `clip ${clip} was already on line ${first}` });
      return;
    }
    seen.set(clip, line);
    out.push({ line, file: clip, label });
  });
  if (out.length === 0 && issues.length === 0) issues.push({ file, line: 0, message: 'the file lists no clip' });
  return out;
}

export async function importMafw(file: string, o: ImportOptions): Promise<ImportResult> {
  const issues: ImportIssue[] = [];
  const rows = await readMafwLabels(file, issues);
  const split = o.split ?? mafwFileSplit(file) ?? 'test';
  const prompt = o.prompt ?? MAFW_PROMPT;
  const entries = rows.map((r) => {
    const stem = extname(r.file) ? r.file.slice(0, -extname(r.file).length) : r.file;
    const answer = MAFW_ANSWER[r.label];
    return {
      file,
      line: r.line,
      entry: { id: `mafw-${stem}`, video: mediaPath(o, r.file), conversations: turns(prompt, answer), labels: { emotion: answer }, split } satisfies ManifestEntry,
    };
  });
  return finish(o, entries, issues);
}
