/**
 * What every importer shares: options, per-line issues, the error that lists them, media paths,
 * and writing the result as a manifest whose media paths are relative to its folder.
 *
 * Importers read a public benchmark's label files into our manifest entries (data/manifest). The
 * media are the user's (the data sets are licensed per user): an importer only builds paths from
 * `mediaDir`, and with `checkMedia` reports rows whose file is missing. Every bad row is reported
 * with its file and line, all at once; `onBadLine: 'skip'` keeps the good rows and returns the
 * issues instead of throwing.
 */
import { stat, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { UserError } from '../../cli/errors';
import { decodeOrThrow } from '../../dsl/config';
import { ManifestEntry, writeManifest, type Split } from '../manifest/index';

export interface ImportIssue {
  file: string;
  /** 1-based line (0: the file as a whole) */
  line: number;
  message: string;
}

export interface ImportResult {
  entries: ManifestEntry[];
  issues: ImportIssue[];
}

export interface ImportOptions {
  /** folder holding the clips; paths in the entries are absolute (see writeImported) */
  mediaDir: string;
  /** extension added to names that have none (default '.mp4') */
  ext?: string;
  /** the split of every entry (default: from the file name where it says, else 'test' for benchmarks) */
  split?: Split;
  /** the instruction after the placeholders (default: the importer's) */
  prompt?: string;
  /** report rows whose media file does not exist (default false: media may come later) */
  checkMedia?: boolean;
  /** 'throw' (default): a UserError listing every bad row; 'skip': keep the good rows */
  onBadLine?: 'throw' | 'skip';
}

const SHOWN = 10;

export class ImportError extends UserError {
  constructor(readonly issues: ImportIssue[]) {
    const shown = issues.slice(0, SHOWN).map((i) => `${i.file}${i.line > 0 ? ` line ${i.line}` : ''}: ${i.message}`);
    if (issues.length > SHOWN) shown.push(`and ${issues.length - SHOWN} more`);
    super(`${issues.length} bad row${issues.length === 1 ? '' : 's'}: ${shown.join('; ')}`);
  }
}

export async function readText(file: string): Promise<string> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new UserError(`${file}: is not a file`);
    return await readFile(file, 'utf8');
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${file}: no such label file`);
  }
}

/** The media path of a clip name: `mediaDir/name` with `ext` added when the name has none. */
export function mediaPath(o: ImportOptions, name: string): string {
  const ext = o.ext ?? '.mp4';
  const withExt = /\.[A-Za-z0-9]{2,5}$/.test(name) ? name : `${name}${ext}`;
  return resolve(o.mediaDir, withExt);
}

/** Validates entries (the manifest schema), optionally checks media, and applies onBadLine. */
export async function finish(o: ImportOptions, rows: { file: string; line: number; entry: ManifestEntry }[], issues: ImportIssue[]): Promise<ImportResult> {
  const entries: ManifestEntry[] = [];
  for (const r of rows) {
    try {
      decodeOrThrow(ManifestEntry, r.entry, `${r.file} line ${r.line}`);
    } catch (e) {
      issues.push({ file: r.file, line: r.line, message: (e as Error).message.replace(`${r.file} line ${r.line}: `, '') });
      continue;
    }
    if (o.checkMedia && r.entry.video !== undefined) {
      const ok = await stat(r.entry.video).then((s) => s.isFile(), () => false);
      if (!ok) {
        issues.push({ file: r.file, line: r.line, message: `media file not found: ${r.entry.video}` });
        continue;
      }
    }
    entries.push(r.entry);
  }
  issues.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
  if (issues.length > 0 && o.onBadLine !== 'skip') throw new ImportError(issues);
  return { entries, issues };
}

/** Column indices by header name (trimmed, case-insensitive); a UserError naming the file when one is missing. */
export function columns<K extends string>(file: string, header: readonly string[], want: readonly K[], optional: readonly K[] = []): Record<K, number> {
  const norm = header.map((h) => h.trim().toLowerCase());
  const out = {} as Record<K, number>;
  const missing: string[] = [];
  for (const k of want) {
    const i = norm.indexOf(k.toLowerCase());
    if (i < 0 && !optional.includes(k)) missing.push(k);
    out[k] = i;
  }
  if (missing.length > 0) throw new UserError(`${file}: line 1: the header has no ${missing.map((m) => `'${m}'`).join(', ')} column (it has ${header.map((h) => `'${h.trim()}'`).join(', ')})`);
  return out;
}

/** Writes entries as a manifest, media paths made relative to the manifest's folder. */
export async function writeImported(manifestFile: string, entries: readonly ManifestEntry[]): Promise<number> {
  const dir = dirname(resolve(manifestFile));
  const rel = (p: string | undefined) => (p === undefined ? undefined : isAbsolute(p) ? relative(dir, p) : p);
  return writeManifest(
    manifestFile,
    entries.map((e) => {
      const out: ManifestEntry = { ...e };
      if (e.video !== undefined) out.video = rel(e.video);
      if (e.audio !== undefined) out.audio = rel(e.audio);
      return out;
    }),
  );
}

/** LLaVA-style turns: the placeholders, the instruction, the answer. */
export const turns = (prompt: string, answer: string): ManifestEntry['conversations'] => [
  { from: 'human', value: `<video>\n<audio>\n${prompt}` },
  { from: 'gpt', value: answer },
];
