/**
 * DFEW (PAPER.md 3.2): 7 classes, the official 5-fold split of the single-labelled clips.
 *
 * Label files (jiangxingxun/DFEW README): `label/single_trainset_{1..5}.csv` and
 * `label/single_testset_{1..5}.csv`, CSV with header `video_name,label` (other columns are
 * ignored); video_name is the clip number (`1` or `00001`; clips are `00001.mp4` ...), label
 * 1..7 = happy, sad, neutral, angry, surprise, disgust, fear (a class word is accepted too).
 *
 * Each row becomes the sibling model's classification instruction (HumanOmni
 * `eval_mafw_dfew.py`, by the paper's first author): the question, then the options
 * `happy ,surprise ,neutral ,angry ,disgust ,sad ,fear`; the answer is the class word, also in
 * `labels.emotion` (the UAR/WAR scorer compares predictions with it). The split comes from the
 * file name (trainset -> train, testset -> test) unless given. Ids are `dfew-<00001>`.
 */
import { basename } from 'node:path';
import type { ManifestEntry, Split } from '../manifest/index';
import { parseCsv } from './csv';
import { columns, finish, mediaPath, readText, turns, type ImportIssue, type ImportOptions, type ImportResult } from './common';

/** Label i + 1 of DFEW's files. */
export const DFEW_CLASSES = ['happy', 'sad', 'neutral', 'angry', 'surprise', 'disgust', 'fear'] as const;
export type DfewClass = (typeof DFEW_CLASSES)[number];

export const EMOTION_QUESTION = 'As an emotional recognition expert, in the video, when the characters display their emotions, which predominant feeling is most clearly expressed?';
export const DFEW_OPTIONS = 'happy ,surprise ,neutral ,angry ,disgust ,sad ,fear';
export const DFEW_PROMPT = `${EMOTION_QUESTION}\n${DFEW_OPTIONS}`;

/** Synonyms accepted in the label column besides 1..7 and the class words. */
const DFEW_SYNONYMS: Record<string, DfewClass> = { happiness: 'happy', sadness: 'sad', anger: 'angry', surprised: 'surprise', disgusted: 'disgust', fearful: 'fear' };

export function dfewClass(label: string): DfewClass | undefined {
  const t = label.trim().toLowerCase();
  if (/^[1-7]$/.test(t)) return DFEW_CLASSES[Number(t) - 1];
  if ((DFEW_CLASSES as readonly string[]).includes(t)) return t as DfewClass;
  return DFEW_SYNONYMS[t];
}

/** train/test and the fold from a DFEW label file name. */
export function dfewFileInfo(file: string): { split?: Split; fold?: number } {
  const b = basename(file).toLowerCase();
  const split: Split | undefined = /train/.test(b) ? 'train' : /test/.test(b) ? 'test' : undefined;
  const fold = /(?:set|fold)_?(\d+)\.csv$/.exec(b)?.[1];
  return { ...(split ? { split } : {}), ...(fold ? { fold: Number(fold) } : {}) };
}

export interface DfewRow {
  line: number;
  name: string;
  label: DfewClass;
}

export async function readDfewLabels(file: string, issues: ImportIssue[] = []): Promise<DfewRow[]> {
  const { records, issues: csvIssues } = parseCsv(await readText(file));
  for (const i of csvIssues) issues.push({ file, ...i });
  if (records.length === 0) {
    issues.push({ file, line: 0, message: 'the file is empty (no header)' });
    return [];
  }
  const header = records[0].fields;
  const col = columns(file, header, ['video_name', 'label'] as const);
  const seen = new Map<string, number>();
  const out: DfewRow[] = [];
  for (const r of records.slice(1)) {
    if (r.fields.length !== header.length) {
      issues.push({ file, line: r.line, message: `expected ${header.length} fields, got ${r.fields.length}` });
      continue;
    }
    const raw = r.fields[col.video_name].trim();
    if (!/^\d{1,5}$/.test(raw)) {
      issues.push({ file, line: r.line, message: `video_name ${JSON.stringify(raw)} is not a clip number (1..99999)` });
      continue;
    }
    const name = raw.padStart(5, '0');
    const label = dfewClass(r.fields[col.label]);
    if (!label) {
      issues.push({ file, line: r.line, message: `label ${JSON.stringify(r.fields[col.label].trim())} is not one of 1..7 (${DFEW_CLASSES.join(', ')})` });
      continue;
    }
    const first = seen.get(name);
    if (first !== undefined) {
      issues.push({ file, line: r.line, message: `clip ${name} was already on line ${first}` });
      continue;
    }
    seen.set(name, r.line);
    out.push({ line: r.line, name, label });
  }
  return out;
}

export async function importDfew(file: string, o: ImportOptions): Promise<ImportResult> {
  const issues: ImportIssue[] = [];
  const rows = await readDfewLabels(file, issues);
  const split = o.split ?? dfewFileInfo(file).split ?? 'test';
  const prompt = o.prompt ?? DFEW_PROMPT;
  const entries = rows.map((r) => ({
    file,
    line: r.line,
    entry: { id: `dfew-${r.name}`, video: mediaPath(o, r.name), conversations: turns(prompt, r.label), labels: { emotion: r.label }, split } satisfies ManifestEntry,
  }));
  return finish(o, entries, issues);
}
