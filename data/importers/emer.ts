/**
 * EMER and EMER-OV (PAPER.md 3.2): the 332 MER2023 clips with emotion-reasoning descriptions and
 * open-vocabulary label sets.
 *
 * - EMER-V2 reasons (AffectGPT `EMER/dataset-v2/final-EMER-reason.csv`): CSV with header
 *   `name,chinese,english`; the descriptions are quoted and hold commas, doubled quotes and
 *   sometimes newlines. The answer is the description in `language` (default english).
 * - EMER-OV labels (MERTools `MER2024/ov_store/check-openset.csv`): CSV with header
 *   `name,openset`, the set a Python list repr: `"['pleasurable', 'relaxed', 'happy']"`.
 *
 * With both files the entries are joined by name: the reasoning description is the answer and
 * the label set goes to `labels.open_vocab` (what the EMER-OV scorer compares with); a name in
 * only one file is reported. With only the label file the answer is the comma-separated set.
 * Entry ids are the clip names; media `mediaDir/<name>.mp4` (MER2023's clips are .avi or .mp4:
 * set `ext`). The prompts are ours (the paper's are not public) and can be replaced.
 */
import type { ManifestEntry } from '../manifest/index';
import { parseCsv, parsePyStringList } from './csv';
import { columns, finish, mediaPath, readText, turns, type ImportIssue, type ImportOptions, type ImportResult } from './common';

export const EMER_PROMPT = "Describe the person's emotional state and the clues for it.";
export const EMER_OV_PROMPT = 'Which emotions does the person show? Answer with a comma-separated list of emotion words.';

export interface EmerReason {
  line: number;
  name: string;
  chinese: string;
  english: string;
}

export interface EmerOpenset {
  line: number;
  name: string;
  labels: string[];
}

function rowsOf(file: string, text: string, issues: ImportIssue[]) {
  const { records, issues: csvIssues } = parseCsv(text);
  for (const i of csvIssues) issues.push({ file, ...i });
  if (records.length === 0) {
    issues.push({ file, line: 0, message: 'the file is empty (no header)' });
    return { header: [] as string[], rows: [] as typeof records };
  }
  return { header: records[0].fields, rows: records.slice(1) };
}

/** Checks the field count and the name, and that a name is not repeated; returns the name or undefined. */
function rowName(file: string, r: { line: number; fields: string[] }, width: number, nameCol: number, seen: Map<string, number>, issues: ImportIssue[]): string | undefined {
  if (r.fields.length !== width) {
    issues.push({ file, line: r.line, message: `expected ${width} fields, got ${r.fields.length}` });
    return undefined;
  }
  const name = r.fields[nameCol].trim();
  if (name === '') {
    issues.push({ file, line: r.line, message: 'empty name' });
    return undefined;
  }
  if (!/^[\w.\-]+$/.test(name)) {
    issues.push({ file, line: r.line, message: `name ${JSON.stringify(name)} is not a clip name (letters, digits, '_', '-', '.')` });
    return undefined;
  }
  const first = seen.get(name);
  if (first !== undefined) {
    issues.push({ file, line: r.line, message: `name ${name} was already on line ${first}` });
    return undefined;
  }
  seen.set(name, r.line);
  return name;
}

export async function readEmerReasons(file: string, issues: ImportIssue[] = []): Promise<EmerReason[]> {
  const { header, rows } = rowsOf(file, await readText(file), issues);
  if (header.length === 0) return [];
  const col = columns(file, header, ['name', 'chinese', 'english'] as const, ['chinese'] as const);
  const seen = new Map<string, number>();
  const out: EmerReason[] = [];
  for (const r of rows) {
    const name = rowName(file, r, header.length, col.name, seen, issues);
    if (name === undefined) continue;
    const english = r.fields[col.english].trim();
    const chinese = col.chinese >= 0 ? r.fields[col.chinese].trim() : '';
    out.push({ line: r.line, name, chinese, english });
  }
  return out;
}

export async function readEmerOpenset(file: string, issues: ImportIssue[] = []): Promise<EmerOpenset[]> {
  const { header, rows } = rowsOf(file, await readText(file), issues);
  if (header.length === 0) return [];
  const col = columns(file, header, ['name', 'openset'] as const);
  const seen = new Map<string, number>();
  const out: EmerOpenset[] = [];
  for (const r of rows) {
    const name = rowName(file, r, header.length, col.name, seen, issues);
    if (name === undefined) continue;
    const parsed = parsePyStringList(r.fields[col.openset]);
    if (typeof parsed === 'string') {
      issues.push({ file, line: r.line, message: `openset: ${parsed}` });
      continue;
    }
    const labels = parsed.map((l) => l.trim()).filter((l) => l !== '');
    if (labels.length === 0) {
      issues.push({ file, line: r.line, message: 'openset: the label list is empty' });
      continue;
    }
    out.push({ line: r.line, name, labels: [...new Set(labels)] });
  }
  return out;
}

export interface EmerImportOptions extends ImportOptions {
  /** final-EMER-reason.csv (name, chinese, english) */
  reasons?: string;
  /** check-openset.csv (name, openset) */
  openset?: string;
  /** the description used as the answer (default english) */
  language?: 'english' | 'chinese';
}

export async function importEmer(o: EmerImportOptions): Promise<ImportResult> {
  if (o.reasons === undefined && o.openset === undefined) throw new Error('importEmer: give reasons, openset or both');
  const issues: ImportIssue[] = [];
  const reasons = o.reasons !== undefined ? await readEmerReasons(o.reasons, issues) : undefined;
  const openset = o.openset !== undefined ? await readEmerOpenset(o.openset, issues) : undefined;
  const sets = new Map(openset?.map((s) => [s.name, s]));
  const rows: { file: string; line: number; entry: ManifestEntry }[] = [];
  const split = o.split ?? 'test';
  const language = o.language ?? 'english';
  if (reasons) {
    const names = new Set(reasons.map((r) => r.name));
    for (const r of reasons) {
      const text = language === 'english' ? r.english : r.chinese;
      if (text === '') {
        issues.push({ file: o.reasons!, line: r.line, message: `empty ${language} description` });
        continue;
      }
      const set = sets.get(r.name);
      if (openset && !set) {
        issues.push({ file: o.reasons!, line: r.line, message: `${r.name} has no label set in ${o.openset}` });
        continue;
      }
      const video = mediaPath(o, r.name);
      rows.push({
        file: o.reasons!,
        line: r.line,
        entry: { id: r.name, video, conversations: turns(o.prompt ?? EMER_PROMPT, text), ...(set ? { labels: { open_vocab: set.labels } } : {}), split },
      });
    }
    for (const s of openset ?? []) if (!names.has(s.name)) issues.push({ file: o.openset!, line: s.line, message: `${s.name} has no description in ${o.reasons}` });
  } else {
    for (const s of openset!) {
      rows.push({
        file: o.openset!,
        line: s.line,
        entry: { id: s.name, video: mediaPath(o, s.name), conversations: turns(o.prompt ?? EMER_OV_PROMPT, s.labels.join(', ')), labels: { open_vocab: s.labels }, split },
      });
    }
  }
  return finish(o, rows, issues);
}
